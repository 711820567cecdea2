"""Subqueries: `SELECT max(m) FROM (SELECT mean(x) AS m FROM cpu GROUP BY time(5m), host)`.

The inner statement runs as any statement does (through the engine, governed). Its series become
one Arrow table per measurement (time, the series' tags as tag columns, its columns as fields),
and the outer statement is planned onto that table exactly as onto a measurement, with SQL run by
a private DataFusion context. The inner answer is already bounded by the engine's query limits.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import datafusion
import pyarrow as pa
import pyarrow.compute as pc

from . import ast
from .context import FieldKind, MeasurementSchema
from .errors import InfluxQLError
from .results import TIME, Series
from .timerange import TimeRange

def inner_statement(stmt: ast.SelectStatement, outer: ast.SelectStatement, rng: TimeRange) -> ast.SelectStatement:
    """The inner statement narrowed to the outer's time range, as 1.x passes it down. A raw inner
    statement keeps the tags the outer one groups by (as 1.x; they are not visible otherwise),
    unless a row LIMIT would make that change its answer."""
    raw = not any(_has_call(f.expr) for f in stmt.fields)
    wanted = tuple(d for d in outer.dimensions if isinstance(d, (ast.VarRef, ast.RegexLiteral)))  # not *, as 1.x
    if raw and wanted and stmt.limit is None and not stmt.offset:
        stmt = dataclasses.replace(stmt, dimensions=(*stmt.dimensions, *wanted))
    cond = stmt.condition
    for op, bound in ((ast.BinaryOp.GTE, rng.lower), (ast.BinaryOp.LTE, rng.upper)):
        if bound is None:
            continue
        cmp = ast.BinaryExpr(op, ast.VarRef("time"), ast.IntegerLiteral(bound))
        cond = cmp if cond is None else ast.BinaryExpr(ast.BinaryOp.AND, cond, cmp)
    return dataclasses.replace(stmt, condition=cond)


def _has_call(e: ast.Expr) -> bool:
    if isinstance(e, ast.Call):
        return True
    if isinstance(e, ast.BinaryExpr):
        return _has_call(e.lhs) or _has_call(e.rhs)
    if isinstance(e, ast.UnaryMinus):
        return _has_call(e.expr)
    return False


def _kind(t: pa.DataType) -> FieldKind:
    if pa.types.is_floating(t):
        return FieldKind.FLOAT
    if pa.types.is_unsigned_integer(t):
        return FieldKind.UNSIGNED
    if pa.types.is_integer(t):
        return FieldKind.INTEGER
    if pa.types.is_boolean(t):
        return FieldKind.BOOLEAN
    return FieldKind.STRING


def as_measurements(series: list[Series]) -> list[tuple[MeasurementSchema, pa.Table]]:
    """Series -> (schema, table) per measurement name, in name order."""
    by_name: dict[str, list[Series]] = {}
    for s in series:
        by_name.setdefault(s.name, []).append(s)
    out = []
    for name in sorted(by_name):
        group = [s for s in by_name[name] if s.table.num_rows]  # run ends must grow
        if not group:
            continue
        tag_keys = sorted({k for s in group for k in (s.tags or {})})
        if any(TIME not in s.table.column_names for s in group):
            raise InfluxQLError("a subquery must answer a time column")
        # all series at once: their rows concatenated, each tag a run per series
        body = pa.concat_tables([s.table for s in group], promote_options="permissive")
        ends = pa.array(list(itertools.accumulate(s.table.num_rows for s in group)), pa.int32())
        cols: dict[str, pa.Array | pa.ChunkedArray] = {TIME: body.column(TIME).cast(pa.int64()).cast(pa.timestamp("ns"))}
        for k in tag_keys:
            runs = pa.array([(s.tags or {}).get(k) for s in group], pa.string())
            cols[k] = pc.run_end_decode(pa.RunEndEncodedArray.from_arrays(ends, runs))
        for c in body.column_names:
            if c != TIME and c not in cols:
                cols[c] = body.column(c)
        table = pa.table(cols)
        fields = {c: _kind(table.schema.field(c).type) for c in table.column_names
                  if c != TIME and c not in tag_keys and not pa.types.is_null(table.schema.field(c).type)}
        out.append((MeasurementSchema(name, tuple(tag_keys), fields), table))
    return out


def local_runner(name: str, table: pa.Table) -> Callable[[str, str], pa.Table]:
    """SQL over one in-memory table, for the outer statement."""
    # one partition: the table is an inner answer, small; repartitioning it costs more than it saves
    ctx = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(1))
    ctx.register_record_batches(name, [table.to_batches()])

    def run(_db: str, sql: str) -> pa.Table:
        try:
            return ctx.sql(sql).to_arrow_table()
        except Exception as e:  # DataFusion's planning errors name the problem
            raise InfluxQLError(f"subquery: {e}") from None
    return run
