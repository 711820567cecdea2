"""InfluxDB line-protocol parser: public entry points and the pure-Python reference.

`parse_lp` is what callers use. It runs the C accelerator (`_lpparse`) when it
is built and falls back to `parse_lp_python` otherwise. Both produce identical
`ParseResult`s; the C code even asks this module for the wording of syntax
errors, so the messages cannot drift apart.

Grammar decisions (one place to look them up):

* Lines are split on ``\\n``; one trailing ``\\r`` is dropped. Leading spaces and
  tabs are ignored; empty lines and lines starting with ``#`` are skipped but
  still counted for line numbers (1-based).
* ``measurement[,tag=value...] field=value[,field=value...] [timestamp]``, with
  one or more spaces between the sections and optional trailing spaces.
* Escapes: measurement ``\\,`` ``\\ `` ``\\\\``; tag keys, tag values and field
  keys also ``\\=``. A backslash before anything else is a literal backslash.
  Tag values may contain an unescaped ``=``.
* Field values: float (``-?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?``, finite),
  ``-?\\d+i`` (int64), ``\\d+u`` (uint64), ``"string"`` (``\\"`` and ``\\\\``
  unescape, other backslashes stay), booleans ``t T true True TRUE f F false
  False FALSE``. Strings never span lines.
* The timestamp is ``-?\\d+``, scaled by the precision; the result must fit int64.
"""
from __future__ import annotations

import importlib
import math
import os
import re
import struct
import time
from collections.abc import Collection

from array import array

from .types import MAX_ERROR_LINE, FieldType, LineError, ParsedTable, ParseResult, SchemaLimits

__all__ = [
    "PRECISION_FACTORS",
    "normalize_precision",
    "parse_lp",
    "parse_lp_python",
    "c_extension_available",
]

try:  # the accelerator is optional (setup.py builds it when a compiler exists)
    # By its full name: `from . import _lpparse` reads as an import of the package itself.
    _c_ext = importlib.import_module("pe_engine.lineprotocol._lpparse")
except ImportError:  # pragma: no cover - depends on the build
    _c_ext = None
if _c_ext is not None and not hasattr(_c_ext, "set_pow10_table"):  # pragma: no cover
    _c_ext = None  # a stale build from an older _lpparse.c: ignore it rather than misparse


def _pow10_table(qmin: int = -342, qmax: int = 308) -> bytes:
    """128-bit truncated mantissas and floor(log2) of 10**q, for the C fast float path.

    Computed here with exact integers so the C source needs no generated table.
    Entry: <hi:u64><lo:u64><e2:i32> little-endian, T = hi:lo in [2**127, 2**128)
    with 10**q ~= T * 2**(e2 - 127), T rounded down.
    """
    out = bytearray()
    for q in range(qmin, qmax + 1):
        if q >= 0:
            v = 10**q
            e2 = v.bit_length() - 1
            t = v << (127 - e2) if e2 <= 127 else v >> (e2 - 127)
        else:
            v = 10**-q
            e2 = -v.bit_length()  # 10**-q is never a power of two
            t = (1 << (127 + v.bit_length())) // v
        out += struct.pack("<QQi", t >> 64, t & 0xFFFF_FFFF_FFFF_FFFF, e2)
    return bytes(out)


if _c_ext is not None:
    _c_ext.set_pow10_table(_pow10_table())


INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

# Nanoseconds per unit of each canonical precision.
PRECISION_FACTORS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}

# Every spelling accepted by InfluxDB v1 (n,u,ms,s,m,h), v2 (ns,us,ms,s) and v3
# (auto, nanosecond, ...). Single letters are case-sensitive ("m" is minutes);
# multi-letter spellings are also accepted in any case.
_PRECISION_ALIASES: dict[str, str] = {
    "": "ns",
    "auto": "ns",
    "ns": "ns",
    "n": "ns",
    "nanosecond": "ns",
    "nanoseconds": "ns",
    "us": "us",
    "u": "us",
    "\u00b5s": "us",  # micro sign
    "\u03bcs": "us",  # greek small mu
    "microsecond": "us",
    "microseconds": "us",
    "ms": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "s": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hour": "h",
    "hours": "h",
}


