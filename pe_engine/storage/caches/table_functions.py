"""The SQL table functions `last_cache('<table>'[, '<name>'])` and `distinct_cache(...)`.

Registered in every database's DataFusion context (DataFusion's Python UDTFs) through the
QueryEngine hooks: `on_session` adds one function per cache kind, and `prepare`, called
before planning, resolves the statement's cache calls with the key predicates sql_pushdown
can read from the text. The functions then return what `prepare` looked up (per thread).
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from datafusion import SessionContext, udtf
from datafusion.catalog import Table

from ...errors import QueryError
from ..catalog import TableDef
from .base import CacheKind, ValueCache
from .sql_pushdown import find_calls, lookup_args, simple_shape, tokenize

# (kind, db, table, name) -> the cache and its table; QueryError when there is none
Resolve = Callable[[CacheKind, str, str, "str | None"], tuple[ValueCache, TableDef]]


class CacheFunctions:
    """A QueryEngine hook (`on_session`, `prepare`)."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve
        self._tl = threading.local()
        self._helper = SessionContext()

    def on_session(self, db: str, ctx: SessionContext) -> None:
        """A new DataFusion context for `db` gets one table function per cache kind."""
        for kind in CacheKind:
            ctx.register_udtf(udtf(self._table_function(kind, db), kind.function))

    def _table_function(self, kind: CacheKind, db: str) -> Callable[..., Table]:
        def call(*args: Any) -> Table:
            table, name = _literal_args(args)
            prepared = getattr(self._tl, "prepared", None)
            if prepared:
                hit = prepared.get((kind, table, name))
                if hit is not None:
                    return hit
            cache, tdef = self._resolve(kind, db, table, name)
            data = cache.read(tdef)
            # No MemTable here: building one needs DataFusion's runtime, which is busy planning.
            return Table(ds.InMemoryDataset(data.to_batches() or [_empty_batch(data.schema)], schema=data.schema))

        return call

    def prepare(self, db: str, sql: str, params: dict[str, pa.Scalar]) -> None:
        """Before planning: resolve the cache calls of `sql` and look them up with whatever key
        predicates can be read safely from the text (see sql_pushdown)."""
        self._tl.prepared = None
        low = sql.lower()
        if not any(k.function in low for k in CacheKind):
            return
        toks = tokenize(sql)
        if toks is None:
            return
        calls = find_calls(toks)
        if not calls:
            return
        shape = simple_shape(toks, calls[0]) if len(calls) == 1 else None
        prepared: dict[tuple[CacheKind, str, str | None], Table] = {}
        for call in calls:
            if call.table is None:
                continue  # arguments are not plain strings: the table function decides
            cache, tdef = self._resolve(call.kind, db, call.table, call.name)
            predicates, depth = lookup_args(shape, cache.filter_columns, cache.hierarchy, tdef, params)
            data = cache.read(tdef, predicates, depth=depth)
            prepared[(call.kind, call.table, call.name)] = self._memtable(data)
        self._tl.prepared = prepared

    def _memtable(self, data: pa.Table) -> Table:
        name = f"c{uuid.uuid4().hex}"
        batches = data.to_batches() or [_empty_batch(data.schema)]
        self._helper.register_record_batches(name, [batches])
        try:
            return self._helper.catalog().schema().table(name)
        finally:
            self._helper.deregister_table(name)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _literal_args(args: tuple) -> tuple[str, str | None]:
    """The (table, name) a table function was called with, as InfluxDB checks them."""

    def text(arg: Any) -> str | None:
        try:
            v = arg.to_variant()
            if v.data_type() in ("Utf8", "Utf8View", "LargeUtf8"):
                return v.value_string()
        except Exception:
            pass
        return None

    if not args or len(args) > 2:
        raise QueryError("the cache functions take a table name and an optional cache name")
    table = text(args[0])
    if table is None:
        raise QueryError("first argument must be the table name as a string")
    name = None
    if len(args) == 2:
        name = text(args[1])
        if name is None:
            raise QueryError("second argument, if passed, must be the cache name as a string")
    return table, name
