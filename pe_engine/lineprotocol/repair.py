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
from array import array
from collections.abc import Iterator, Mapping

from .parse import parse_lp
from .types import MAX_ERROR_LINE, FieldType, LineError, ParsedTable, ParseResult, SchemaLimits, iox_type_name

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


def parse_auto(
    body: bytes | str, prec: str, now: int, *, max_errors: int | None = None, limits: SchemaLimits | None = None
) -> ParseResult:
    """Parse as nanoseconds, then scale each timestamp by its guessed unit. Lines without a
    timestamp carry `now` in ns, which is always judged to be nanoseconds."""
    parsed = parse_lp(body, "ns", now, max_errors=max_errors, limits=limits)
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
            for col, ftype in typed_columns(pt):
                want = cols.get(col)
                if want is None or want == ftype:
                    continue
                got = iox_type_name(*ftype)
                msg = f"invalid column type for column '{col}', expected {iox_type_name(*want)}, got {got}"
                for i in pt.value_rows(col):
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
    not_kept = parsed.rejected - len(parsed.errors)  # rejected lines a capped parse only counted
    return ParseResult(
        tables={k: v for k, v in tables.items() if v.rows}, errors=errors, error_count=len(errors) + not_kept
    )


def typed_columns(pt: ParsedTable) -> Iterator[tuple[str, ColumnType]]:
    for col in pt.tags:
        yield col, ("tag", None)
    for col, (ftype, _) in pt.fields.items():
        yield col, ("field", FieldType(ftype))


def _set_column(out: ParsedTable, col: str, ftype: FieldType | None, values: list, rows: array | None) -> None:
    """Store a column in `out`: dense when `rows` is None, else sparse at those rows."""
    if ftype is None:
        out.tags[col] = values
    else:
        out.fields[col] = (ftype, values)
    if rows is not None:
        out.index[col] = rows


def take_rows(pt: ParsedTable, keep: list[int]) -> ParsedTable:
    """The rows `keep` (ascending) of a table; columns left with no value are dropped."""
    out = ParsedTable(pt.name, len(keep), [pt.line_numbers[i] for i in keep], [pt.time[i] for i in keep])
    where = {r: j for j, r in enumerate(keep)}
    for col, (kind, ftype) in typed_columns(pt):
        values = pt.values(col)
        rows = pt.index.get(col)
        if rows is None:  # dense
            vals = [values[i] for i in keep]
            if any(v is not None for v in vals):
                _set_column(out, col, ftype, vals, None)
            continue
        picked = [(where[r], v) for r, v in zip(rows, values) if r in where]
        if not picked:
            continue
        new_rows = array("q", (j for j, _ in picked))
        _set_column(out, col, ftype, [v for _, v in picked], None if len(picked) == len(keep) else new_rows)
    return out


def merge_line(
    known: KnownColumns, tables: dict[str, ParsedTable], single: ParseResult, line_number: int
) -> dict[str, ParsedTable] | None:
    """Add one re-parsed line when its types agree with the catalog and the body; else None."""
    out = dict(tables)
    for name, one in single.tables.items():
        base = out.get(name)
        cols = known.get(name)
        for col, kind in typed_columns(one):
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
        row = base.rows
        merged = ParsedTable(name, row + 1, base.line_numbers + [line_number], base.time + one.time)
        for col, (kind, ftype) in [*typed_columns(base), *((c, t) for c, t in typed_columns(one) if c not in base.tags and c not in base.fields)]:
            mine = col in one.tags or col in one.fields
            value = one.values(col)[0] if mine else None
            if col not in base.tags and col not in base.fields:  # new with this line
                _set_column(merged, col, ftype, [value], None if row == 0 else array("q", [row]))
                continue
            values = list(base.values(col))
            rows = base.index.get(col)
            if rows is None:  # dense: stays dense, None where the line lacks it
                values.append(value)
                _set_column(merged, col, ftype, values, None)
                continue
            rows = array("q", rows)
            if mine:
                values.append(value)
                rows.append(row)
            _set_column(merged, col, ftype, values, rows)
        out[name] = merged
    return out


def fill_lines(errors: list[LineError], body: bytes | str) -> None:
    """Give errors that know only their line number the line's text (catalog-level errors).

    Finds just those lines, counting newlines a chunk at a time, so a big body is never
    split into one object per line."""
    wanted = sorted({e.line_number for e in errors if not e.original_line and e.line_number > 0})
    if not wanted:
        return
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    found = _lines_by_number(data, wanted)
    for e in errors:
        raw = found.get(e.line_number) if not e.original_line else None
        if raw is not None:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            e.original_line = raw[: 4 * MAX_ERROR_LINE + 4].decode("utf-8", "replace")[:MAX_ERROR_LINE]


_CHUNK = 64 * 1024


def _lines_by_number(data: bytes, wanted: list[int]) -> dict[int, bytes]:
    """The lines numbered `wanted` (ascending, 1-based) of data."""
    out: dict[int, bytes] = {}
    n = len(data)
    line, pos = 1, 0  # data[pos] starts line number `line`
    for w in wanted:
        while line < w and pos < n:
            end = min(pos + _CHUNK, n)
            count = data.count(b"\n", pos, end)
            if line + count < w:  # not in this chunk
                line += count
                pos = end
                continue
            starts = data[pos:end].split(b"\n", w - line)
            pos += sum(len(x) + 1 for x in starts[:-1])
            line = w
        if line != w or pos > n:
            break
        nl = data.find(b"\n", pos)
        out[w] = data[pos : n if nl < 0 else nl]
    return out