def normalize_precision(p: str | None) -> str:
    """Map any v1/v2/v3 precision spelling to one of ns, us, ms, s, m, h.

    Why: the HTTP layers of the three API versions spell precisions differently
    but the parser only needs a scale factor (see PRECISION_FACTORS).
    """
    if p is None:
        return "ns"
    if isinstance(p, str):
        key = p.strip()
        canon = _PRECISION_ALIASES.get(key)
        if canon is None and len(key) > 1:
            canon = _PRECISION_ALIASES.get(key.lower())
        if canon is not None:
            return canon
    valid = ", ".join(k for k in _PRECISION_ALIASES if k)
    raise ValueError(f"invalid precision {p!r}; valid values are: {valid} (None or '' mean ns)")


def c_extension_available() -> bool:
    """True when the C accelerator is importable (it may still be disabled by env)."""
    return _c_ext is not None


# --------------------------------------------------------------------------- #
# Single-line parsing (stateless). Shared by the Python parser and, for error
# messages, by the C accelerator.
# --------------------------------------------------------------------------- #


class _LineSyntaxError(Exception):
    """A line cannot be parsed; the message is shown to the user verbatim."""


# Characters that end a token, plus the backslash which needs a closer look.
_MEASUREMENT_STOP = re.compile(r"[, \\]")
_KEY_STOP = re.compile(r"[,= \\]")
_TAG_VALUE_STOP = re.compile(r"[, \\]")
_MEASUREMENT_ESCAPES = frozenset(", \\")
_KEY_ESCAPES = frozenset(",= \\")

_FLOAT_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_INT_RE = re.compile(r"-?[0-9]+\Z")
_UINT_RE = re.compile(r"[0-9]+\Z")
_BOOLS = {
    "t": True, "T": True, "true": True, "True": True, "TRUE": True,
    "f": False, "F": False, "false": False, "False": False, "FALSE": False,
}


