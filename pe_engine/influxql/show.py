"""SHOW statements from the catalog, and from the data where a WHERE clause or tag values ask.

Shapes follow InfluxDB 1.x: `databases`/`measurements` series of names, one series per
measurement for tag keys, tag values and field keys, one unnamed series of keys for SHOW SERIES.
"""
from __future__ import annotations

import re

import pyarrow as pa

from . import ast
from .context import MeasurementSchema, QueryContext
from .errors import InfluxQLError
from .results import Series
from .sqlgen import ExprWriter, ident
from .timerange import split_time


def _db(ctx: QueryContext, on: str | None) -> str:
    db = on or ctx.database
    if not db:
        raise InfluxQLError("database name required")
    if db not in ctx.schema.databases():
        raise InfluxQLError(f"database not found: {db}")
    return db


def _page(values: list, limit: int | None, offset: int | None) -> list:
    lo = offset or 0
    return values[lo:] if limit is None else values[lo:lo + limit]


def _one(name: str | None, columns: list[str], rows: list[list[object]]) -> Series:
    return Series(name or "", pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(columns)})
                  if rows else pa.table({c: pa.array([], pa.string()) for c in columns}))


def _measurements(ctx: QueryContext, db: str, sources: tuple[ast.Source, ...]) -> list[MeasurementSchema]:
    names = ctx.schema.measurements(db)
    if sources:
        picked: list[str] = []
        for s in sources:
            if isinstance(s, ast.SubQuery):
                raise InfluxQLError("subqueries are not allowed in SHOW statements")
            if s.regex is not None:
                picked += [n for n in names if re.search(s.regex, n)]
            elif s.name in names:
                picked.append(s.name)
        names = sorted(dict.fromkeys(picked))
    out = []
    for n in names:
        sc = ctx.schema.schema(db, n)
        if sc is not None:
            out.append(sc)
    return out


def _where(schema: MeasurementSchema, cond: ast.Expr | None, ctx: QueryContext) -> str:
    if cond is None:
        return ""
    rng, residual = split_time(cond, ctx.now_ns)
    parts = []
    if rng.lower is not None:
        parts.append(f"time >= to_timestamp_nanos({rng.lower})")
    if rng.upper is not None:
        parts.append(f"time <= to_timestamp_nanos({rng.upper})")
    if residual is not None:
        parts.append(ExprWriter(schema, ctx.params).condition(residual))
    return (" WHERE " + " AND ".join(parts)) if parts else ""


def _has_rows(ctx: QueryContext, db: str, schema: MeasurementSchema, cond: ast.Expr | None) -> bool:
    t = ctx.sql(db, f"SELECT 1 AS x FROM {ident(schema.name)}{_where(schema, cond, ctx)} LIMIT 1")
    return t.num_rows > 0


def show(stmt: ast.Statement, ctx: QueryContext) -> list[Series]:
    if isinstance(stmt, ast.ShowDatabases):
        return [_one("databases", ["name"], [[d] for d in ctx.schema.databases()])]
    if isinstance(stmt, ast.ShowRetentionPolicies):
        db = _db(ctx, stmt.database)
        if db not in ctx.schema.databases():
            raise InfluxQLError(f"database not found: {db}")
        return [Series("", pa.table({"name": ["autogen"], "duration": ["0s"], "shardGroupDuration": ["168h0m0s"],
                                     "replicaN": [1], "default": [True]}))]
    if isinstance(stmt, ast.ShowMeasurements):
        return _show_measurements(stmt, ctx)
    if isinstance(stmt, ast.ShowTagKeys):
        db = _db(ctx, stmt.database)
        out = []
        for sc in _measurements(ctx, db, stmt.sources):
            if stmt.condition is not None and not _has_rows(ctx, db, sc, stmt.condition):
                continue
            keys = _page(sorted(sc.tags), stmt.limit, stmt.offset)
            if keys:
                out.append(_one(sc.name, ["tagKey"], [[k] for k in keys]))
        return _page(out, stmt.slimit, stmt.soffset)
    if isinstance(stmt, ast.ShowFieldKeys):
        db = _db(ctx, stmt.database)
        out = []
        for sc in _measurements(ctx, db, stmt.sources):
            keys = _page(sorted(sc.fields.items()), stmt.limit, stmt.offset)
            if keys:
                out.append(_one(sc.name, ["fieldKey", "fieldType"], [[k, v.value] for k, v in keys]))
        return out
    if isinstance(stmt, ast.ShowTagValues):
        return _show_tag_values(stmt, ctx)
    if isinstance(stmt, ast.ShowSeries):
        return _show_series(stmt, ctx)
    raise InfluxQLError(f"unsupported statement {type(stmt).__name__}")


