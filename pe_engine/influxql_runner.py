"""What InfluxQL needs from the engine, for every caller (HTTP `/query`, `/api/v3/query_influxql`, Flight):
the catalog as the planner's schema source, and governed SQL (timeouts, cancels, memory limit)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from .errors import QueryError
from .influxql.context import FieldKind, MeasurementSchema, QueryContext
from .influxql.errors import InfluxQLError
from .influxql.executor import run_query
from .influxql.parser import parse_query
from .influxql.service import administers, as_table
from .influxql.sqlgen import ident
from .lineprotocol.types import FieldType
from .storage.query_governor import QueryCancelled

_KINDS = {FieldType.FLOAT: FieldKind.FLOAT, FieldType.INT: FieldKind.INTEGER, FieldType.UINT: FieldKind.UNSIGNED,
          FieldType.STRING: FieldKind.STRING, FieldType.BOOL: FieldKind.BOOLEAN}


class CatalogSchema:
    """The planner's view of the engine's catalog."""

    def __init__(self, engine: Any, gone: Callable[[], bool] = lambda: False) -> None:
        self._engine = engine
        self._catalog = engine.catalog
        self._gone = gone

    def databases(self) -> list[str]:
        return sorted(self._catalog.databases)

    def measurements(self, db: str) -> list[str]:
        d = self._catalog.databases.get(db)
        return sorted(d.tables) if d is not None else []

    def schema(self, db: str, measurement: str) -> MeasurementSchema | None:
        d = self._catalog.databases.get(db)
        t = d.tables.get(measurement) if d is not None else None
        if t is None:
            return None
        tags = tuple(c.name for c in t.columns.values() if c.kind == "tag")
        fields = {c.name: _KINDS[c.field_type] for c in t.columns.values() if c.kind == "field" and c.field_type is not None}
        return MeasurementSchema(measurement, tags, fields)

    def tag_values(self, db: str, measurement: str, tag: str) -> list[str] | None:
        """From the engine's tag value index (one scan the first time), or None: scan."""
        sql = f"SELECT DISTINCT CAST({ident(tag)} AS VARCHAR) AS v FROM {ident(measurement)} WHERE {ident(tag)} IS NOT NULL"
        run = sql_runner(self._engine, self._gone)
        return self._engine.tag_values.values(db, measurement, tag, lambda: run(db, sql).column("v").to_pylist())


def sql_runner(engine: Any, gone: Callable[[], bool]) -> Callable[[str, str], pa.Table]:
    """SQL through the engine's query governor; `gone` says the caller has left (stops the query)."""
    def run(db: str, sql: str) -> pa.Table:
        try:
            return engine.query_sync(db, sql, poll=gone)
        except QueryCancelled:
            raise
        except QueryError as e:
            if type(e).status == 400:  # the statement's own fault: a statement error, as 1.x
                raise InfluxQLError(str(e)) from None
            raise
    return run


def influxql_table(engine: Any, db: str, text: str, gone: Callable[[], bool],
                   params: dict[str, object] | None = None) -> pa.Table:
    """A whole InfluxQL query as one table, as InfluxDB 3 answers over Flight and query_influxql.
    Runs on the caller's thread; CREATE/DROP DATABASE are refused here (they need the loop)."""
    query = parse_query(text)
    if administers(query):
        raise InfluxQLError("CREATE DATABASE and DROP DATABASE are not supported here: use /query or the HTTP API")
    ctx = QueryContext(database=db, schema=CatalogSchema(engine, gone), run_sql=sql_runner(engine, gone),
                       now_ns=time.time_ns(), params=params or {})
    return as_table(run_query(query, ctx))
