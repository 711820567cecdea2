"""InfluxDB 3's SQL functions beyond DataFusion, and `iox::column::type` on results.

`register(ctx)` makes a database's SessionContext understand selector_first/last/min/max,
date_bin_wallclock, tz, and date_bin_gapfill with locf/interpolate, and gives every
result the column-type metadata InfluxDB sets. DataFusion's Python bindings have no
hook between parsing and planning, so the context's `sql_with_options` (what
QueryEngine calls) is wrapped: a statement that names none of these functions goes to
DataFusion unchanged; one that does is parsed with sqlglot (the only well-kept SQL
grammar for Python that round-trips DataFusion's dialect), rewritten (typed.py,
gapfill.py) and planned. Column-type metadata comes from each result's logical plan. Errors are ValueErrors with InfluxDB's wording, which
QueryEngine turns into a QueryError (HTTP 400).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlglot
from datafusion import DataFrame, SessionContext, SQLOptions
from sqlglot import exp

from ..column_types import SchemaLookup, plan_kinds, tagged_schema
from .gapfill import aggregate_sql, run_gapfill, uses_fillers, uses_gapfill
from .typed import DIALECT, TypedFunctions, bind_typed_calls, public_name, rewrite_tz

# the names storage/query.py gives the user tables' catalog and schema
CATALOG_NAME = "public"
USER_SCHEMA = "iox"

_EXPLAIN = re.compile(r"^\s*(EXPLAIN(?:\s+ANALYZE)?(?:\s+VERBOSE)?)\s+(.*)$", re.IGNORECASE | re.DOTALL)
_MENTIONS = re.compile(
    r"\b(selector_(first|last|min|max)|date_bin_gapfill|date_bin_wallclock(_gapfill)?|tz|locf|interpolate)\s*\(",
    re.IGNORECASE,
)


class _TaggedBatch:
    """A stream's batch, handed out under the result's schema."""

    def __init__(self, batch: Any, schema: pa.Schema) -> None:
        self._batch = batch
        self._schema = schema

    def to_pyarrow(self) -> pa.RecordBatch:
        return _relabel_batch(self._batch.to_pyarrow(), self._schema)


class _TaggedStream:
    """execute_stream()'s batches under the result's schema; iterable both ways as DataFusion's."""

    def __init__(self, stream: Any, schema: pa.Schema) -> None:
        self._stream = stream
        self._schema = schema

    def __iter__(self) -> "_TaggedStream":
        return self

    def __next__(self) -> _TaggedBatch:
        return _TaggedBatch(next(self._stream), self._schema)

    def __aiter__(self) -> "_TaggedStream":
        return self

    async def __anext__(self) -> _TaggedBatch:
        return _TaggedBatch(await self._stream.__anext__(), self._schema)


def _relabel_batch(rb: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if len(rb.schema) != len(schema):
        return rb
    return pa.RecordBatch.from_arrays(rb.columns, schema=schema)


def _public_schema(schema: pa.Schema, kinds: dict[str, str]) -> pa.Schema:
    """Public names for typed functions (typed.py), then column-type metadata."""
    renamed = pa.schema([f.with_name(public_name(f.name)) for f in schema], metadata=schema.metadata)
    return tagged_schema(renamed, kinds)


class _Result(DataFrame):
    """A DataFrame whose Arrow output, however it is taken (table, batches, stream, schema), has
    the public column names and the column-type metadata of storage/column_types.py."""

    def __init__(self, df: DataFrame, kinds: dict[str, str] | None, tables: SchemaLookup) -> None:
        super().__init__(df.df)
        self._known = kinds
        self._tables = tables

    @property
    def _kinds(self) -> dict[str, str]:
        """Output name -> iox type; read off this statement's plan the first time it is needed."""
        if self._known is None:
            try:
                names = super().schema().names
                found = plan_kinds(self.logical_plan(), self._tables)
                self._known = {public_name(names[i]): k for i, k in found.items()}
            except Exception:  # a plan shape not foreseen: the answer matters more than its labels
                self._known = {}
        return self._known

    def schema(self) -> pa.Schema:
        return _public_schema(super().schema(), self._kinds)

    def to_arrow_table(self) -> pa.Table:
        table = super().to_arrow_table()
        return pa.Table.from_arrays(table.columns, schema=_public_schema(table.schema, self._kinds))

    def collect(self) -> list[pa.RecordBatch]:
        schema = self.schema()
        return [_relabel_batch(b, schema) for b in super().collect()]

    def execute_stream(self) -> Any:
        return _TaggedStream(super().execute_stream(), self.schema())


@dataclass
class InfluxSql:
    """One context's state: the typed functions registered in it so far."""

    ctx: SessionContext
    typed: TypedFunctions = field(init=False)

    def __post_init__(self) -> None:
        self.typed = TypedFunctions(self.ctx)

    def _table_schema(self, name: str) -> pa.Schema | None:
        try:
            table = self.ctx.catalog(CATALOG_NAME).schema(USER_SCHEMA).table(name)
        except Exception:
            return None
        return table.schema if table is not None else None

    def _kinds_of(self, df: DataFrame) -> dict[int, str]:
        return plan_kinds(df.logical_plan(), self._table_schema)

    def run(self, query: str, options: SQLOptions | None, param_values: dict[str, Any] | None) -> DataFrame:
        """What the wrapped `sql_with_options` does."""

        def plan(sql: str) -> DataFrame:
            return SessionContext.sql(self.ctx, sql, options, param_values)

        tables = self._table_schema
        if not _MENTIONS.search(query):
            return _Result(plan(query), None, tables)
        explain = _EXPLAIN.match(query)
        prefix, body = (explain.group(1) + " ", explain.group(2)) if explain else ("", query)
        try:
            tree = sqlglot.parse_one(body, read=DIALECT)
        except Exception:
            return _Result(plan(query), None, tables)  # DataFusion gives its own error
        if not isinstance(tree, exp.Expr):
            return _Result(plan(query), None, tables)
        rewrite_tz(tree)
        bind_typed_calls(tree, plan, self.typed)
        if uses_gapfill(tree):
            bind = lambda t: bind_typed_calls(t, plan, self.typed)  # noqa: E731
            if explain:  # the plan of the aggregate the filling starts from
                return plan(prefix + aggregate_sql(tree, plan, bind))
            filled, kinds = run_gapfill(tree, plan, self._kinds_of, bind)
            return _Result(filled, {public_name(k): v for k, v in kinds.items()}, tables)
        filler = uses_fillers(tree)
        if filler is not None:
            raise ValueError(f"{filler} may only be used in the SELECT list of a gap-filling query")
        return _Result(plan(prefix + tree.sql(dialect=DIALECT)), None, tables)


def register(ctx: SessionContext) -> InfluxSql:
    """Teach `ctx` InfluxDB 3's SQL functions and result metadata (see the module doc)."""
    state = InfluxSql(ctx)

    def sql_with_options(
        query: str, options: SQLOptions, param_values: dict[str, Any] | None = None, **named: Any
    ) -> DataFrame:
        if named:
            return SessionContext.sql(ctx, query, options, param_values, **named)
        return state.run(query, options, param_values)

    ctx.sql_with_options = sql_with_options  # type: ignore[method-assign]
    return state
