"""SQL over a database's memory batches and Parquet files, through DataFusion.

One SessionContext per database, laid out like InfluxDB 3: catalog `public`,
user tables in schema `iox` (the default, so `cpu` and `iox.cpu` both work),
`system.<name>` tables from the `SystemTables` registry, and DataFusion's
`information_schema`. A table is re-registered only when its buffer version
or catalog schema moved. Its provider (storage/sources.py) gives one row per
series key and time. Parquet files of a table's newest day are kept decoded
within the `--parquet-mem-cache-size` budget (storage/file_cache.py); all
others are streamed from disk, files a time predicate excludes never opened.

Governance (storage/query_governor.py): every query is admitted by the `QueryGovernor` (a
bounded number at once, a bounded queue), runs in a DataFusion context of its own whose memory
pool is the per-query limit (spilling to disk where DataFusion can), and is pulled batch by
batch through `execute_stream` on a private asyncio loop, so cancelling it (timeout, client
gone) drops the stream mid-flight and DataFusion's tasks stop at their next batch. The
per-database lock is held only while the registrations are brought up to date; planning and
execution of a database's queries run in parallel.
"""
from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Protocol

import pyarrow as pa
import pyarrow.fs as pafs
from datafusion import DataFrame, RuntimeEnvBuilder, SessionConfig, SessionContext, SQLOptions
from datafusion.catalog import Schema, Table

from ..errors import QueryError
from .batch import widen
from .buffer import BufferStore, MemBatch, TableData, TableView
from .catalog import Catalog
from .retention import retained_view
from .file_cache import DEFAULT_PARQUET_MEM_CACHE_BYTES, DecodedFiles
from .parquet_meta import FileRecord
from .partitions import DAY_NS
from .query_governor import (
    POLL_SECONDS,
    QueryGovernor,
    QueryHandle,
    QueryLimits,
    QueryMemoryExceeded,
    QueryPhase,
    QueryStatus,
)
from .sources import SEQ, ProviderBuilder, build_sources, keys_disjoint, seq_column
from .sqlfn import register as register_sql_functions
from .system_tables import SystemTables

CATALOG_NAME = "public"
USER_SCHEMA = "iox"
SYSTEM_SCHEMA = "system"
INTERNAL_DB = "_internal"
DEFAULT_PARQUET_CACHE_BYTES = DEFAULT_PARQUET_MEM_CACHE_BYTES  # the old name

_MENTIONS_SYSTEM = re.compile(r'\bsystem"?\s*\.', re.IGNORECASE)
_MENTIONS_METADATA = re.compile(r"information_schema|\bshow\b", re.IGNORECASE)
# DataFusion 55 renders time units tersely ("Timestamp(ns)"); InfluxDB 3 clients
# (and plugins that compare strings) expect the older "Timestamp(Nanosecond, None)".
_UNITS = {"s": "Second", "ms": "Millisecond", "us": "Microsecond", "µs": "Microsecond", "ns": "Nanosecond"}
_SHORT_UNITS = {"Second": "s", "Millisecond": "ms", "Microsecond": "µs", "Nanosecond": "ns"}
_DF_TIME_TYPE = re.compile(r'(Timestamp|Time32|Time64|Duration)\((s|ms|us|µs|ns)(?:, "([^"]*)")?\)')
_INFLUX_TIME_TYPE = re.compile(r"(Timestamp|Time32|Time64|Duration)\((Second|Millisecond|Microsecond|Nanosecond)(?:, None)?\)")


def influx_type_name(datafusion_name: str) -> str:
    """DataFusion's data_type text -> InfluxDB 3's (arrow-rs before the terse time units)."""

    def sub(m: re.Match) -> str:
        kind, unit, tz = m.group(1), _UNITS[m.group(2)], m.group(3)
        if kind != "Timestamp":
            return f"{kind}({unit})"
        zone = "None" if tz is None else 'Some("' + tz + '")'
        return f"{kind}({unit}, {zone})"

    return _DF_TIME_TYPE.sub(sub, datafusion_name)


def _datafusion_type_name(text: str) -> str:
    """Inverse of influx_type_name for literals a query compares `data_type` with."""
    return _INFLUX_TIME_TYPE.sub(lambda m: f"{m.group(1)}({_SHORT_UNITS[m.group(2)]})", text)


