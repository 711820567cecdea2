"""InfluxQL's transformations (derivative, difference, moving_average, cumulative_sum, elapsed),
applied in Arrow to the series of the statement without them.

`SELECT derivative(mean(x), 1m) ... GROUP BY time(5m)` runs `SELECT mean(x) ... GROUP BY time(5m)`
(fill included), then each series' column is transformed a whole array at a time: nulls
dropped, neighbours subtracted with slices. ORDER BY time DESC reverses the
stream first (as 1.x, which transforms in the order asked for); LIMIT/OFFSET apply after.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from . import ast
from .errors import InfluxQLError, InfluxQLUnsupported
from .results import TIME, Series

TRANSFORMS = frozenset({"derivative", "non_negative_derivative", "difference", "non_negative_difference",
                        "moving_average", "cumulative_sum", "elapsed"})
SECOND = 1_000_000_000


def transform_call(stmt: ast.SelectStatement) -> ast.Call | None:
    """The statement's transformation, when it has one; one per statement is what pe runs."""
    found = [f.expr for f in stmt.fields if isinstance(f.expr, ast.Call) and f.expr.name in TRANSFORMS]
    if not found:
        return None
    if len(stmt.fields) != 1:
        raise InfluxQLUnsupported(f"{found[0].name}() with other fields in one statement is not supported yet: "
                                  "select it on its own")
    return found[0]


def inner_statement(stmt: ast.SelectStatement, call: ast.Call, interval: int | None) -> ast.SelectStatement:
    """The statement whose answer the transformation reads: its argument in place of the call,
    without LIMIT/OFFSET and in time order."""
    if not call.args:
        raise InfluxQLError(f"invalid number of arguments for {call.name}, expected at least 1, got 0")
    arg = call.args[0]
    if isinstance(arg, ast.Call):
        if interval is None:
            raise InfluxQLError(f"{call.name} aggregate requires a GROUP BY interval")
    elif isinstance(arg, ast.VarRef):
        if interval is not None:
            raise InfluxQLError(f"aggregate function required inside the call to {call.name}")
    else:
        raise InfluxQLError(f"expected field argument in {call.name}()")
    alias = stmt.fields[0].alias or call.name
    return dataclasses.replace(stmt, fields=(ast.Field(arg, alias),), limit=None, offset=None, sort=())


def extra_intervals(call: ast.Call) -> int:
    """GROUP BY time intervals read before the range (as 1.x: one, whatever the window), so the
    first bucket in the range can have an answer."""
    return 0 if call.name == "cumulative_sum" else 1


def _duration_arg(call: ast.Call, default: int) -> int:
    if len(call.args) < 2:
        return default
    a = call.args[1]
    if not isinstance(a, ast.DurationLiteral):
        raise InfluxQLError(f"second argument to {call.name} must be a duration, got {type(a).__name__}")
    if a.nanoseconds <= 0:
        raise InfluxQLError(f"duration argument must be positive, got {a.nanoseconds}ns")
    return a.nanoseconds


def apply(call: ast.Call, series: list[Series], interval: int | None, desc: bool,
          limit: int | None, offset: int | None, start: int | None = None) -> list[Series]:
    """`start`: the first bucket of the asked range; earlier (extra) buckets only feed the first
    answers. All series are transformed at once: their rows side by side with a series number,
    so a dashboard's hundred series cost a handful of array operations, not a hundred."""
    if not series:
        return []
    fn = _function(call, interval)
    name = series[0].table.column_names[1]
    t = pa.concat_arrays([s.table.column(TIME).combine_chunks().cast(pa.int64()) for s in series])
    v = pa.concat_arrays([s.table.column(s.table.column_names[1]).combine_chunks() for s in series])
    sizes = [s.table.num_rows for s in series]
    ends = pa.array(list(itertools.accumulate(sizes)), pa.int32())
    sid = pc.run_end_decode(pa.RunEndEncodedArray.from_arrays(ends, pa.array(range(len(series)), pa.int32())))
    keep = pc.is_valid(v)
    t, v, sid = t.filter(keep), v.filter(keep), sid.filter(keep)
    if desc:  # 1.x transforms the stream in the order asked for
        back = pa.array(range(len(t) - 1, -1, -1), pa.int64())
        t, v, sid = t.take(back), v.take(back), sid.take(back)
    nt, nv, nsid = fn(t, v, sid)
    if start is not None:
        inside = pc.greater_equal(nt, start)
        nt, nv, nsid = nt.filter(inside), nv.filter(inside), nsid.filter(inside)
    table = pa.table({TIME: nt, name: nv})
    out = []
    for lo, hi, k in _runs(nsid):
        part = table.slice(lo, hi - lo)
        first = offset or 0
        part = part.slice(first, (part.num_rows - first) if limit is None else limit)
        if part.num_rows:
            out.append(Series(series[k].name, part, series[k].tags))
    return out


def _runs(sid: pa.Array) -> list[tuple[int, int, int]]:
    """(start, end, series number) of each run of one series."""
    n = len(sid)
    if n == 0:
        return []
    change = pc.indices_nonzero(pc.not_equal(sid.slice(1), sid.slice(0, n - 1))).to_pylist()
    starts = [0] + [i + 1 for i in change]
    ids = sid.take(pa.array(starts, pa.int64())).to_pylist()
    return [(lo, hi, k) for lo, hi, k in zip(starts, starts[1:] + [n], ids)]


