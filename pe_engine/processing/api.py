"""The `influxdb3_local` object a plugin receives, and the table batches it reads.

Names, signatures and semantics follow InfluxDB 3 (reference §3): log, query,
queued and synchronous writes, and the cache. Extensions: `query_arrow` and an
`"arrow"` entry in each table batch (zero-copy access to the flushed data).
"""
from __future__ import annotations

import asyncio
import gc
from itertools import repeat
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

if TYPE_CHECKING:
    from ..engine import Engine
    from .cache import TriggerCache

SHUTDOWN_MESSAGE = "influxdb3 is shutting down; aborting plugin execution"


class QueryError(Exception):
    """Raised by `influxdb3_local.query`. Like InfluxDB, plugins can't import it; they test the name."""


def table_to_rows(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """Query results as list[dict]: tags as str, timestamps as int ns, NULL as None."""
    cols = []
    names = table.schema.names
    for name, col in zip(names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64()) if col.type.unit == "ns" else col.cast(pa.timestamp("ns")).cast(pa.int64())
        elif pa.types.is_date(col.type) or pa.types.is_time(col.type) or pa.types.is_duration(col.type):
            col = col.cast(pa.int64())
        cols.append(col.to_pylist())
    return [dict(zip(names, vals)) for vals in zip(*cols)] if cols else []


def _column_values(col: pa.Array) -> list:
    if pa.types.is_dictionary(col.type):
        # Each distinct tag value becomes one str object, shared by every row that has it.
        values = col.dictionary.to_pylist()
        return [None if i is None else values[i] for i in col.indices.to_pylist()]
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return col.to_pylist()


def batch_to_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """WAL rows as InfluxDB hands them to process_writes: only the columns present in each row,
    tags then fields then time, `time` as int ns."""
    names = batch.schema.names
    cols = [_column_values(c) for c in batch.columns]
    has_nulls = any(c.null_count for c in batch.columns)
    # Building 100k dicts makes the cyclic GC scan a growing heap again and again; the rows
    # hold no cycles, so pause it while they are built.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if not has_nulls:
            return list(map(dict, map(zip, repeat(names), zip(*cols))))
        return [{k: v for k, v in zip(names, vals) if v is not None} for vals in zip(*cols)]
    finally:
        if was_enabled:
            gc.enable()


class TableBatch(dict):
    """One entry of `table_batches`: `{"table_name": ..., "rows": [...]}` plus `"arrow"`.

    `rows` is built on first access, so a plugin that only reads the Arrow data
    never pays for Python row dicts. Every ordinary dict access sees `rows`.
    """

    __slots__ = ("_batch",)

    def __init__(self, table_name: str, batch: pa.RecordBatch):
        super().__init__(table_name=table_name, arrow=batch)
        self._batch = batch

    def _materialize(self) -> None:
        if not dict.__contains__(self, "rows"):
            dict.__setitem__(self, "rows", batch_to_rows(self._batch))

    def __missing__(self, key: str) -> Any:
        if key == "rows":
            self._materialize()
            return dict.__getitem__(self, "rows")
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key == "rows" or dict.__contains__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if key == "rows":
            return self["rows"]
        return dict.get(self, key, default)

    def _all(self) -> "TableBatch":
        self._materialize()
        return self

    def keys(self):  # type: ignore[override]
        return dict.keys(self._all())

    def items(self):  # type: ignore[override]
        return dict.items(self._all())

    def values(self):  # type: ignore[override]
        return dict.values(self._all())

    def __iter__(self):
        return dict.__iter__(self._all())

    def __len__(self) -> int:
        return dict.__len__(self._all())

    def __repr__(self) -> str:
        return dict.__repr__(self._all())

    def copy(self) -> dict:  # type: ignore[override]
        return dict(self._all().items())

    @property
    def num_rows(self) -> int:
        return self._batch.num_rows


def _build(line: Any) -> str:
    build = getattr(line, "build", None)
    if build is None:
        raise TypeError("write() expects a LineBuilder (an object with a build() method)")
    text = build()
    if not isinstance(text, str):
        raise TypeError("build() must return a str of line protocol")
    return text


class PluginApi:
    """`influxdb3_local` for one activation."""

    def __init__(
        self,
        *,
        engine: "Engine",
        loop: asyncio.AbstractEventLoop,
        database: str,
        trigger: str,
        cache: "TriggerCache",
        log: Callable[[str, str], None],
        capture_writes: bool = False,
    ):
        self._engine = engine
        self._loop = loop
        self._db = database
        self._trigger = trigger
        self._cache = cache
        self._log = log
        self._queued: dict[str, list[str]] = {}
        self._sync_writes: dict[str, list[str]] = {}
        self._capture = capture_writes  # test runs: collect writes instead of writing
        self.lines_written = 0
        self.cancelled = False

    # -- logging ---------------------------------------------------------------
    def _check(self) -> None:
        if self.cancelled:
            raise KeyboardInterrupt(SHUTDOWN_MESSAGE)

    def info(self, *args: Any) -> None:
        self._check()
        self._log("INFO", " ".join(str(a) for a in args))

    def warn(self, *args: Any) -> None:
        self._check()
        self._log("WARN", " ".join(str(a) for a in args))

    def error(self, *args: Any) -> None:
        self._check()
        self._log("ERROR", " ".join(str(a) for a in args))

    # -- queries ---------------------------------------------------------------
    def _run_query(self, query: str, args: dict | None, database: str | None) -> pa.Table:
        self._check()
        db = self._db if database is None else database
        if not isinstance(db, str) or db not in self._engine.catalog.databases:
            raise QueryError(f"invalid database name provided: {db}")
        if args is not None:
            if not isinstance(args, dict):
                raise TypeError("query args must be a dict of str to str")
            for k, v in args.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"query argument '{k}' must be a str, got {type(v).__name__}")
        try:
            return self._engine.query_sync(db, query, args)
        except Exception as e:
            raise QueryError(f"error: {e} executing query on {db}: {query}") from None

    def query(self, query: str, args: dict[str, str] | None = None, database: str | None = None) -> list[dict]:
        return table_to_rows(self._run_query(query, args, database))

    def query_arrow(self, query: str, args: dict[str, str] | None = None, database: str | None = None) -> pa.Table:
        """Extension: the result as a pyarrow.Table, no conversion to Python objects."""
        return self._run_query(query, args, database)

    # -- writes ----------------------------------------------------------------
    def _target(self, db_name: str) -> str:
        if not isinstance(db_name, str) or not db_name:
            raise ValueError("database name must be a non-empty str")
        if db_name == "_internal":
            raise ValueError("writes to the _internal database are not allowed")
        return db_name

    def write(self, line: Any) -> None:
        self._check()
        self._queued.setdefault(self._db, []).append(_build(line))

    def write_to_db(self, db_name: str, line: Any) -> None:
        self._check()
        self._queued.setdefault(self._target(db_name), []).append(_build(line))

    def write_sync(self, line: Any, no_sync: bool) -> None:
        self._write_now(self._db, line, no_sync)

    def write_sync_to_db(self, db_name: str, line: Any, no_sync: bool) -> None:
        self._write_now(self._target(db_name), line, no_sync)

    def _write_now(self, db: str, line: Any, no_sync: bool) -> None:
        self._check()
        if not isinstance(no_sync, bool):
            raise TypeError("no_sync is required and must be a bool")
        text = _build(line)
        if self._capture:
            self._sync_writes.setdefault(db, []).append(text)
            return
        fut = asyncio.run_coroutine_threadsafe(
            self._engine.write_lp(db, text, "ns", accept_partial=False, no_sync=no_sync), self._loop
        )
        try:
            result = fut.result()
        except Exception as e:
            raise Exception(f"error writing line protocol to {db}: {e}") from None
        if result.errors:
            raise Exception(f"error writing line protocol to {db}: {result.errors[0].message}")
        self.lines_written += text.count("\n") + 1

    @property
    def cache(self) -> "TriggerCache":
        self._cache._store.maybe_sweep()  # reading `cache` sweeps expired entries, at most every 10 s
        return self._cache

    # -- used by the executor after the call -------------------------------------
    def take_queued(self) -> dict[str, list[str]]:
        q, self._queued = self._queued, {}
        return q

    def captured_writes(self) -> dict[str, list[str]]:
        """Test runs: sync writes first, then queued ones (reference §3.3)."""
        out: dict[str, list[str]] = {}
        for src in (self._sync_writes, self._queued):
            for db, lines in src.items():
                for text in lines:
                    out.setdefault(db, []).extend(text.split("\n"))
        return out
