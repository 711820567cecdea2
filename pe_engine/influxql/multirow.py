"""Selectors that answer several rows per group (top, bottom, sample, distinct) and mode(), each as one
SQL statement with window functions: DataFusion ranks, Arrow only splits the series."""
from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .errors import InfluxQLError
from .sqlgen import ExprWriter, ident

MULTIROW = frozenset({"top", "bottom", "distinct", "sample"})
T = "__pe_t"
V = "__pe_c0"
BUCKET = "__pe_bucket"


@dataclass(frozen=True)
class Plan:
    sql: str
    extra: list[str]  # further output columns (after the call's) as SQL output names
    point_times: bool  # rows carry their own point time (top, bottom) rather than the bucket's


def multirow_call(fields: list[ast.Field]) -> ast.Call | None:
    calls = [f.expr for f in fields if isinstance(f.expr, ast.Call) and f.expr.name in MULTIROW]
    if not calls:
        return None
    if len(calls) > 1:
        raise InfluxQLError(f"selector function {calls[0].name}() cannot be combined with other functions")
    others = [f.expr for f in fields if f.expr is not calls[0]]
    if calls[0].name == "distinct" and others:
        raise InfluxQLError("aggregate function distinct() cannot be combined with other functions or fields")
    if any(not isinstance(e, ast.VarRef) for e in others):
        raise InfluxQLError(f"selector function {calls[0].name}() cannot be combined with other functions")
    return calls[0]


def _field_arg(call: ast.Call, w: ExprWriter) -> str:
    if not call.args or not isinstance(call.args[0], ast.VarRef):
        raise InfluxQLError(f"expected first argument to be a field in {call.name}(), found "
                            f"{type(call.args[0]).__name__ if call.args else 'nothing'}")
    return w.var(call.args[0])


def plan(call: ast.Call, fields: list[ast.Field], w: ExprWriter, table: str, where_sql: str,
         gcols: list[str], gnames: list[str], bucket_sql: str | None) -> Plan:
    keys = [ident(g) for g in gnames] + ([ident(BUCKET)] if bucket_sql else [])
    key_sel = list(gcols) + ([f"{bucket_sql} AS {ident(BUCKET)}"] if bucket_sql else [])
    x = _field_arg(call, w)
    if call.name == "distinct":
        if len(call.args) != 1:
            raise InfluxQLError(f"distinct function requires exactly one argument, got {len(call.args)}")
        # in the order the values first appear, as 1.x
        inner = (f"SELECT {', '.join(key_sel + [f'{x} AS {V}', 'min(time) AS __pe_f'])} FROM {ident(table)}"
                 f"{where_sql}" + (" AND " if where_sql else " WHERE ") + f"{x} IS NOT NULL"
                 f" GROUP BY {', '.join(str(i + 1) for i in range(len(key_sel) + 1))}")
        order = ", ".join(keys + ["__pe_f", V])
        return Plan(f"SELECT * EXCLUDE (__pe_f) FROM ({inner}) ORDER BY {order}", [], False)
    # top / bottom (field, [tag, ...], N)
    if len(call.args) < 2 or not isinstance(call.args[-1], ast.IntegerLiteral):
        raise InfluxQLError(f"expected integer as last argument in {call.name}(), found "
                            f"{type(call.args[-1]).__name__ if len(call.args) > 1 else 'nothing'}")
    n = int(call.args[-1].value)
    if n <= 0:
        raise InfluxQLError(f"limit ({n}) in {call.name} function must be at least 1")
    tag_args = call.args[1:-1]
    if any(not isinstance(a, ast.VarRef) for a in tag_args):
        raise InfluxQLError(f"only fields or tags are allowed in {call.name}(), found a {type(tag_args[0]).__name__}")
    if call.name == "sample" and len(call.args) != 2:
        raise InfluxQLError(f"invalid number of arguments for sample, expected 2, got {len(call.args)}")
    direction = "DESC" if call.name == "top" else "ASC"
    extra_sel, extra = [], []
    for i, f in enumerate(fields):
        if f.expr is call:
            continue
        assert isinstance(f.expr, ast.VarRef)
        extra_sel.append(f"{w.var(f.expr)} AS {ident(f'__pe_x{i}')}")
        extra.append(f"__pe_x{i}")
    tag_cols = [f"coalesce({w.var(a)}, '') AS {ident(f'__pe_tag{j}')}"  # type: ignore[arg-type]
                for j, a in enumerate(tag_args)]
    base = (f"SELECT {', '.join(key_sel + [f'CAST(time AS BIGINT) AS {T}', f'{x} AS {V}'] + extra_sel + tag_cols)} "
            f"FROM {ident(table)}{where_sql}" + (" AND " if where_sql else " WHERE ") + f"{x} IS NOT NULL")
    part = ", ".join(keys) if keys else "1"
    if tag_args:  # the best point of each tag value, then the best N of those
        tparts = ", ".join([*keys, *[ident(f"__pe_tag{j}") for j in range(len(tag_args))]])
        base = (f"SELECT * EXCLUDE (__pe_rt) FROM (SELECT *, row_number() OVER (PARTITION BY {tparts} "
                f"ORDER BY {V} {direction}, {T} ASC) AS __pe_rt FROM ({base})) WHERE __pe_rt = 1")
        for j, a in enumerate(tag_args):
            assert isinstance(a, ast.VarRef)
            extra.append(f"__pe_tag{j}")
    rank = "random()" if call.name == "sample" else f"{V} {direction}, {T} ASC"
    ranked = (f"SELECT * EXCLUDE (__pe_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {part} "
              f"ORDER BY {rank}) AS __pe_rn FROM ({base})) WHERE __pe_rn <= {n}")
    order = ", ".join(keys + [T, f"{V} {direction}"])
    return Plan(f"SELECT * FROM ({ranked}) ORDER BY {order}", extra, True)


def mode_sql(call: ast.Call, w: ExprWriter, table: str, where_sql: str, gcols: list[str], gnames: list[str],
             bucket_sql: str | None) -> str:
    """The most frequent value per group; among equally frequent ones the first to appear (1.x
    means to, but its unstable sort makes its pick among ties arbitrary)."""
    if len(call.args) != 1:
        raise InfluxQLError(f"invalid number of arguments for mode, expected 1, got {len(call.args)}")
    x = _field_arg(call, w)
    keys = [ident(g) for g in gnames] + ([ident(BUCKET)] if bucket_sql else [])
    key_sel = list(gcols) + ([f"{bucket_sql} AS {ident(BUCKET)}"] if bucket_sql else [])
    counted = (f"SELECT {', '.join(key_sel + [f'{x} AS {V}', 'count(*) AS __pe_n', 'min(time) AS __pe_f'])} FROM {ident(table)}{where_sql}"
               + (" AND " if where_sql else " WHERE ") + f"{x} IS NOT NULL"
               + f" GROUP BY {', '.join(str(i + 1) for i in range(len(key_sel) + 1))}")
    part = ", ".join(keys) if keys else "1"
    return (f"SELECT * EXCLUDE (__pe_n, __pe_f, __pe_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {part} "
            f"ORDER BY __pe_n DESC, __pe_f ASC, {V} ASC) AS __pe_rn FROM ({counted})) WHERE __pe_rn = 1")