def _quote(text: str, limit: int = 64) -> str:
    """Quote a piece of a line for an error message, shortened if very long."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return "'" + text + "'"


def _scan_name(line: str, pos: int, stop: re.Pattern[str], escapes: frozenset[str]) -> tuple[str, int]:
    """Read an escaped name starting at pos; return (unescaped, position of the stop char or end)."""
    parts: list[str] = []
    n = len(line)
    while True:
        m = stop.search(line, pos)
        if m is None:
            parts.append(line[pos:])
            return "".join(parts), n
        i = m.start()
        parts.append(line[pos:i])
        if line[i] != "\\":
            return "".join(parts), i
        if i + 1 < n and line[i + 1] in escapes:
            parts.append(line[i + 1])
            pos = i + 2
        else:  # a backslash before anything else is just a backslash
            parts.append("\\")
            pos = i + 1


def _parse_string_value(line: str, pos: int, key: str) -> tuple[str, int]:
    """Parse a double-quoted string starting at line[pos] == '"'; return (value, pos after quote)."""
    parts: list[str] = []
    n = len(line)
    i = pos + 1
    start = i
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n and line[i + 1] in '"\\':
            parts.append(line[start:i])
            parts.append(line[i + 1])
            i += 2
            start = i
        elif c == '"':
            parts.append(line[start:i])
            return "".join(parts), i + 1
        else:
            i += 1
    raise _LineSyntaxError(f"invalid field value for field '{key}': unterminated string {_quote(line[pos:])}")


def _to_int(digits: str) -> int:
    """int() for an already validated -?[0-9]+ string, without the int_max_str_digits limit.

    Why: a line may carry thousands of leading zeros; anything longer than 20
    significant digits is out of every 64-bit range anyway.
    """
    negative = digits.startswith("-")
    body = (digits[1:] if negative else digits).lstrip("0") or "0"
    if len(body) > 20:
        body = "9" * 21  # out of range, and cheap to convert
    value = int(body)
    return -value if negative else value


def _parse_scalar_value(token: str, key: str) -> tuple[FieldType, object]:
    """Classify and convert a non-string field value token."""
    bad = f"invalid field value {_quote(token)} for field '{key}'"
    last = token[-1]
    if last == "i" and _INT_RE.match(token, 0, len(token) - 1):
        v = _to_int(token[:-1])
        if not INT64_MIN <= v <= INT64_MAX:
            raise _LineSyntaxError(f"{bad}: integer out of range for int64")
        return FieldType.INT, v
    if last == "u" and _UINT_RE.match(token, 0, len(token) - 1):
        v = _to_int(token[:-1])
        if v > UINT64_MAX:
            raise _LineSyntaxError(f"{bad}: unsigned integer out of range for uint64")
        return FieldType.UINT, v
    b = _BOOLS.get(token)
    if b is not None:
        return FieldType.BOOL, b
    if _FLOAT_RE.match(token):
        f = float(token)
        if math.isinf(f):
            raise _LineSyntaxError(f"{bad}: float out of range")
        return FieldType.FLOAT, f
    if last == "u" and token.startswith("-") and _UINT_RE.match(token, 1, len(token) - 1):
        raise _LineSyntaxError(f"{bad}: unsigned integer cannot be negative")
    raise _LineSyntaxError(
        f"{bad}: expected a float, integer (i), unsigned (u), quoted string or boolean"
    )


ParsedLine = tuple[str, list[tuple[str, str]], list[tuple[str, FieldType, object]], int | None]


def _skip_spaces(line: str, pos: int) -> int:
    n = len(line)
    while pos < n and line[pos] == " ":
        pos += 1
    return pos


def parse_line(line: str, factor: int = 1) -> ParsedLine:
    """Parse one line (leading whitespace already removed, not a comment).

    Returns (measurement, tags, fields, timestamp_ns or None); raises
    _LineSyntaxError with a readable message. Stateless: type conflicts with
    other lines are checked by the caller.
    """
    n = len(line)
    measurement, pos = _scan_name(line, 0, _MEASUREMENT_STOP, _MEASUREMENT_ESCAPES)
    if not measurement:
        raise _LineSyntaxError(f"Invalid measurement name: measurement is empty in {_quote(line)}")

    tags: list[tuple[str, str]] = []
    while pos < n and line[pos] == ",":
        key_start = pos + 1
        key, pos = _scan_name(line, key_start, _KEY_STOP, _KEY_ESCAPES)
        if pos == key_start:
            raise _LineSyntaxError(f"Tag set malformed: expected a tag key, got {_quote(line[key_start:])}")
        if pos >= n or line[pos] != "=":
            raise _LineSyntaxError(
                f"Tag set malformed: could not find equals sign in {_quote(line[key_start:pos])}"
            )
        value_start = pos + 1
        value, pos = _scan_name(line, value_start, _TAG_VALUE_STOP, _KEY_ESCAPES)
        if pos == value_start:
            raise _LineSyntaxError(f"Expected tag value for tag '{key}', got {_quote(line[value_start:])}")
        tags.append((key, value))

    pos = _skip_spaces(line, pos)
    if pos >= n:
        raise _LineSyntaxError("No fields were provided")

    fields: list[tuple[str, FieldType, object]] = []
    while True:
        key_start = pos
        key, pos = _scan_name(line, key_start, _KEY_STOP, _KEY_ESCAPES)
        if pos == key_start:
            raise _LineSyntaxError(f"Field set malformed: expected a field key, got {_quote(line[key_start:])}")
        if pos >= n or line[pos] != "=":
            raise _LineSyntaxError(
                f"Field set malformed: could not find equals sign in {_quote(line[key_start:pos])}"
            )
        pos += 1
        if pos < n and line[pos] == '"':
            value, pos = _parse_string_value(line, pos, key)
            if pos < n and line[pos] not in ", ":
                raise _LineSyntaxError(
                    f"invalid field value for field '{key}': unexpected {_quote(line[pos:])} after closing quote"
                )
            fields.append((key, FieldType.STRING, value))
        else:
            end = pos
            while end < n and line[end] not in ", ":
                end += 1
            if end == pos:
                raise _LineSyntaxError(f"invalid field value for field '{key}': missing value")
            ftype, fvalue = _parse_scalar_value(line[pos:end], key)
            fields.append((key, ftype, fvalue))
            pos = end
        if pos < n and line[pos] == ",":
            pos += 1
            continue
        break

    timestamp: int | None = None
    pos = _skip_spaces(line, pos)
    if pos < n:
        end = line.find(" ", pos)
        if end < 0:
            end = n
        token = line[pos:end]
        if not _INT_RE.match(token):
            raise _LineSyntaxError(f"Unable to parse timestamp value {_quote(token)}")
        raw = _to_int(token)
        timestamp = raw * factor
        if not INT64_MIN <= timestamp <= INT64_MAX:
            raise _LineSyntaxError(
                f"timestamp value {_quote(token)} is out of range (nanoseconds must fit in a signed 64-bit integer)"
            )
        pos = _skip_spaces(line, end)
        if pos < n:
            raise _LineSyntaxError(
                f"Could not parse entire line. Found trailing content: {_quote(line[pos:])}"
            )

    _check_keys(tags, fields)
    return measurement, tags, fields, timestamp


def _check_keys(tags: list[tuple[str, str]], fields: list[tuple[str, FieldType, object]]) -> None:
    """Reject duplicate keys, tag/field clashes and the reserved 'time' column."""
    tag_keys: set[str] = set()
    for key, _ in tags:
        if key in tag_keys:
            raise _LineSyntaxError(f"invalid line protocol - multiple instances of tag '{key}' found")
        tag_keys.add(key)
    field_keys: set[str] = set()
    for key, _, _ in fields:
        if key in field_keys:
            raise _LineSyntaxError(f"invalid line protocol - multiple instances of '{key}' field found")
        field_keys.add(key)
    if "time" in tag_keys or "time" in field_keys:
        raise _LineSyntaxError("invalid column name 'time': it is reserved for the timestamp")
    both = tag_keys & field_keys
    if both:
        key = next(k for k, _ in tags if k in both)
        raise _LineSyntaxError(f"invalid line protocol - '{key}' is used as both a tag and a field")


def _line_error_message(stripped: bytes, factor: int) -> str | None:
    """Why this (already stripped, non-comment) line is rejected, or None if it is fine.

    The C accelerator calls this for every line it rejects so both
    implementations word errors identically.
    """
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"line is not valid UTF-8: {e.reason} at byte {e.start}"
    try:
        parse_line(text, factor)
    except _LineSyntaxError as e:
        return str(e)
    return None


# --------------------------------------------------------------------------- #
# Whole-body parsing
# --------------------------------------------------------------------------- #

_TAG_KIND = -1  # column kind marker; field kinds are FieldType values
_TIME_KIND = -2
_KIND_NAMES = {_TAG_KIND: "iox::column_type::tag", _TIME_KIND: "iox::column_type::timestamp"}
_KIND_NAMES.update({ft: f"iox::column_type::field::{ft.iox_name}" for ft in FieldType})


def _conflict_message(key: str, have: int, got: int) -> str:
    return (
        f"invalid column type for column '{key}', expected {_KIND_NAMES[have]}, got {_KIND_NAMES[got]}"
    )


class _TableState:
    """A ParsedTable being filled, plus the kind of each of its columns and, under limits,
    what the catalog already has (`known`: its column names; `nknown`: their count with
    time, 1 for a table the catalog lacks; `nfresh`: columns of this body it lacks)."""

    __slots__ = ("table", "kinds", "known", "nknown", "nfresh")

    def __init__(self, name: str, known: Collection[str] | None = None) -> None:
        self.table = ParsedTable(name=name)
        self.kinds: dict[str, int] = {}
        self.known = known
        self.nknown = 1 if known is None else len(known)
        self.nfresh = 0

    def fresh_columns(self, tags: list, fields: list) -> int:
        """How many columns this line adds to what the catalog and the body have."""
        known = self.known
        n = 0
        for key, *_ in tags + fields:
            if key not in self.kinds and (known is None or key not in known):
                n += 1
        return n

    def conflict(self, tags: list[tuple[str, str]], fields: list[tuple[str, FieldType, object]]) -> str | None:
        """A column's type is its first use in the body, or the catalog's when `known` maps
        columns to kinds."""
        kinds = self.kinds
        for key, _ in tags:
            have = kinds.get(key)
            if have is not None and have != _TAG_KIND:
                return _conflict_message(key, have, _TAG_KIND)
        for key, ftype, _ in fields:
            have = kinds.get(key)
            if have is not None and have != ftype:
                return _conflict_message(key, have, ftype)
        seed = self.known if isinstance(self.known, dict) else None
        if seed is not None:  # then the columns new to the body, against the catalog
            for key, got in [*((k, _TAG_KIND) for k, _ in tags), *((k, ft) for k, ft, _ in fields)]:
                if key not in kinds:
                    have = seed.get(key)
                    if have is not None and have != got:
                        return _conflict_message(key, have, got)
        return None

    def append(self, line_number: int, ts: int, tags: list, fields: list) -> None:
        t = self.table
        row = t.rows
        index = t.index
        for key, value in tags:
            col = t.tags.get(key)
            if col is None:
                col = t.tags[key] = []
                self.kinds[key] = _TAG_KIND
            _push(index, key, col, row, value)
        for key, ftype, value in fields:
            entry = t.fields.get(key)
            if entry is None:
                entry = t.fields[key] = (ftype, [])
                self.kinds[key] = ftype
            _push(index, key, entry[1], row, value)
        t.rows = row + 1
        t.line_numbers.append(line_number)
        t.time.append(ts)

    def finish(self) -> None:
        """Columns some row lacks get their row numbers (the rest stay dense)."""
        t = self.table
        if not t.index and all(len(v) == t.rows for v in t.tags.values()) and all(
            len(v) == t.rows for _, v in t.fields.values()
        ):
            return
        index = {}
        for key, kind in self.kinds.items():  # columns in the order the body created them
            col = t.tags[key] if kind == _TAG_KIND else t.fields[key][1]
            rows = t.index.get(key)
            if rows is None and len(col) < t.rows:
                rows = array("q", range(len(col)))
            if rows is not None:
                index[key] = rows
        t.index = index  # in column order, as the C parser gives it


def _push(index: dict[str, array], key: str, col: list, row: int, value: object) -> None:
    """Append a column's value of `row`; the column turns sparse at its first gap."""
    rows = index.get(key)
    if rows is None and len(col) != row:
        rows = index[key] = array("q", range(len(col)))
    if rows is not None:
        rows.append(row)
    col.append(value)


