"""InfluxQL for the engine's callers (HTTP `/query`, `/api/v3/query_influxql`, Flight): parse,
run, and shape answers; the engine is reached only through the interfaces of context.py."""
from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from . import ast
from .context import QueryContext
from .errors import InfluxQLError
from .executor import run_query
from .parser import parse_query
from .results import TIME, StatementResult

MEASUREMENT_COLUMN = "iox::measurement"


def statement_databases(query: ast.Query) -> set[str]:
    """Databases a query names itself (`FROM db.rp.m`, `ON db`), for authorization."""
    found: set[str] = set()
    for stmt in query.statements:
        on = getattr(stmt, "database", None)
        if isinstance(on, str) and on:
            found.add(on)
        for src in getattr(stmt, "sources", ()) or ():
            found |= _source_databases(src)
    return found


def _source_databases(src: ast.Source) -> set[str]:
    if isinstance(src, ast.SubQuery):
        return {d for s in src.statement.sources for d in _source_databases(s)}
    return {src.database} if src.database else set()


def administers(query: ast.Query) -> bool:
    return any(isinstance(s, (ast.CreateDatabase, ast.DropDatabase)) for s in query.statements)


def catalog_only(query: ast.Query) -> bool:
    """Statements answered from the catalog alone (no SQL, no scan): quick enough to run where
    they arrive rather than on a worker thread."""
    def one(s: ast.Statement) -> bool:
        if isinstance(s, (ast.ShowDatabases, ast.ShowRetentionPolicies, ast.ShowFieldKeys)):
            return True
        return isinstance(s, (ast.ShowMeasurements, ast.ShowTagKeys)) and s.condition is None
    return all(one(s) for s in query.statements)


def execute(text: str, ctx: QueryContext) -> list[StatementResult]:
    return run_query(parse_query(text), ctx)


def as_table(results: Iterable[StatementResult]) -> pa.Table:
    """All series as one table, as InfluxDB 3 answers InfluxQL over query_influxql and Flight:
    `iox::measurement`, `time`, the GROUP BY tags, then the selected columns. A statement's
    error raises (there is no per-statement error in a table)."""
    parts: list[pa.Table] = []
    for r in results:
        if r.error is not None:
            raise InfluxQLError(r.error)
        for s in r.series:
            t = s.table
            cols: dict[str, pa.Array | pa.ChunkedArray] = {MEASUREMENT_COLUMN: pa.repeat(pa.scalar(s.name), t.num_rows)}
            if TIME in t.column_names:
                cols[TIME] = t.column(TIME).cast(pa.int64()).cast(pa.timestamp("ns"))
            for k, v in (s.tags or {}).items():
                cols[k] = pa.repeat(pa.scalar(v, pa.string()), t.num_rows)
            for name in t.column_names:
                if name != TIME and name not in cols:
                    cols[name] = t.column(name)
            parts.append(pa.table(cols))
    if not parts:
        return pa.table({MEASUREMENT_COLUMN: pa.array([], pa.string())})
    return pa.concat_tables(parts, promote_options="permissive")