def _scalar(name: str, value: object) -> pa.Scalar:
    """A `$name` parameter value as an Arrow scalar (str, int, float, bool or None)."""
    if isinstance(value, pa.Scalar):
        return value
    if value is None:
        return pa.scalar(None)
    if isinstance(value, bool):
        return pa.scalar(value, pa.bool_())
    if isinstance(value, int):
        return pa.scalar(value, pa.uint64() if value > 2**63 - 1 else pa.int64())
    if isinstance(value, float):
        return pa.scalar(value, pa.float64())
    if isinstance(value, str):
        return pa.scalar(value, pa.string())
    raise QueryError(f"query parameter '{name}' has unsupported type {type(value).__name__}")


@dataclass
class _TableState:
    """What is registered for one table, plus widened batches reusable next time."""

    schema: pa.Schema
    version: int
    source: TableData | None = None  # identity matters too: a recreated table restarts its version
    files: tuple[str, ...] = ()
    records: tuple[FileRecord, ...] = ()
    mem: tuple[MemBatch, ...] = ()
    memory: dict[int, tuple[pa.RecordBatch, pa.RecordBatch]] = field(default_factory=dict)  # id(narrow) -> (narrow, wide)
    seqd: dict[int, tuple[pa.RecordBatch, pa.RecordBatch]] = field(default_factory=dict)  # id(narrow) -> (narrow, wide + _seq)
    parquet: dict[str, tuple[pa.RecordBatch, ...] | None] = field(default_factory=dict)  # None = streamed from disk
    disjoint: dict[frozenset[int], bool] = field(default_factory=dict)  # overlapping batches without a common point
    provider: Table | None = None  # what queries register for this table until the state changes


@dataclass
class _DbSession:
    """A database's registrations, brought up to date under `lock` by each query (`_sync`);
    each query then plans and runs in a context of its own over a snapshot of the providers."""

    db_id: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    tables: dict[str, _TableState] = field(default_factory=dict)


def _same(a: pa.Schema, b: pa.Schema) -> bool:
    return a is b or a.equals(b)


def _snapshot(td: TableData | None, schema: pa.Schema) -> tuple[int, TableView | None]:
    """A view plus a version no newer than it (appends happen on another thread)."""
    if td is None:
        return -1, None
    for _ in range(3):
        version = td.version
        view = td.view(schema)
        if td.version == version:
            break
    return version, view


class QueryHook(Protocol):
    """An extension of every database's SQL context."""

    def on_session(self, db: str, ctx: SessionContext) -> None:
        """A new DataFusion context for `db` was made (register functions here)."""

    def prepare(self, db: str, sql: str, params: dict[str, pa.Scalar]) -> None:
        """Right before `sql` is planned, on the thread that plans it."""


