"""What an InfluxQL statement answers: series of rows, as InfluxDB 1.x's `/query` shapes them.

A series keeps its rows as Arrow columns until the response is encoded, so times can be
formatted (RFC3339 or an epoch precision) a column at a time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

TIME = "time"

EPOCH_DIVISORS = {"ns": 1, "n": 1, "u": 1_000, "µ": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                  "m": 60_000_000_000, "h": 3_600_000_000_000}


@dataclass
class Series:
    """One `results[].series[]` entry. `table` columns are the answer's columns in order; a
    `time` column holds int64 nanoseconds since the epoch."""
    name: str
    table: pa.Table
    tags: dict[str, str] | None = None
    tz: str | None = None  # tz('...'): RFC3339 times in this zone's offset

    @property
    def columns(self) -> list[str]:
        return self.table.column_names


@dataclass
class StatementResult:
    statement_id: int
    series: list[Series] = field(default_factory=list)
    error: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)


def format_times(times: pa.Array | pa.ChunkedArray, epoch: str | None, tz: str | None = None) -> list[object]:
    """int64 ns -> what 1.x writes: RFC3339 with trailing fraction zeros trimmed, or an epoch
    integer in the asked precision (truncated toward minus infinity, as Go's integer division
    of non-negative times does)."""
    ints = pc.cast(times, pa.int64())
    if epoch:
        div = EPOCH_DIVISORS[epoch]
        return (ints if div == 1 else pc.divide(ints, div)).to_pylist()
    whole = pc.divide(ints, 1_000_000_000)  # truncates toward zero: one second less below 0
    whole = pc.if_else(pc.greater(pc.multiply(whole, 1_000_000_000), ints), pc.subtract(whole, 1), whole)
    nanos = pc.subtract(ints, pc.multiply(whole, 1_000_000_000))
    frac = pc.utf8_lpad(pc.cast(nanos, pa.string()), 9, "0")
    frac = pc.replace_substring_regex(frac, pattern="0+$", replacement="")
    dotted = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "", pc.binary_join_element_wise(".", frac, ""))
    stamps = pc.cast(whole, pa.timestamp("s"))
    if tz is None:
        secs = pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S")
        return pc.binary_join_element_wise(secs, dotted, "Z", "").to_pylist()
    local = pc.cast(pc.cast(stamps, pa.timestamp("s", "UTC")), pa.timestamp("s", tz))
    secs = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S")
    zone = pc.replace_substring_regex(pc.strftime(local, format="%z"), pattern="^([+-][0-9][0-9])([0-9][0-9])$",
                                      replacement="\\1:\\2")
    zone = pc.if_else(pc.equal(zone, "+00:00"), "Z", zone)  # as Go's RFC3339 writes a zero offset
    return pc.binary_join_element_wise(secs, dotted, zone, "").to_pylist()


def series_values(s: Series, epoch: str | None, times: list[object] | None = None) -> list[list[object]]:
    """`times`: this series' time column already formatted (result_json formats a statement's at once)."""
    cols: list[list[object]] = []
    for name, col in zip(s.table.column_names, s.table.columns):
        if name == TIME and pa.types.is_integer(col.type):
            cols.append(times if times is not None else format_times(col, epoch, s.tz))
        elif pa.types.is_floating(col.type):  # NaN and infinities (x % 0) are null, as 1.x answers
            cols.append(pc.if_else(pc.is_finite(col), col, pa.scalar(None, col.type)).to_pylist())
        else:
            cols.append(col.to_pylist())
    return [list(row) for row in zip(*cols)] if cols else []


def series_json(s: Series, epoch: str | None, times: list[object] | None = None) -> dict[str, object]:
    out: dict[str, object] = {"name": s.name} if s.name else {}  # 1.x omits an empty name
    if s.tags:
        out["tags"] = dict(s.tags)
    out["columns"] = s.columns
    values = series_values(s, epoch, times)
    if values:
        out["values"] = values
    return out


def _all_times(series: list[Series], epoch: str | None) -> list[list[object] | None]:
    """Every series' times formatted in one pass (many small series: one call, not one each)."""
    cols = [s.table.column(TIME) if TIME in s.table.column_names and pa.types.is_integer(s.table.column(TIME).type)
            else None for s in series]
    zones = {s.tz for s in series}
    if len(series) < 2 or any(c is None for c in cols) or len(zones) != 1:
        return [None] * len(series)
    whole = pa.chunked_array([c.cast(pa.int64()) for c in cols if c is not None], pa.int64())
    flat = format_times(whole, epoch, zones.pop())
    out: list[list[object] | None] = []
    at = 0
    for c in cols:
        assert c is not None
        out.append(flat[at:at + len(c)])
        at += len(c)
    return out


def result_json(r: StatementResult, epoch: str | None) -> dict[str, object]:
    out: dict[str, object] = {"statement_id": r.statement_id}
    if r.error is not None:
        out["error"] = r.error
        return out
    if r.series:
        times = _all_times(r.series, epoch)
        out["series"] = [series_json(s, epoch, t) for s, t in zip(r.series, times)]
    if r.messages:
        out["messages"] = r.messages
    return out