def _show_measurements(stmt: ast.ShowMeasurements, ctx: QueryContext) -> list[Series]:
    db = _db(ctx, stmt.database)
    names = ctx.schema.measurements(db)
    m, op = stmt.measurement, stmt.measurement_op
    if m is not None:
        if m.regex is not None:
            hit = [n for n in names if re.search(m.regex, n)]
            names = hit if op is not ast.BinaryOp.NEQ_REGEX else [n for n in names if n not in hit]
        else:
            names = [n for n in names if (n == m.name) != (op is ast.BinaryOp.NEQ)]
    if stmt.condition is not None:
        kept = []
        for n in names:
            sc = ctx.schema.schema(db, n)
            if sc is not None and _has_rows(ctx, db, sc, stmt.condition):
                kept.append(n)
        names = kept
    names = _page(names, stmt.limit, stmt.offset)
    return [_one("measurements", ["name"], [[n] for n in names])] if names else []


def _keys_for(stmt: ast.ShowTagValues, sc: MeasurementSchema) -> list[str]:
    tags = sorted(sc.tags)
    if stmt.key_op is ast.TagKeyOp.EQ:
        return [t for t in tags if t in stmt.keys]
    if stmt.key_op is ast.TagKeyOp.NEQ:
        return [t for t in tags if t not in stmt.keys]
    if stmt.key_op is ast.TagKeyOp.IN:
        return [t for t in tags if t in stmt.keys]
    assert stmt.key_regex is not None
    hit = [t for t in tags if re.search(stmt.key_regex, t)]
    return hit if stmt.key_op is ast.TagKeyOp.EQ_REGEX else [t for t in tags if t not in hit]


def _show_tag_values(stmt: ast.ShowTagValues, ctx: QueryContext) -> list[Series]:
    db = _db(ctx, stmt.database)
    out = []
    for sc in _measurements(ctx, db, stmt.sources):
        keys = _keys_for(stmt, sc)
        if not keys:
            continue
        where = _where(sc, stmt.condition, ctx)
        rows: list[list[object]] = []
        for k in keys:
            indexed = ctx.schema.tag_values(db, sc.name, k) if not where else None
            if indexed is not None:
                rows += [[k, v] for v in indexed]
                continue
            col = ident(k)
            cond = f"{col} IS NOT NULL" if not where else f"{where[7:]} AND {col} IS NOT NULL"
            t = ctx.sql(db, f"SELECT DISTINCT CAST({col} AS VARCHAR) AS v FROM {ident(sc.name)} WHERE {cond}"
                                f" ORDER BY v")
            rows += [[k, v] for v in t.column("v").to_pylist()]
        rows = _page(rows, stmt.limit, stmt.offset)
        if rows:
            out.append(_one(sc.name, ["key", "value"], rows))
    return _page(out, stmt.slimit, stmt.soffset)


_KEY_ESCAPE = re.compile(r"([, =])")


def _escape(text: str) -> str:
    return _KEY_ESCAPE.sub(r"\\\1", text)


def _show_series(stmt: ast.ShowSeries, ctx: QueryContext) -> list[Series]:
    db = _db(ctx, stmt.database)
    keys: list[str] = []
    for sc in _measurements(ctx, db, stmt.sources):
        tags = sorted(sc.tags)
        where = _where(sc, stmt.condition, ctx)
        if not tags:
            if _has_rows(ctx, db, sc, stmt.condition):
                keys.append(_escape(sc.name))
            continue
        cols = ", ".join(f"CAST({ident(t)} AS VARCHAR) AS {ident(t)}" for t in tags)
        t = ctx.sql(db, f"SELECT DISTINCT {cols} FROM {ident(sc.name)}{where}")
        for row in t.to_pylist():  # one row per series, not per point
            parts = [_escape(sc.name)] + [f"{_escape(k)}={_escape(v)}" for k, v in row.items() if v not in (None, "")]
            keys.append(",".join(parts))
    keys = _page(sorted(keys), stmt.limit, stmt.offset)
    return [_one(None, ["key"], [[k] for k in keys])] if keys else []
