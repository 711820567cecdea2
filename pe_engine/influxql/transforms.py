"""InfluxQL's transformations (derivative, difference, moving_average, cumulative_sum, elapsed),
applied in Arrow to the series of the statement without them.

`SELECT derivative(mean(x), 1m) ... GROUP BY time(5m)` runs `SELECT mean(x) ... GROUP BY time(5m)`
(fill included), then each series' column is transformed a whole array at a time: nulls
dropped, neighbours subtracted with slices. ORDER BY time DESC reverses the
stream first (as 1.x, which transforms in the order asked for); LIMIT/OFFSET apply after.
"""
from __future__ import annotations

import dataclasses
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
    """`start`: the first bucket of the asked range; earlier (extra) buckets only feed the first answers."""
    fn = _function(call, interval)
    out = []
    for s in series:
        t, v = s.table.column(TIME).combine_chunks(), s.table.column(s.table.column_names[1]).combine_chunks()
        keep = pc.is_valid(v)
        t, v = t.filter(keep), v.filter(keep)
        if desc:  # 1.x transforms the stream in the order asked for
            back = pa.array(range(len(t) - 1, -1, -1), pa.int64())
            t, v = t.take(back), v.take(back)
        nt, nv = fn(t, v)
        table = pa.table({TIME: nt, s.table.column_names[1]: nv})
        if start is not None:
            table = table.filter(pc.greater_equal(table.column(TIME), start))
        lo = offset or 0
        table = table.slice(lo, (table.num_rows - lo) if limit is None else limit)
        if table.num_rows:
            out.append(Series(s.name, table, s.tags))
    return out


Fn = Callable[[pa.Array, pa.Array], tuple[pa.Array, pa.Array]]


def _function(call: ast.Call, interval: int | None) -> Fn:
    name = call.name
    if name in ("derivative", "non_negative_derivative"):
        unit = _duration_arg(call, interval or SECOND)
        return lambda t, v: _derivative(t, v, unit, name.startswith("non_negative"))
    if name in ("difference", "non_negative_difference"):
        if len(call.args) != 1:
            raise InfluxQLError(f"invalid number of arguments for {name}, expected 1, got {len(call.args)}")
        return lambda t, v: _difference(t, v, name.startswith("non_negative"))
    if name == "moving_average":
        if len(call.args) != 2 or not isinstance(call.args[1], ast.IntegerLiteral):
            raise InfluxQLError("moving_average window must be an integer")
        n = int(call.args[1].value)
        if n < 1:
            raise InfluxQLError(f"moving_average window must be greater than 1, got {n}")
        return lambda t, v: _moving_average(t, v, n)
    if name == "cumulative_sum":
        return lambda t, v: (t, pc.cumulative_sum(v))
    if name == "elapsed":
        unit = _duration_arg(call, 1)
        return lambda t, v: _elapsed(t, unit)
    raise InfluxQLUnsupported(f"{name}() is not supported yet")


def _pairs(t: pa.Array, v: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    n = len(t)
    return t.slice(1), t.slice(0, n - 1), v.slice(1), v.slice(0, n - 1)


def _numeric(v: pa.Array, name: str) -> None:
    if not (pa.types.is_integer(v.type) or pa.types.is_floating(v.type)):
        raise InfluxQLError(f"unsupported {name} iterator type: {v.type}")


def _derivative(t: pa.Array, v: pa.Array, unit: int, non_negative: bool) -> tuple[pa.Array, pa.Array]:
    _numeric(v, "derivative")
    if len(t) < 2:
        return t.slice(0, 0), pa.array([], pa.float64())
    t1, t0, v1, v0 = _pairs(t, v)
    dv = pc.subtract(pc.cast(v1, pa.float64()), pc.cast(v0, pa.float64()))
    dt = pc.divide(pc.cast(pc.subtract(t1, t0), pa.float64()), float(unit))
    d = pc.divide(dv, dt)
    keep = pc.not_equal(t1, t0)  # points at one time: 1.x skips them
    if non_negative:
        keep = pc.and_(keep, pc.greater_equal(d, 0.0))
    return t1.filter(keep), d.filter(keep)


def _difference(t: pa.Array, v: pa.Array, non_negative: bool) -> tuple[pa.Array, pa.Array]:
    _numeric(v, "difference")
    if len(t) < 2:
        return t.slice(0, 0), v.slice(0, 0)
    t1, _, v1, v0 = _pairs(t, v)
    d = pc.subtract(v1, v0)
    if non_negative:
        keep = pc.greater_equal(d, 0)
        return t1.filter(keep), d.filter(keep)
    return t1, d


def _moving_average(t: pa.Array, v: pa.Array, n: int) -> tuple[pa.Array, pa.Array]:
    _numeric(v, "moving_average")
    if len(t) < n:
        return t.slice(0, 0), pa.array([], pa.float64())
    c = pc.cumulative_sum(pc.cast(v, pa.float64()))
    padded = pa.concat_arrays([pa.array([0.0]), c])
    window = pc.subtract(padded.slice(n), padded.slice(0, len(padded) - n))
    return t.slice(n - 1), pc.divide(window, float(n))


def _elapsed(t: pa.Array, unit: int) -> tuple[pa.Array, pa.Array]:
    if len(t) < 2:
        return t.slice(0, 0), pa.array([], pa.int64())
    t1, t0 = t.slice(1), t.slice(0, len(t) - 1)
    return t1, pc.divide(pc.subtract(t1, t0), unit)