Fn = Callable[[pa.Array, pa.Array, pa.Array], tuple[pa.Array, pa.Array, pa.Array]]


def _function(call: ast.Call, interval: int | None) -> Fn:
    name = call.name
    if name in ("derivative", "non_negative_derivative"):
        unit = _duration_arg(call, interval or SECOND)
        return lambda t, v, sid: _derivative(t, v, sid, unit, name.startswith("non_negative"))
    if name in ("difference", "non_negative_difference"):
        if len(call.args) != 1:
            raise InfluxQLError(f"invalid number of arguments for {name}, expected 1, got {len(call.args)}")
        return lambda t, v, sid: _difference(t, v, sid, name.startswith("non_negative"))
    if name == "moving_average":
        if len(call.args) != 2 or not isinstance(call.args[1], ast.IntegerLiteral):
            raise InfluxQLError("moving_average window must be an integer")
        n = int(call.args[1].value)
        if n < 1:
            raise InfluxQLError(f"moving_average window must be greater than 1, got {n}")
        return lambda t, v, sid: _moving_average(t, v, sid, n)
    if name == "cumulative_sum":
        return _cumulative_sum
    if name == "elapsed":
        unit = _duration_arg(call, 1)
        return lambda t, v, sid: _elapsed(t, sid, unit)
    raise InfluxQLUnsupported(f"{name}() is not supported yet")


def _numeric(v: pa.Array, name: str) -> None:
    if not (pa.types.is_integer(v.type) or pa.types.is_floating(v.type)):
        raise InfluxQLError(f"unsupported {name} iterator type: {v.type}")


def _pairs(t: pa.Array, v: pa.Array, sid: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]:
    """Each row with the one before it, within a series: (t1, t0, v1, v0, sid, same series)."""
    n = len(t)
    s1, s0 = sid.slice(1), sid.slice(0, n - 1)
    return t.slice(1), t.slice(0, n - 1), v.slice(1), v.slice(0, n - 1), s1, pc.equal(s1, s0)


def _empty(t: pa.Array, v_type: pa.DataType, sid: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    return t.slice(0, 0), pa.array([], v_type), sid.slice(0, 0)


def _derivative(t: pa.Array, v: pa.Array, sid: pa.Array, unit: int,
                non_negative: bool) -> tuple[pa.Array, pa.Array, pa.Array]:
    _numeric(v, "derivative")
    if len(t) < 2:
        return _empty(t, pa.float64(), sid)
    t1, t0, v1, v0, s1, same = _pairs(t, v, sid)
    dv = pc.subtract(pc.cast(v1, pa.float64()), pc.cast(v0, pa.float64()))
    dt = pc.divide(pc.cast(pc.subtract(t1, t0), pa.float64()), float(unit))
    d = pc.divide(dv, dt)
    keep = pc.and_(same, pc.not_equal(t1, t0))  # points at one time: 1.x skips them
    if non_negative:
        keep = pc.and_(keep, pc.greater_equal(d, 0.0))
    return t1.filter(keep), d.filter(keep), s1.filter(keep)


def _difference(t: pa.Array, v: pa.Array, sid: pa.Array, non_negative: bool) -> tuple[pa.Array, pa.Array, pa.Array]:
    _numeric(v, "difference")
    if len(t) < 2:
        return _empty(t, v.type, sid)
    t1, _, v1, v0, s1, same = _pairs(t, v, sid)
    d = pc.subtract(v1, v0)
    keep = pc.and_(same, pc.greater_equal(d, 0)) if non_negative else same
    return t1.filter(keep), d.filter(keep), s1.filter(keep)


def _moving_average(t: pa.Array, v: pa.Array, sid: pa.Array, n: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    _numeric(v, "moving_average")
    ts, vs, ss = [t.slice(0, 0)], [pa.array([], pa.float64())], [sid.slice(0, 0)]
    for lo, hi, _ in _runs(sid):  # sums per series: a running total across series would lose precision
        if hi - lo < n:
            continue
        c = pc.cumulative_sum(pc.cast(v.slice(lo, hi - lo), pa.float64()))
        padded = pa.concat_arrays([pa.array([0.0]), c])
        window = pc.subtract(padded.slice(n), padded.slice(0, len(padded) - n))
        ts.append(t.slice(lo + n - 1, hi - lo - n + 1))
        vs.append(pc.divide(window, float(n)))
        ss.append(sid.slice(lo + n - 1, hi - lo - n + 1))
    return pa.concat_arrays(ts), pa.concat_arrays(vs), pa.concat_arrays(ss)


def _cumulative_sum(t: pa.Array, v: pa.Array, sid: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    if len(t) == 0:
        return t, v, sid
    parts = [pc.cumulative_sum(v.slice(lo, hi - lo)) for lo, hi, _ in _runs(sid)]  # exact per series
    return t, pa.concat_arrays(parts), sid


def _elapsed(t: pa.Array, sid: pa.Array, unit: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    if len(t) < 2:
        return _empty(t, pa.int64(), sid)
    t1, t0 = t.slice(1), t.slice(0, len(t) - 1)
    s1, same = sid.slice(1), pc.equal(sid.slice(1), sid.slice(0, len(sid) - 1))
    return t1.filter(same), pc.divide(pc.subtract(t1, t0), unit).filter(same), s1.filter(same)