def _table_limit_message(name: str, limits: SchemaLimits) -> str:
    return (
        f"table '{name}' cannot be created: database '{limits.database}' has reached "
        f"the limit of {limits.max_tables} tables"
    )


def _column_limit_message(name: str, total: int, limits: SchemaLimits) -> str:
    return f"table '{name}' would have {total} columns, over the limit of {limits.max_columns}"


def _as_bytes(body: bytes | str | bytearray | memoryview) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        # surrogatepass keeps lone surrogates as bytes; the per-line UTF-8 check then rejects them
        return body.encode("utf-8", "surrogatepass")
    return bytes(body)


# Bytes of a rejected line kept for its report: enough for MAX_ERROR_LINE characters (the C
# parser cuts at the same length, so both report the same text).
ERROR_RAW_MAX = 4 * MAX_ERROR_LINE + 4


def _error(line_number: int, raw: bytes, message: str) -> LineError:
    return LineError(line_number, raw[:ERROR_RAW_MAX].decode("utf-8", "replace")[:MAX_ERROR_LINE], message)


def _default_time(default_time_ns: int | None) -> int:
    now = time.time_ns() if default_time_ns is None else int(default_time_ns)
    if not INT64_MIN <= now <= INT64_MAX:
        raise ValueError(f"default_time_ns {now} does not fit in a signed 64-bit integer")
    return now


