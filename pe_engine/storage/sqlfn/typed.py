"""Calls of InfluxDB's type-polymorphic functions, bound to one registered function per type.

A Python UDF or UDAF in DataFusion has one fixed signature and return type, while
`selector_max(v, time)` returns a struct of v's type and `date_bin_wallclock` the type
(zone included) of its time. So before a statement that uses them is planned, the types
of each call's arguments are found by planning `SELECT <args> FROM <same FROM> LIMIT 0`
(no data is read), a function for those types is registered once per session under a
derived name (`selector_max__pe1a2b3c4d`), and the call is renamed. Result columns get
the public names back (`public_name`).
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
from datafusion import DataFrame, SessionContext
from sqlglot import exp

from .selectors import SelectorKind, selector_udaf
from .timefns import arrow_timestamp_type, check_zone, wallclock_udf

DIALECT = "postgres"
SELECTORS = {f"selector_{k.value}": k for k in SelectorKind}
WALLCLOCK = "date_bin_wallclock"
_TYPED_NAME = re.compile(r"\b(selector_(?:first|last|min|max)|date_bin_wallclock)__pe[0-9a-f]{10}\b")

Planner = Callable[[str], DataFrame]


def fn_name(node: exp.Expr) -> str:
    """The lower-case name of a function call node (Anonymous or a known sqlglot function)."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def fn_args(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [a for a in node.args.values() if isinstance(a, exp.Expr)]


def call(name: str, args: list[exp.Expr]) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=args)


def public_name(name: str) -> str:
    """A result column name with typed functions named as the user wrote them."""
    return _TYPED_NAME.sub(r"\1", name) if "__pe" in name else name


@dataclass
class TypedFunctions:
    """The typed functions registered in one session (names are stable per type list)."""

    ctx: SessionContext
    names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _name(self, base: str, types: list[pa.DataType]) -> str:
        digest = hashlib.sha1("|".join(str(t) for t in types).encode()).hexdigest()[:10]
        return f"{base}__pe{digest}"

    def selector(self, base: str, types: list[pa.DataType]) -> str:
        name = self._name(base, types)
        with self.lock:
            if name not in self.names:
                self.ctx.register_udaf(selector_udaf(name, SELECTORS[base], types))
                self.names.add(name)
        return name

    def wallclock(self, types: list[pa.DataType]) -> str:
        name = self._name(WALLCLOCK, types)
        with self.lock:
            if name not in self.names:
                self.ctx.register_udf(wallclock_udf(name, types[1], len(types) == 3))
                self.names.add(name)
        return name


def rewrite_tz(tree: exp.Expr) -> None:
    """tz(x[, 'Zone']) -> arrow_cast(arrow_cast(x, <UTC>), <Zone>): the instant kept, the zone set."""
    for node in list(tree.find_all(exp.Anonymous)):
        if fn_name(node) != "tz":
            continue
        args = fn_args(node)
        if not 1 <= len(args) <= 2:
            raise ValueError("tz takes a time and an optional time zone name: tz(time, 'Europe/Paris')")
        zone = "UTC"
        if len(args) == 2:
            if not (isinstance(args[1], exp.Literal) and args[1].is_string):
                raise ValueError("tz: the time zone must be a string literal such as 'Europe/Paris'")
            zone = check_zone(args[1].this)
        utc = call("arrow_cast", [args[0], exp.Literal.string(arrow_timestamp_type("UTC"))])
        node.replace(call("arrow_cast", [utc, exp.Literal.string(arrow_timestamp_type(zone))]))


def _probe_sql(root: exp.Expr, select: exp.Select, args: list[exp.Expr]) -> str:
    """SELECT <args> with the FROM/joins (and the statement's WITH) of `select`, no rows."""
    probe = exp.Select(expressions=[a.copy() for a in args])
    for key in ("from", "from_", "joins"):
        part = select.args.get(key)
        if part is not None:
            probe.set(key, [p.copy() for p in part] if isinstance(part, list) else part.copy())
    for key in ("with", "with_"):  # the statement's CTEs (the key's name differs across sqlglot versions)
        ctes = root.args.get(key)
        if ctes is not None:
            probe.set(key, ctes.copy())
    return probe.limit(0).sql(dialect=DIALECT)


def bind_typed_calls(tree: exp.Expr, plan: Planner, fns: TypedFunctions) -> None:
    """Rename every selector_*/date_bin_wallclock call to the function for its argument types."""
    calls = [n for n in tree.find_all(exp.Anonymous) if fn_name(n) in SELECTORS or fn_name(n) == WALLCLOCK]
    for node in reversed(calls):  # innermost first
        name, args = fn_name(node), fn_args(node)
        select = node.find_ancestor(exp.Select)
        if select is None:
            raise ValueError(f"{name} must be used inside a SELECT")
        if name in SELECTORS and len(args) < 2:
            raise ValueError(f"{name} takes a value and a time: {name}(value, time[, other ...])")
        if name == WALLCLOCK and len(args) not in (2, 3):
            raise ValueError("date_bin_wallclock takes (interval, time[, origin])")
        types = list(plan(_probe_sql(tree, select, args)).schema().types)
        out_args = list(args)
        for i, t in enumerate(types):
            if pa.types.is_dictionary(t) and name == WALLCLOCK:
                types[i] = t.value_type
                out_args[i] = call("arrow_cast", [args[i], exp.Literal.string("Utf8")])
        if not pa.types.is_timestamp(types[1]):
            raise ValueError(f"{name}: the second argument must be a timestamp (the time column), got {types[1]}")
        if types[1].unit != "ns":
            types[1] = pa.timestamp("ns", types[1].tz)
            out_args[1] = call("arrow_cast", [args[1], exp.Literal.string(arrow_timestamp_type(types[1].tz))])
        if name in SELECTORS:
            typed = fns.selector(name, types)
        else:
            types[0] = pa.month_day_nano_interval()
            if len(types) == 3 and types[2] != pa.timestamp("ns"):
                types[2] = pa.timestamp("ns")
                out_args[2] = call("arrow_cast", [args[2], exp.Literal.string(arrow_timestamp_type(None))])
            typed = fns.wallclock(types)
        node.replace(call(typed, out_args))
