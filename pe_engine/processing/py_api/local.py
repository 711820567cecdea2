"""The `influxdb3_local` object a plugin receives.

Names, signatures and semantics follow InfluxDB 3 (reference §3): log, query,
queued and synchronous writes, and the cache. Extensions: `query_arrow` and an
`"arrow"` entry in each table batch (zero-copy access to the flushed data).
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import pyarrow as pa

from ..ports import PluginHost
from .batches import table_to_rows
from .cache import TriggerCache

__all__ = ["SHUTDOWN_MESSAGE", "QueryError", "PluginApi", "build_line", "target_database"]

SHUTDOWN_MESSAGE = "influxdb3 is shutting down; aborting plugin execution"


class QueryError(Exception):
    """Raised by `influxdb3_local.query`. Like InfluxDB, plugins can't import it; they test the name."""


def build_line(line: Any) -> str:
    build = getattr(line, "build", None)
    if build is None:
        raise TypeError("write() expects a LineBuilder (an object with a build() method)")
    text = build()
    if not isinstance(text, str):
        raise TypeError("build() must return a str of line protocol")
    return text


def target_database(db_name: Any) -> str:
    """The database a `*_to_db` write names, checked as InfluxDB checks it."""
    if not isinstance(db_name, str) or not db_name:
        raise ValueError("database name must be a non-empty str")
    if db_name == "_internal":
        raise ValueError("writes to the _internal database are not allowed")
    return db_name


class PluginApi:
    """`influxdb3_local` for one activation."""

    def __init__(
        self,
        *,
        host: PluginHost,
        loop: asyncio.AbstractEventLoop,
        database: str,
        trigger: str,
        cache: TriggerCache,
        log: Callable[[str, str], None],
        capture_writes: bool = False,
    ):
        self._host = host
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
        if not isinstance(db, str) or db not in self._host.catalog.databases:
            raise QueryError(f"invalid database name provided: {db}")
        if args is not None:
            if not isinstance(args, dict):
                raise TypeError("query args must be a dict of str to str")
            for k, v in args.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"query argument '{k}' must be a str, got {type(v).__name__}")
        try:
            return self._host.query_sync(db, query, args)
        except Exception as e:
            raise QueryError(f"error: {e} executing query on {db}: {query}") from None

    def query(self, query: str, args: dict[str, str] | None = None, database: str | None = None) -> list[dict]:
        return table_to_rows(self._run_query(query, args, database))

    def query_arrow(self, query: str, args: dict[str, str] | None = None, database: str | None = None) -> pa.Table:
        """Extension: the result as a pyarrow.Table, no conversion to Python objects."""
        return self._run_query(query, args, database)

    # -- writes ----------------------------------------------------------------
    def write(self, line: Any) -> None:
        self._check()
        self._queued.setdefault(self._db, []).append(build_line(line))

    def write_to_db(self, db_name: str, line: Any) -> None:
        self._check()
        self._queued.setdefault(target_database(db_name), []).append(build_line(line))

    def write_sync(self, line: Any, no_sync: bool) -> None:
        self._write_now(self._db, line, no_sync)

    def write_sync_to_db(self, db_name: str, line: Any, no_sync: bool) -> None:
        self._write_now(target_database(db_name), line, no_sync)

    def _write_now(self, db: str, line: Any, no_sync: bool) -> None:
        self._check()
        if not isinstance(no_sync, bool):
            raise TypeError("no_sync is required and must be a bool")
        text = build_line(line)
        if self._capture:
            self._sync_writes.setdefault(db, []).append(text)
            return
        fut = asyncio.run_coroutine_threadsafe(
            self._host.write_lp(db, text, "ns", accept_partial=False, no_sync=no_sync), self._loop
        )
        try:
            result = fut.result()
        except Exception as e:
            raise Exception(f"error writing line protocol to {db}: {e}") from None
        if result.errors:
            raise Exception(f"error writing line protocol to {db}: {result.errors[0].message}")
        self.lines_written += text.count("\n") + 1

    @property
    def cache(self) -> TriggerCache:
        self._cache._store.maybe_sweep()  # reading `cache` sweeps expired entries, at most every 10 s
        return self._cache

    # -- used by the executor after the call -------------------------------------
    def queue_texts(self, queued: dict[str, list[str]]) -> None:
        """Writes a worker process queued (already built and checked there), in their order."""
        for db, texts in queued.items():
            self._queued.setdefault(db, []).extend(texts)

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
