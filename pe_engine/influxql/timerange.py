"""The time range of a WHERE clause, split from the rest of the condition.

InfluxQL reads `time` comparisons joined by AND as the query's range, which GROUP BY time
buckets and aggregate timestamps depend on; everything else filters rows.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from . import ast
from .errors import InfluxQLError

MIN_TIME = -(2**63) + 2  # as 1.x: influxql.MinTime / MaxTime
MAX_TIME = 2**63 - 2


@dataclass(frozen=True)
class TimeRange:
    lower: int | None = None  # inclusive ns
    upper: int | None = None  # inclusive ns

    def intersect(self, lower: int | None, upper: int | None) -> TimeRange:
        lo = self.lower if lower is None else lower if self.lower is None else max(self.lower, lower)
        hi = self.upper if upper is None else upper if self.upper is None else min(self.upper, upper)
        return TimeRange(lo, hi)


def _is_time(e: ast.Expr) -> bool:
    return isinstance(e, ast.VarRef) and e.name.lower() == "time"


def _mentions_time(e: ast.Expr | None) -> bool:
    if e is None:
        return False
    if _is_time(e):
        return True
    if isinstance(e, ast.BinaryExpr):
        return _mentions_time(e.lhs) or _mentions_time(e.rhs)
    return False


def parse_rfc3339(text: str) -> int:
    """'2024-01-01T00:00:00Z', '2024-01-01T00:00:00.5+02:00', '2024-01-01 00:00:00', '2024-01-01'."""
    s = text.strip()
    frac_ns = 0
    try:
        if len(s) == 10:
            d = dt.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
        else:
            s2 = s.replace(" ", "T", 1)
            if s2.endswith(("Z", "z")):
                s2 = s2[:-1] + "+00:00"
            main, dot, rest = s2.partition(".")
            if dot:
                digits = re.match(r"[0-9]*", rest).group(0)  # type: ignore[union-attr]
                tz = rest[len(digits):]
                frac_ns = int((digits + "000000000")[:9]) if digits else 0
                s2 = main + tz
            d = dt.datetime.fromisoformat(s2)
            if d.tzinfo is None:
                d = d.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise InfluxQLError(f"invalid time literal '{text}': expected RFC3339 such as 2024-01-01T00:00:00Z") from None
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    delta = d - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000 + frac_ns


def time_value(e: ast.Expr, now_ns: int) -> int:
    """A time expression's value in ns: now(), literals, and + / - of durations."""
    if isinstance(e, ast.Call) and e.name == "now" and not e.args:
        return now_ns
    if isinstance(e, ast.StringLiteral):
        return parse_rfc3339(e.value)
    if isinstance(e, ast.IntegerLiteral):
        return e.value
    if isinstance(e, ast.NumberLiteral):
        return int(e.value)
    if isinstance(e, ast.DurationLiteral):
        return e.nanoseconds
    if isinstance(e, ast.BinaryExpr) and e.op in (ast.BinaryOp.ADD, ast.BinaryOp.SUB):
        lhs = time_value(e.lhs, now_ns)
        rhs = time_value(e.rhs, now_ns)
        return lhs + rhs if e.op is ast.BinaryOp.ADD else lhs - rhs
    raise InfluxQLError("invalid operation: time and a non-time value cannot be compared")


_FLIP = {ast.BinaryOp.LT: ast.BinaryOp.GT, ast.BinaryOp.LTE: ast.BinaryOp.GTE,
         ast.BinaryOp.GT: ast.BinaryOp.LT, ast.BinaryOp.GTE: ast.BinaryOp.LTE, ast.BinaryOp.EQ: ast.BinaryOp.EQ}


def split_time(cond: ast.Expr | None, now_ns: int) -> tuple[TimeRange, ast.Expr | None]:
    """(range, the condition without its time comparisons)."""
    rng = TimeRange()
    if cond is None:
        return rng, None
    if isinstance(cond, ast.BinaryExpr) and cond.op is ast.BinaryOp.AND:
        lr, lrest = split_time(cond.lhs, now_ns)
        rr, rrest = split_time(cond.rhs, now_ns)
        rng = lr.intersect(rr.lower, rr.upper)
        if lrest is None:
            return rng, rrest
        if rrest is None:
            return rng, lrest
        return rng, ast.BinaryExpr(ast.BinaryOp.AND, lrest, rrest)
    if isinstance(cond, ast.BinaryExpr) and cond.op.is_comparison and (_is_time(cond.lhs) or _is_time(cond.rhs)):
        op, other = (cond.op, cond.rhs) if _is_time(cond.lhs) else (_FLIP.get(cond.op), cond.lhs)
        if op is None or op not in _FLIP:
            raise InfluxQLError(f"invalid time comparison operator: {cond.op.value}")
        v = time_value(other, now_ns)
        if op is ast.BinaryOp.GT:
            return TimeRange(v + 1, None), None
        if op is ast.BinaryOp.GTE:
            return TimeRange(v, None), None
        if op is ast.BinaryOp.LT:
            return TimeRange(None, v - 1), None
        if op is ast.BinaryOp.LTE:
            return TimeRange(None, v), None
        return TimeRange(v, v), None
    if _mentions_time(cond):
        raise InfluxQLError("invalid time condition: time ranges must be joined with AND, not OR")
    return rng, cond


def find_zone(name: str) -> zoneinfo.ZoneInfo:
    """tz('...')'s zone; InfluxQLError with 1.x's words when there is none of that name."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InfluxQLError(f"unable to find time zone {name}") from None
