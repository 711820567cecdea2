"""Parse repairs that need more than one body: `precision=auto`, and type conflicts with the
catalog that the parser alone cannot judge fairly.

The parser fixes a column's type at its first use in a body. When that first use conflicts
with the catalog, the later lines that agree with the catalog were rejected only for
disagreeing with a line the catalog rejects anyway. `reparse_against_known` rejects the
conflicting lines and parses the others again, each on its own, so a conflict rejects the
line and never its neighbours.

The catalog is handed in as plain data (`KnownColumns`), so this package stays below storage.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from .parse import parse_lp
from .types import MAX_ERROR_LINE, FieldType, LineError, ParsedTable, ParseResult, iox_type_name

ColumnType = tuple[str, "FieldType | None"]  # ("tag", None) | ("field", FieldType) | ("time", None)
KnownColumns = Mapping[str, Mapping[str, ColumnType]]  # table -> column -> its type in the catalog

_CONFLICT_PREFIX = "invalid column type for column "
_NS_PER_S = 1_000_000_000


# --------------------------------------------------------------------- precision=auto
def guess_scale(ts: int) -> int:
    """InfluxDB 3's `precision=auto`: judge each timestamp by its magnitude
    (a 2020s date in seconds is ~1.7e9, in ms ~1.7e12, in us ~1.7e15)."""
    v = abs(ts) // _NS_PER_S
    if v < 5:
        return _NS_PER_S
    if v < 5_000:
        return 1_000_000
    if v < 5_000_000:
        return 1_000
    return 1


def parse_auto(body: bytes | str, prec: str, now: int) -> ParseResult:
    """Parse as nanoseconds, then scale each timestamp by its guessed unit. Lines without a
    timestamp carry `now` in ns, which is always judged to be nanoseconds."""
    parsed = parse_lp(body, "ns", now)
    for pt in parsed.tables.values():
        pt.time = [t * guess_scale(t) for t in pt.time]
    return parsed


# --------------------------------------------------------------------- catalog conflicts
def has_known_conflict(known: KnownColumns, parsed: ParseResult) -> bool:
    """Did a body's first-seen type for some column disagree with the catalog?"""
    for name, pt in parsed.tables.items():
        cols = known.get(name)
        if cols is None:
            continue
        for col, (ftype, _) in pt.fields.items():
            c = cols.get(col)
            if c is not None and (c[0] != "field" or c[1] != ftype):
                return True
        for col in pt.tags:
            c = cols.get(col)
            if c is not None and c[0] != "tag":
                return True
    return False


def reparse_against_known(known: KnownColumns, body: bytes | str, parsed: ParseResult, prec: str) -> ParseResult:
    """Reject the lines whose types conflict with the catalog, re-parse the lines rejected
    only for disagreeing with them (see the module doc)."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    lines = text.split("\n")
    errors: list[LineError] = []
    tables: dict[str, ParsedTable] = {}
    for name, pt in parsed.tables.items():
        cols = known.get(name)
        bad: dict[int, str] = {}
        if cols is not None:
            for col, ftype, values in typed_columns(pt):
                want = cols.get(col)
                if want is None or want == ftype:
                    continue
                got = iox_type_name(*ftype)
                msg = f"invalid column type for column '{col}', expected {iox_type_name(*want)}, got {got}"
                for i, v in enumerate(values):
                    if v is not None:
                        bad.setdefault(i, msg)
        for i, msg in sorted(bad.items()):
            errors.append(LineError(pt.line_numbers[i], "", msg))
        tables[name] = take_rows(pt, [i for i in range(pt.rows) if i not in bad]) if bad else pt
    now = time.time_ns()
    for e in parsed.errors:
        if not e.message.startswith(_CONFLICT_PREFIX) or not 0 < e.line_number <= len(lines):
            errors.append(e)
            continue
        single = parse_lp(lines[e.line_number - 1], prec, now)
        merged = None if single.errors else merge_line(known, tables, single, e.line_number)
        if merged is None:
            errors.append(e)
        else:
            tables = merged
    errors.sort(key=lambda x: x.line_number)
    return ParseResult(tables={k: v for k, v in tables.items() if v.rows}, errors=errors)


def typed_columns(pt: ParsedTable) -> Iterator[tuple[str, ColumnType, list]]:
    for col, values in pt.tags.items():
        yield col, ("tag", None), values
    for col, (ftype, values) in pt.fields.items():
        yield col, ("field", FieldType(ftype)), values


def take_rows(pt: ParsedTable, keep: list[int]) -> ParsedTable:
    """The rows `keep` of a table; columns left with no value are dropped."""

    def pick(values: list) -> list:
        return [values[i] for i in keep]

    out = ParsedTable(pt.name, len(keep), pick(pt.line_numbers), pick(pt.time))
    for col, values in pt.tags.items():
        vals = pick(values)
        if any(v is not None for v in vals):
            out.tags[col] = vals
    for col, (ftype, values) in pt.fields.items():
        vals = pick(values)
        if any(v is not None for v in vals):
            out.fields[col] = (ftype, vals)
    return out


def merge_line(
    known: KnownColumns, tables: dict[str, ParsedTable], single: ParseResult, line_number: int
) -> dict[str, ParsedTable] | None:
    """Add one re-parsed line when its types agree with the catalog and the body; else None."""
    out = dict(tables)
    for name, one in single.tables.items():
        base = out.get(name)
        cols = known.get(name)
        for col, kind, values in typed_columns(one):
            want = cols.get(col) if cols is not None else None
            if want is not None and want != kind:
                return None
            if base is not None:
                have: ColumnType | None = ("tag", None) if col in base.tags else (
                    ("field", FieldType(base.fields[col][0])) if col in base.fields else None
                )
                if have is not None and have != kind:
                    return None
        one.line_numbers = [line_number]
        if base is None:
            out[name] = one
            continue
        merged = ParsedTable(name, base.rows + 1, base.line_numbers + [line_number], base.time + one.time)
        for col in {**base.tags, **one.tags}:
            merged.tags[col] = base.tags.get(col, [None] * base.rows) + one.tags.get(col, [None])
        for col in {**base.fields, **one.fields}:
            ftype = (base.fields.get(col) or one.fields[col])[0]
            merged.fields[col] = (
                ftype,
                (base.fields[col][1] if col in base.fields else [None] * base.rows)
                + (one.fields[col][1] if col in one.fields else [None]),
            )
        out[name] = merged
    return out


def fill_lines(errors: list[LineError], body: bytes | str) -> None:
    """Give errors that know only their line number the line's text (catalog-level errors)."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    lines = text.split("\n")
    for e in errors:
        if not e.original_line and 0 < e.line_number <= len(lines):
            e.original_line = lines[e.line_number - 1].rstrip("\r")[:MAX_ERROR_LINE]