def _parse_python(
    data: bytes, factor: int, now: int, max_errors: int | None = None, limits: SchemaLimits | None = None
) -> ParseResult:
    result = ParseResult()
    errors = result.errors
    rejected = 0
    states: dict[str, _TableState] = {}
    new_tables = 0
    max_columns = limits.max_columns if limits is not None else 0

    def reject(line_number: int, raw: bytes, message: str) -> None:
        nonlocal rejected
        rejected += 1
        if max_errors is None or len(errors) < max_errors:
            errors.append(_error(line_number, raw, message))

    for line_number, raw in enumerate(data.split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        stripped = raw.lstrip(b" \t")
        if not stripped or stripped[0] == 0x23:  # '#'
            continue
        try:
            text = stripped.decode("utf-8")
        except UnicodeDecodeError as e:
            reject(line_number, raw, f"line is not valid UTF-8: {e.reason} at byte {e.start}")
            continue
        try:
            measurement, tags, fields, ts = parse_line(text, factor)
        except _LineSyntaxError as e:
            reject(line_number, raw, str(e))
            continue
        state = states.get(measurement)
        if state is None:
            known = None
            if limits is not None and limits.columns_of is not None:
                known = limits.columns_of(measurement)
                if known is None and 0 < limits.max_tables <= limits.known_tables + new_tables:
                    reject(line_number, raw, _table_limit_message(measurement, limits))
                    continue
            state = _TableState(measurement, known)
        message = state.conflict(tags, fields)
        if message is not None:
            reject(line_number, raw, message)
            continue
        if max_columns > 0:
            fresh = state.fresh_columns(tags, fields)
            total = state.nknown + state.nfresh + fresh
            if fresh and total > max_columns:
                assert limits is not None
                reject(line_number, raw, _column_limit_message(measurement, total, limits))
                continue
            state.nfresh += fresh
        if measurement not in states:
            states[measurement] = state
            result.tables[measurement] = state.table
            if limits is not None and limits.columns_of is not None and state.known is None:
                new_tables += 1
        state.append(line_number, now if ts is None else ts, tags, fields)
    for state in states.values():
        state.finish()
    result.error_count = rejected
    return result


def parse_lp_python(
    body: bytes | str,
    precision: str = "ns",
    default_time_ns: int | None = None,
    *,
    max_errors: int | None = None,
    limits: SchemaLimits | None = None,
) -> ParseResult:
    """Pure-Python reference parser (readable, slow). Same contract as parse_lp."""
    factor = PRECISION_FACTORS[normalize_precision(precision)]
    return _parse_python(_as_bytes(body), factor, _default_time(default_time_ns), max_errors, limits)


_FIELD_TYPES = tuple(FieldType)


def _rows_array(raw: bytes) -> array:
    rows = array("q")
    rows.frombytes(raw)
    return rows


def _parse_c(
    data: bytes, factor: int, now: int, max_errors: int | None = None, limits: SchemaLimits | None = None
) -> ParseResult:
    c_limits = None
    if limits is not None:
        c_limits = (limits.database, limits.max_tables, limits.max_columns, limits.known_tables, limits.columns_of)
    tables_raw, errors_raw, rejected = _c_ext.parse(
        data, factor, now, _line_error_message, -1 if max_errors is None else max_errors, c_limits
    )
    tables: dict[str, ParsedTable] = {}
    for name, rows, lines, times, tags, fields, index in tables_raw:
        typed = {key: (_FIELD_TYPES[kind], values) for key, (kind, values) in fields.items()}
        sparse = {key: _rows_array(raw) for key, raw in index.items()}
        tables[name] = ParsedTable(name, rows, lines, times, tags, typed, sparse)
    errors = [_error(n, raw, msg) for n, raw, msg in errors_raw]
    return ParseResult(tables, errors, rejected)


def _use_c() -> bool:
    return _c_ext is not None and os.environ.get("PE_PURE_PYTHON_LP", "") not in ("1", "true", "yes")


def parse_lp(
    body: bytes | str,
    precision: str = "ns",
    default_time_ns: int | None = None,
    *,
    max_errors: int | None = None,
    limits: SchemaLimits | None = None,
) -> ParseResult:
    """Parse a line-protocol body into column-oriented (sparse) tables plus per-line errors.

    Never raises for bad data (bad lines become LineErrors); raises ValueError
    only for an invalid precision or an out-of-range default_time_ns.
    Lines without a timestamp get default_time_ns (time.time_ns() if None),
    which is not scaled by the precision.

    `max_errors` keeps only the first that many errors in full (`error_count` counts
    all); `limits` rejects, line by line, what would take a table past the catalog's
    column limit or the database past its table limit, so a body that adds a column
    per line stops at the limit instead of growing without bound.
    """
    factor = PRECISION_FACTORS[normalize_precision(precision)]
    data = _as_bytes(body)
    now = _default_time(default_time_ns)
    if _use_c():
        return _parse_c(data, factor, now, max_errors, limits)
    return _parse_python(data, factor, now, max_errors, limits)