class QueryEngine:
    """Runs SQL; safe to call from many threads at once, on one database or several."""

    def __init__(
        self,
        catalog: Catalog,
        buffers: BufferStore,
        system_tables: SystemTables | None = None,
        *,
        parquet_cache_bytes: int = DEFAULT_PARQUET_MEM_CACHE_BYTES,
        target_partitions: int | None = None,
        fs: pafs.FileSystem | None = None,
        limits: QueryLimits | None = None,
        governor: QueryGovernor | None = None,
    ) -> None:
        self.catalog = catalog
        self.buffers = buffers
        self.system_tables = system_tables or SystemTables()
        self.partitions = max(1, target_partitions or os.cpu_count() or 1)
        self.fs = fs or pafs.LocalFileSystem()
        self._parquet = DecodedFiles(parquet_cache_bytes, self.fs)
        self._sessions: dict[str, _DbSession] = {}
        self._lock = threading.Lock()
        self._running: dict[object, list[tuple[str, ...]] | None] = {}  # query -> files it pinned
        self._helper = SessionContext()  # builds table providers without naming them in a user context
        self._builder = ProviderBuilder(self._helper, self.fs, self.partitions)
        self._options = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        # Extensions (the value caches' table functions, storage/caches/table_functions.py).
        self.hooks: list[QueryHook] = []
        # admission, limits and the registry behind system.queries (in every database)
        self.governor = governor or QueryGovernor(limits)
        self.system_tables.register("queries", self.governor.table)

    # -- public ----------------------------------------------------------
    def execute(
        self,
        db: str,
        sql: str,
        params: dict[str, object] | None = None,
        *,
        timeout: float | None = None,
        poll: Callable[[], bool] | None = None,
        handle: QueryHandle | None = None,
    ) -> pa.Table:
        """Run one read-only statement; DatabaseNotFound / QueryError on failure.

        `timeout` (seconds) and `poll` (True once the caller is gone, e.g. a Flight call's
        is_cancelled) stop the query where it is; a caller that opened `handle` itself (to
        cancel it from another thread) passes it instead. Blocks while the query waits for a
        slot; QueryRejected when the queue is full."""
        h = handle or self.governor.open(db, sql, timeout=timeout, poll=poll)
        try:
            self.governor.admit(h)
            try:
                table = self._execute(db, sql, params, h)
            finally:
                self.governor.release(h)
        except BaseException as e:
            self.governor.finish(h, e)
            raise
        self.governor.finish(h, None)
        return table

    def _execute(self, db: str, sql: str, params: dict[str, object] | None, h: QueryHandle) -> pa.Table:
        # `_internal` holds no data, only the system tables (InfluxDB serves plugin_files there).
        db_id = INTERNAL_DB if db == INTERNAL_DB else self.catalog.get_db(db).id
        session = self._session(db, db_id)
        metadata = bool(_MENTIONS_METADATA.search(sql))
        system = self.system_tables.build(db) if metadata or _MENTIONS_SYSTEM.search(sql) else None
        values = {k: _scalar(k, v) for k, v in (params or {}).items()}
        if metadata:
            sql = _datafusion_type_name(sql)
            values = {
                k: pa.scalar(_datafusion_type_name(v.as_py())) if pa.types.is_string(v.type) and v.is_valid else v
                for k, v in values.items()
            }
        token = object()
        with self._lock:
            self._running[token] = None  # planning: every file may be in use
        try:
            with session.lock:
                self._sync(session, db)
                providers = {name: state.provider for name, state in session.tables.items()}
                pinned = [state.files for state in session.tables.values()]
            with self._lock:  # the files this query's providers read, until it ends
                self._running[token] = pinned
            h.record.parquet_files = sum(len(files) for files in pinned)
            h.check()
            ctx = self._new_session(db, providers, system)
            for hook in self.hooks:
                hook.prepare(db, sql, values)
            # Only the stream may keep the plan alive: a DataFrame caches its physical plan, and a
            # join's build side runs on inside it, so no frame of a stopped query may hold one
            # (an exception's traceback keeps its frames).
            plan = [ctx.sql_with_options(sql, self._options, param_values=values)]
            h.record.plan_s = time.monotonic() - h.record.started - (h.record.permit_s or 0.0)
            h.record.phase = QueryPhase.PLANNED
            h.check()
            table = self._collect(plan, h)
            return _fix_type_names(table) if metadata else table
        except QueryError:
            raise
        except Exception as e:  # DataFusion raises ValueError/Exception with its own message
            if "Resources exhausted" in str(e):
                raise self._memory_error(str(e)) from None
            raise QueryError(str(e)) from e
        finally:
            with self._lock:
                self._running.pop(token, None)

    def _memory_error(self, detail: str) -> QueryMemoryExceeded:
        limit = self.governor.limits.memory_limit
        return QueryMemoryExceeded(
            f"query exceeded its memory limit of {limit} bytes (--query-memory-limit): {detail.strip()}"
        )

    # -- execution -------------------------------------------------------
    def _collect(self, plan: list[DataFrame], h: QueryHandle) -> pa.Table:
        """Pull the answer batch by batch; a cancel drops the stream where it is.

        Each batch is awaited through the stream's `__anext__` on a private event loop, so the
        wait can be abandoned from another thread (`QueryHandle.cancel` cancels the task). The
        batches are then no longer awaited and the stream is dropped, which aborts DataFusion's
        tasks: the query's cores are free within one batch. The blocking `next()` could only be
        interrupted by a signal in the main thread, checked once a second."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._collect_here(plan, h)
        # A caller on an event loop's thread (a test, an embedding host): a thread of its own.
        out: list[pa.Table | BaseException] = []

        def run() -> None:
            try:
                out.append(self._collect_here(plan, h))
            except BaseException as e:
                out.append(e)

        t = threading.Thread(target=run, name="pe-query-collect", daemon=True)
        t.start()
        t.join()
        if isinstance(out[0], BaseException):
            raise out[0]
        return out[0]

    def _collect_here(self, plan: list[DataFrame], h: QueryHandle) -> pa.Table:
        df = plan.pop()
        schema = df.schema()
        limit = self.governor.limits.memory_limit
        streams = [df.execute_stream()]  # the only reference left once `pull` ends
        del df
        t0 = time.monotonic()
        loop = asyncio.new_event_loop()
        batches: list[pa.RecordBatch] = []

        async def pull() -> None:
            held = 0
            async for batch in streams[0]:
                rb = batch.to_pyarrow()
                if not rb.num_rows:
                    continue
                held += rb.nbytes
                if held > limit:
                    raise self._memory_error(f"the answer needs more than {limit} bytes")
                batches.append(rb)
                h.record.rows += rb.num_rows
                h.record.max_memory = held

        async def watch(task: asyncio.Task) -> None:
            while not task.done():  # the caller's poll (Flight's is_cancelled) and the deadline
                if h.poll is not None and h.poll():
                    h.cancel(QueryStatus.CANCELLED)
                await asyncio.sleep(POLL_SECONDS)

        # Nothing raised from here may keep `pull`'s frame (its stream) alive through a traceback,
        # nor the task (a cancelled task keeps its CancelledError): the stream must be dropped.
        failure: BaseException | None = None
        tasks = [loop.create_task(pull())]
        try:

            def stop() -> None:  # from any thread
                try:
                    loop.call_soon_threadsafe(tasks[0].cancel)
                except (RuntimeError, IndexError):  # the query ended meanwhile
                    pass

            undo = h.on_cancel(stop)
            left = h.remaining()
            timer = loop.call_later(max(0.0, left), h.cancel, QueryStatus.TIMEOUT) if left is not None else None
            watcher = loop.create_task(watch(tasks[0])) if h.poll is not None else None
            try:
                loop.run_until_complete(tasks[0])
            except asyncio.CancelledError:
                failure = h.stop_error()
            except BaseException as e:
                failure = e.with_traceback(None)
            finally:
                undo()
                if timer is not None:
                    timer.cancel()
                if watcher is not None:
                    watcher.cancel()
                loop.run_until_complete(asyncio.sleep(0))  # let the cancelled batch wait see it
        finally:
            tasks.clear()
            streams.clear()  # dropping the stream aborts DataFusion's tasks when the query stopped early
            loop.close()
        if failure is not None:
            raise failure
        h.record.execute_s = time.monotonic() - t0
        if not batches:
            return schema.empty_table()
        return pa.Table.from_batches(batches)

    def files_in_use(self) -> set[str] | None:
        """Parquet paths running queries may read; None when a query is being planned (any)."""
        with self._lock:
            pins = list(self._running.values())
        if any(p is None for p in pins):
            return None
        return {path for pin in pins if pin is not None for files in pin for path in files}

    def forget(self, db: str) -> None:
        """Drop a database's context and cached files (after the database is deleted)."""
        with self._lock:
            session = self._sessions.pop(db, None)
        if session is not None:
            with session.lock:
                self._release_all(session)

    @property
    def parquet_cache_bytes(self) -> int:
        return self._parquet.bytes

    # -- sessions --------------------------------------------------------
    def _session(self, db: str, db_id: str) -> _DbSession:
        with self._lock:
            session = self._sessions.get(db)
            if session is not None and session.db_id == db_id:
                return session
            stale, session = session, _DbSession(db_id)
            self._sessions[db] = session
        if stale is not None:  # same name, new database: nothing of the old one may leak
            with stale.lock:
                self._release_all(stale)
        return session

    def _new_session(
        self, db: str, providers: dict[str, Table | None], system: dict[str, pa.Table] | None
    ) -> SessionContext:
        """One query's context: its own memory pool (the per-query limit, spilling to disk where
        DataFusion can), the user tables of the snapshot `_sync` took, the system tables."""
        config = (
            SessionConfig()
            .with_information_schema(True)
            .with_default_catalog_and_schema(CATALOG_NAME, USER_SCHEMA)
            .with_target_partitions(self.partitions)
        )
        runtime = RuntimeEnvBuilder().with_fair_spill_pool(self.governor.limits.memory_limit).with_disk_manager_os()
        ctx = SessionContext(config, runtime)
        register_sql_functions(ctx)  # InfluxDB 3's SQL functions and result metadata (storage/sqlfn)
        cat = ctx.catalog(CATALOG_NAME)
        user = cat.schema(USER_SCHEMA)
        for name, provider in providers.items():
            if provider is not None:
                user.register_table(name, provider)
        schema = Schema.memory_schema()
        cat.register_schema(SYSTEM_SCHEMA, schema)
        for name, table in (system or {}).items():
            schema.register_table(name, self._view(table))
        for hook in self.hooks:
            hook.on_session(db, ctx)
        return ctx

    def _release_all(self, session: _DbSession) -> None:
        for state in session.tables.values():
            self._parquet.evict(state.files)
        session.tables.clear()

    # -- user tables -----------------------------------------------------
    def _sync(self, session: _DbSession, db: str) -> None:
        """Bring the context's user tables in line with the catalog and buffers."""
        dbdef = self.catalog.databases.get(db)
        tables = list(dbdef.tables.items()) if dbdef is not None else []
        data = self.buffers.dbs.get(db, {})
        for name, tdef in tables:
            schema = tdef.arrow_schema
            td = data.get(name)
            version, view = _snapshot(td, schema)
            old = session.tables.get(name)
            if old is not None and old.source is td and old.version == version and _same(old.schema, schema):
                continue
            state = self._build_state(schema, version, view, old if old is not None and old.source is td else None)
            state.source = td
            provider = self._provider(state)
            if dbdef is not None and dbdef.retention_period_ns is not None:  # rows past retention: never shown
                provider = retained_view(self._helper, provider, dbdef.retention_period_ns)
            state.provider = provider
            session.tables[name] = state
        live = {name for name, _ in tables}
        for name in [n for n in session.tables if n not in live]:
            self._parquet.evict(session.tables.pop(name).files)

    def _build_state(
        self, schema: pa.Schema, version: int, view: TableView | None, old: _TableState | None
    ) -> _TableState:
        """Widen what changed; reuse widened batches and files from the previous state."""
        reuse = old is not None and _same(old.schema, schema)
        state = _TableState(schema, version)
        if view is None:
            return state
        prev_memory = old.memory if reuse and old is not None else {}
        prev_seqd = old.seqd if reuse and old is not None else {}
        prev_parquet = old.parquet if reuse and old is not None else {}
        if reuse and old is not None:
            live = {id(m.batch) for m in view.mem}
            state.disjoint = {k: v for k, v in old.disjoint.items() if k <= live}
        for m in view.mem:
            batch = m.batch
            hit = prev_memory.get(id(batch))
            state.memory[id(batch)] = hit if hit is not None and hit[0] is batch else (batch, widen(batch, schema))
            seqd = prev_seqd.get(id(batch))
            if seqd is not None and seqd[0] is batch:
                state.seqd[id(batch)] = seqd
        newest = max((f.max_time for f in view.files if f.known_range), default=None)
        for f in view.files:
            if f.path in prev_parquet:
                state.parquet[f.path] = prev_parquet[f.path]
                continue
            hot = newest is None or not f.known_range or f.max_time >= newest - DAY_NS
            table = self._parquet.get(f.path, admit=hot)
            state.parquet[f.path] = None if table is None else tuple(
                widen(b, schema) for b in table.to_batches() if b.num_rows
            )
        state.mem = view.mem
        state.records = view.files
        state.files = tuple(f.path for f in view.files)
        return state

    def _provider(self, state: _TableState) -> Table:
        """Clean sources as they are, overlapping ones deduplicated (storage/sources.py)."""
        sources = build_sources(state.mem, state.records, lambda f: state.parquet.get(f.path))

        def wide(m: MemBatch) -> pa.RecordBatch:
            return state.memory[id(m.batch)][1]

        def with_seq(m: MemBatch) -> pa.RecordBatch:
            hit = state.seqd.get(id(m.batch))
            if hit is None:
                w = wide(m)
                hit = state.seqd[id(m.batch)] = (m.batch, w.append_column(SEQ, seq_column(w, m.seq)))
            return hit[1]

        def disjoint(mems: list[MemBatch]) -> bool:
            key = frozenset(id(m.batch) for m in mems)
            hit = state.disjoint.get(key)
            if hit is None:  # once per set of overlapping batches, not per query
                hit = state.disjoint[key] = keys_disjoint([wide(m) for m in mems])
            return hit

        return self._builder.build(state.schema, sources, wide, with_seq, disjoint)

    def _memtable(self, schema: pa.Schema, batches: list[pa.RecordBatch]) -> Table:
        return self._builder.memtable(schema, batches)

    # -- system tables ---------------------------------------------------
    def _view(self, table: pa.Table) -> Table:
        name = f"v{uuid.uuid4().hex}"
        batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
        self._helper.register_record_batches(name, [batches])
        try:
            return self._helper.table(name).into_view()
        finally:
            self._helper.deregister_table(name)


def _fix_type_names(table: pa.Table) -> pa.Table:
    """Rewrite `data_type` columns of information_schema / SHOW results to InfluxDB 3's text."""
    for i, f in enumerate(table.schema):
        if f.name == "data_type" and pa.types.is_string(f.type):
            values = [None if v is None else influx_type_name(v) for v in table.column(i).to_pylist()]
            table = table.set_column(i, f, pa.array(values, f.type))
    return table
