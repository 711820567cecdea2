"""Engine: lifecycle and wiring of the storage engine and, when configured, processing.

It builds the parts (catalog, WAL, buffers, store, query, value caches, writer, persister)
and hands each the few collaborators it needs; the work is theirs. A write end to end:
storage/ingest.py (parse, validate, build Arrow) -> storage/writer.py (pending batch, one WAL
record per flush interval, flush subscribers) -> storage/persist.py (Parquet snapshots).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from .config import EngineConfig
from .errors import StorageError, TableNotFound
from .events import DatabaseChanged, EngineLog, EventBus
from .fork_guard import guard_after_fork
from .storage.buffer import BufferStore
from .storage.caches import ValueCaches
from .storage.catalog import Catalog
from .storage.doomed import grace_for
from .storage.tag_values import TagValueIndex
from .storage.catalog_tables import databases_provider, tables_provider
from .storage.compaction import Compactor
from .storage.flush import FlushedWrites, FlushSubscriber
from .storage.ingest import Ingest
from .storage.partitions import fill_time_ranges
from .storage.persist import Persister, safe_name
from .storage.query import QueryEngine
from .storage.query_governor import QueryLimits, QueryStatus
from .storage.recovery import register_parquet, replay_wal, table_floors
from .storage.startup import (
    StartupProblems,
    adopt_recovered,
    check_recorded,
    reconcile_parquet,
    set_aside_store,
    store_file_problem,
)
from .storage.retention import RetentionSweeper, parse_retention_period
from .storage.stats import EngineStats
from .storage.system_tables import SystemTables
from .storage.wal import Wal
from .storage.writer import Writer, WriteResult
from .store import Store

if TYPE_CHECKING:
    from .processing.ports import Clock

__all__ = ["Engine", "EngineStats", "FlushedWrites", "WriteResult"]

log = logging.getLogger("pe.engine")

RETENTION_SWEEP_SECONDS = 60.0  # how often expired Parquet files are looked for


class Engine:
    def __init__(self, config: EngineConfig | None = None, *, clock: Clock | None = None):
        self.config = config or EngineConfig()
        self.clock = clock  # for processing's scheduler and catch-up; None = the real clocks
        c = self.config
        self.bus = EventBus()
        self.stats = EngineStats()
        self.catalog = Catalog(c.max_databases, c.max_tables_per_database, c.max_columns_per_table)
        self.buffers = BufferStore()
        self.system_tables = SystemTables()
        self.query_engine = QueryEngine(
            self.catalog, self.buffers, self.system_tables, parquet_cache_bytes=c.parquet_mem_cache_size,
            limits=QueryLimits(c.max_concurrent_queries, c.max_queued_queries, c.query_memory_limit,
                               c.query_memory_budget),
        )
        self.store = Store(c.data_dir / "pe.sqlite")
        self.wal = Wal(c.data_dir / "wal", c.wal_segment_bytes)
        self.replay_report = None
        self.processing = None  # ProcessingEngine, when a plugin directory is configured
        self._running = False
        self._lock_fd: int | None = None
        self._fork_guarded = False
        self._retention_task: asyncio.Task | None = None
        self._wal_pool = ThreadPoolExecutor(1, thread_name_prefix="pe-wal")
        self._cpu_pool = ThreadPoolExecutor(max(1, c.parse_workers), thread_name_prefix="pe-parse")
        # a thread for each query running or waiting, and a few more that only turn queries away
        limits = self.query_engine.governor.limits
        self._query_pool = ThreadPoolExecutor(limits.slots + limits.max_queued + 4, thread_name_prefix="pe-query")
        # last/distinct value caches: the catalog, where definitions live, and SQL for refills
        self.value_caches = ValueCaches(self.catalog, self.store, self.query_engine)
        self.query_engine.hooks.append(self.value_caches.functions)
        for name, provider in self.value_caches.system_tables().items():
            self.system_tables.register(name, provider)
        # system.databases / system.tables (in `_internal`, as InfluxDB 3 Core)
        self.system_tables.register("databases", databases_provider(self.catalog))
        self.system_tables.register("tables", tables_provider(self.catalog, self._cache_counts))
        # what the last start found wrong (storage/startup.py), in every database
        self.startup_problems = StartupProblems()
        self.system_tables.register("startup_problems", self.startup_problems.table)
        self.persister = Persister(
            root=c.data_dir / "parquet", catalog=self.catalog, buffers=self.buffers, wal=self.wal,
            recorder=self.store, bus=self.bus, stats=self.stats, wal_pool=self._wal_pool,
            cpu_pool=self._cpu_pool, every_flushes=c.snapshot_every_flushes,
            max_buffer_rows=c.snapshot_max_buffer_rows,
        )
        # expired Parquet files (whole files past their database's retention) go in the background
        self.retention = RetentionSweeper(
            catalog=self.catalog, buffers=self.buffers, swapper=self.store, fs=self.persister.fs,
            grace=grace_for(c.query_timeout), report=self._log, in_use=self.query_engine.files_in_use,
        )
        self.compactor = Compactor(
            root=str(c.data_dir / "parquet"), fs=self.persister.fs, catalog=self.catalog, buffers=self.buffers,
            swapper=self.store, cpu_pool=self._cpu_pool, table_dir=safe_name,
            min_files=c.compaction_min_files, grace=grace_for(c.query_timeout), report=self._log,
            in_use=self.query_engine.files_in_use, idle_interval=c.compaction_idle_interval,
            activity=lambda: self.stats.flushes,
        )
        self.persister.after_snapshot = self.compactor.snapshot_done
        self._compaction_task: asyncio.Task | None = None
        self.writer = Writer(
            catalog=self.catalog, buffers=self.buffers, wal=self.wal, persister=self.persister,
            catalog_saver=self.store, bus=self.bus, stats=self.stats, wal_pool=self._wal_pool,
            interval=c.wal_flush_interval, report=self._log,
        )
        self.writer.subscribe(self.value_caches)  # first: caches see a flush before WAL triggers
        self.tag_values = TagValueIndex(self.catalog)  # SHOW TAG VALUES (InfluxQL)
        self.writer.subscribe(self.tag_values)
        self.ingest = Ingest(catalog=self.catalog, writer=self.writer, bus=self.bus, stats=self.stats,
                             cpu_pool=self._cpu_pool)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Recover, then serve. A failure releases everything start took (store, WAL, lock,
        pools) before it propagates, so the process can exit with the reason instead of hanging."""
        try:
            await self._start()
        except BaseException:
            await self._abort_start()
            raise

    async def _start(self) -> None:
        c = self.config
        c.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        (c.data_dir / "wal").mkdir(exist_ok=True)
        (c.data_dir / "parquet").mkdir(exist_ok=True)
        await self._recover()
        await self.value_caches.start()  # definitions + refill from the data just replayed
        self._running = True
        self.writer.start()
        self._retention_task = asyncio.create_task(self.retention.run(RETENTION_SWEEP_SECONDS), name="pe-retention")
        self._compaction_task = asyncio.create_task(self.compactor.run(), name="pe-compaction-timer")
        if c.plugin_dir is not None:
            from .processing.manager import ProcessingConfig, ProcessingEngine

            c.plugin_dir.mkdir(parents=True, exist_ok=True)
            self.processing = ProcessingEngine(
                self,
                ProcessingConfig(
                    plugin_dir=c.plugin_dir,
                    plugin_repo=c.plugin_repo,
                    plugin_threads=c.plugin_threads,
                    plugin_isolation=c.plugin_isolation,
                    plugin_processes=c.plugin_processes,
                    restrict_trigger_types=c.restrict_trigger_types,
                    package_install_disabled=c.package_install_disabled,
                    virtual_env=c.virtual_env,
                    watch_plugins=c.watch_plugins,
                ),
                clock=self.clock,
            )
            await self.processing.start()

    async def _recover(self) -> None:
        """Store, recorded files, WAL replay, files the store does not know (ARCHITECTURE.md,
        "Start-up and recovery"). Every problem goes to `self.startup_problems`."""
        problems = self.startup_problems
        loop = asyncio.get_running_loop()
        path = self.store.path
        existed = path.exists() and path.stat().st_size > 0
        has_data = bool(self.wal.segments) or any((self.config.data_dir / "parquet").rglob("*.parquet"))
        rebuilt: str | None = None
        bad = await loop.run_in_executor(self._wal_pool, store_file_problem, path)
        if bad is None and existed and not path.with_name(path.name + "-wal").exists() \
                and path.with_name(path.name + "-shm").exists():
            problems.add("WARN", "catalog_stale", path, "pe.sqlite-wal is missing next to pe.sqlite-shm: the last "
                         "catalog commits may be lost; files the catalog does not list are reconciled below")
        try:
            if bad is None:
                await self.store.open()
        except sqlite3.DatabaseError as exc:
            await self.store.close()
            bad = f"SQLite: {exc}"
        if bad is not None:
            try:
                dest = await loop.run_in_executor(self._wal_pool, set_aside_store, path)
            except OSError as exc:
                raise StorageError(f"{path} is unusable ({bad}) and cannot be renamed aside: {exc}") from exc
            problems.add("ERROR", "catalog_corrupt", path, f"{bad}; renamed to {dest.name}; rebuilding the "
                         "catalog from Parquet metadata and the WAL")
            rebuilt = f"the unusable file is kept as {dest.name}"
            await self.store.open()
        elif not existed and has_data:
            problems.add("ERROR", "catalog_missing", path, "missing while the data directory holds WAL segments or "
                         "Parquet files; rebuilding the catalog from Parquet metadata and the WAL")
            rebuilt = "it was missing"
        await self.store.load_catalog(self.catalog)
        persisted = int(await self.store.get_meta("wal_persisted_seq", 0))
        fs = self.persister.fs
        records, updated = await loop.run_in_executor(
            self._wal_pool, fill_time_ranges, fs, await self.store.parquet_file_records()
        )
        if updated:  # files from before partitioning: their time range, read once
            await self.store.update_files(updated)
        healthy = await loop.run_in_executor(self._cpu_pool, check_recorded, fs, records, problems)
        register_parquet(self.catalog, self.buffers, healthy)
        t0 = time.perf_counter()
        report = await loop.run_in_executor(
            self._wal_pool, replay_wal, self.catalog, self.buffers, self.wal, persisted, table_floors(healthy)
        )
        self.replay_report = report
        self.persister.persisted_seq = persisted
        rows = self.buffers.rows_in_memory()
        msg = f"WAL replay: {report.records} records, {rows} rows in memory, {time.perf_counter() - t0:.3f}s"
        self._log("INFO", msg)
        wal_dir = self.config.data_dir / "wal"
        for problem in report.corrupt:
            self._log("WARN", f"WAL recovery: {problem}")
        for name, why in report.unreadable:
            problems.add("ERROR", "wal_unreadable", wal_dir / name, f"{why}; its records are not replayed (left on disk)")
        for lo, hi, name in report.gaps:
            problems.add("ERROR", "wal_gap", wal_dir / name, f"WAL records seq {lo}..{hi} are missing (a deleted or "
                         f"damaged segment before {name}); their rows are lost")
        for text in report.corrupt:
            if not any(text.startswith(name) for name, _ in report.unreadable):
                problems.add("WARN", "wal_corrupt", wal_dir, text, log=False)
        found = await loop.run_in_executor(
            self._cpu_pool, reconcile_parquet, fs, self.config.data_dir / "parquet", records, persisted, report,
            set(self.catalog.deleted_ids), problems, dict(self.catalog.deleted_tables),
        )
        new = adopt_recovered(self.catalog, self.buffers, found.recovered, problems)
        if new:
            await self.store.update_files(new)
        covered = max([persisted] + [r.max_seq for r in records] + [r.max_seq for r in new])
        first = report.log_first_seq
        if first is not None and first > covered + 1:
            problems.add("ERROR", "wal_gap", wal_dir, f"WAL records seq {covered + 1}..{first - 1} are missing: the "
                         "WAL starts after them and no Parquet file covers them; their rows are lost")
        self.writer.seq = max(persisted, self.wal.last_seq, covered)
        if rebuilt is not None:
            tables = sum(len(d.tables) for d in self.catalog.databases.values())
            problems.add("ERROR", "catalog_rebuilt", path, f"catalog rebuilt ({rebuilt}): {len(self.catalog.databases)} "
                         f"database(s), {tables} table(s), {len(new)} Parquet file(s) recovered, "
                         f"{len(found.set_aside)} set aside, {report.records} WAL record(s) replayed")
            problems.add("WARN", "state_lost", path, "triggers, plugin versions, the plugin cache, value-cache "
                         "definitions, activation history, logs and deleted-database tombstones lived only in "
                         "pe.sqlite: they are lost")
        await self.store.save_catalog(self.catalog)

    async def _abort_start(self) -> None:
        """Undo a failed start: nothing may keep the process alive (a store thread, a pool)."""
        self._running = False
        steps: list = []
        if self.processing is not None:
            steps.append(self.processing.stop)
        steps.append(self.writer.stop)
        if self._compaction_task is not None:  # the timer only; a running pass ends with the pools
            self._compaction_task.cancel()
            self._compaction_task = None
        for step in steps:
            try:
                await step()
            except Exception as exc:  # the original failure is the one to report
                log.debug("while aborting start: %s", exc)
        try:
            self.wal.close()
        except Exception as exc:
            log.debug("while aborting start: %s", exc)
        try:
            await self.store.close()
        except Exception as exc:
            log.debug("while aborting start: %s", exc)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        for pool in (self._cpu_pool, self._query_pool, self._wal_pool):
            pool.shutdown(wait=False, cancel_futures=True)

    async def stop(self) -> None:
        """Flush what is pending, then close everything. Safe to call twice."""
        if not self._running:
            return
        if self.processing is not None:
            await self.processing.stop()
        self._running = False
        await self.writer.stop()  # ends the flush loop, flushes what is pending
        await self.persister.wait()
        if self._retention_task is not None:
            self._retention_task.cancel()
            await asyncio.gather(self._retention_task, return_exceptions=True)
            self._retention_task = None
        self.retention.delete_all_now()  # no query runs any more
        if self._compaction_task is not None:
            self._compaction_task.cancel()
            await asyncio.gather(self._compaction_task, return_exceptions=True)
            self._compaction_task = None
        await self.compactor.wait()
        self.compactor.delete_all_now()  # no query runs any more
        try:
            await self.store.save_catalog(self.catalog)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._wal_pool, self.wal.close)
            await self.store.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            for pool in (self._cpu_pool, self._query_pool, self._wal_pool):
                pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _lock_data_dir(self) -> None:
        """One engine per data directory: a second one would corrupt the WAL."""
        import fcntl

        fd = os.open(self.config.data_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(
                f"data directory {self.config.data_dir} is in use by another pe process"
            ) from None
        self._lock_fd = fd
        if not self._fork_guarded:
            self._fork_guarded = True
            guard_after_fork(self, lambda e: cast(Engine, e)._lock_fd)

    def _log(self, level: str, message: str) -> None:
        getattr(log, {"INFO": "info", "WARN": "warning", "ERROR": "error"}[level])(message)
        self.bus.publish(EngineLog(level=level, message=message))

    # ------------------------------------------------------------------ databases
    def list_databases(self) -> list[str]:
        return sorted(self.catalog.databases)

    async def create_database(self, name: str, retention_period: str | None = None) -> None:
        """`retention_period`: InfluxDB's duration text (`30d`); None = rows never expire."""
        period = parse_retention_period(retention_period)
        self.catalog.create_db(name, retention_period_ns=period)
        await self.store.save_catalog(self.catalog)
        self.bus.publish(DatabaseChanged(database=name, action="created"))

    async def delete_database(self, name: str) -> None:
        """Remove a database, its data, triggers and caches, all or nothing.

        Rows already accepted are flushed first; then, under the writer's lock (no flush in
        flight), one store transaction makes the tombstone, the database's file rows and its
        triggers durable together, and only then does the database leave the catalog's memory and
        the buffers, so a write that comes after creates a new, empty database of that name. If
        the transaction fails nothing has changed. What follows (triggers stopped, files removed)
        is cleanup: each step runs whatever an earlier one raised (logged), so no failure leaves
        old rows queryable, old triggers running or the database back after a restart.
        """
        self.catalog.get_db(name)  # 404 before any work
        await self.writer.flush()
        async with self.writer.lock:
            db = self.catalog.delete_db(name)
            try:
                await self.store.delete_database(self.catalog, db.id, name)
            except BaseException:
                self.catalog.deleted_ids.discard(db.id)
                if name not in self.catalog.databases:
                    self.catalog.restore_db(db)
                self.catalog.version += 1
                raise
            self.buffers.drop_db(name)
            self.query_engine.forget(name)
        if self.processing is not None:
            try:
                await self.processing.drop_database(name)
            except Exception as e:
                self._log("ERROR", f"deleting database {name}: stopping its triggers failed: {e!r}")
        root = self.config.data_dir / "parquet" / db.id
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._cpu_pool, lambda: shutil.rmtree(root, ignore_errors=True)
            )
        except Exception as e:  # the rows are unreachable already (no file row, id tombstoned)
            self._log("ERROR", f"deleting database {name}: removing {root} failed: {e!r}")
        self.bus.publish(DatabaseChanged(database=name, action="deleted"))

    # ------------------------------------------------------------------ tables
    def _cache_counts(self, db: str, table: str) -> tuple[int, int]:
        caches = [c for c in self.value_caches.caches(db) if c.d.table == table]
        last = sum(1 for c in caches if c.kind == "last")
        return last, len(caches) - last

    async def create_table(
        self, db: str, table: str, tags: list[str], fields: list[tuple[str, str]]
    ) -> None:
        """A table with its schema up front; the database is created when missing (as InfluxDB)."""
        dbdef = self.catalog.databases.get(db)
        if dbdef is None:
            dbdef = self.catalog.create_db(db)
            try:
                self.catalog.create_table(dbdef, table, tags, fields)
            except BaseException:
                self.catalog.databases.pop(db, None)  # nothing half-made stays behind
                raise
        else:
            self.catalog.create_table(dbdef, table, tags, fields)
        await self.store.save_catalog(self.catalog)

    async def delete_table(self, db: str, table: str) -> None:
        """Remove a table and its data; its value caches go, triggers stay.

        Rows already accepted are flushed first, then the table is tombstoned at the last WAL
        sequence under the writer's lock (no flush in flight), and the tombstone is durable
        before we answer: WAL replay and late snapshots never bring its rows back.
        """
        dbdef = self.catalog.get_db(db)
        if table not in dbdef.tables:
            raise TableNotFound(f"table '{table}' not found in database '{db}'")
        await self.writer.flush()
        async with self.writer.lock:
            dbdef = self.catalog.get_db(db)
            self.catalog.delete_table(dbdef, table, self.writer.seq)
            self.buffers.dbs.get(db, {}).pop(table, None)
        # The tombstone (and, in the same transaction, the table's file rows) durable before we answer.
        await self.store.save_catalog(self.catalog)
        await self.value_caches.drop_table(db, table)
        root = self.config.data_dir / "parquet" / dbdef.id / safe_name(table)
        await asyncio.get_running_loop().run_in_executor(
            self._cpu_pool, lambda: shutil.rmtree(root, ignore_errors=True)
        )

    # ------------------------------------------------------------------ writes
    async def write_lp(
        self,
        db: str,
        body: bytes | str,
        precision: str | None = "ns",
        accept_partial: bool = True,
        no_sync: bool = False,
    ) -> WriteResult:
        return await self.ingest.write_lp(db, body, precision, accept_partial, no_sync)

    async def flush(self) -> int:
        """Write everything pending as one WAL record. Returns rows flushed."""
        return await self.writer.flush()

    def subscribe(self, subscriber: FlushSubscriber) -> None:
        """Be told of every WAL flush that wrote rows (after the subscribers before it)."""
        self.writer.subscribe(subscriber)

    def unsubscribe(self, subscriber: FlushSubscriber) -> None:
        self.writer.unsubscribe(subscriber)

    async def snapshot(self) -> int:
        """Persist everything flushed so far to Parquet, then drop the WAL it came from."""
        return await self.persister.snapshot()

    # ------------------------------------------------------------------ queries
    async def query(
        self, db: str, sql: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> pa.Table:
        """Run SQL in the query pool. `timeout` (default `--query-timeout`) stops it for real;
        so does cancelling the awaiting task (an HTTP client that went away)."""
        self.stats.queries += 1
        qe = self.query_engine
        qe.governor.check_room()  # a full server answers at once, without a thread
        h = qe.governor.open(db, sql, timeout=self.config.query_timeout if timeout is None else timeout)
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._query_pool, lambda: qe.execute(db, sql, params, handle=h))
        try:
            return await fut
        except asyncio.CancelledError:
            h.cancel(QueryStatus.CANCELLED)
            raise

    def query_sync(
        self, db: str, sql: str, params: dict[str, Any] | None = None, *,
        timeout: float | None = None, poll: Callable[[], bool] | None = None,
    ) -> pa.Table:
        """For callers on other threads (plugins, Flight): same engine, no event loop needed.
        `poll` returning True (the caller is gone) stops the query like its timeout does."""
        self.stats.queries += 1
        timeout = self.config.query_timeout if timeout is None else timeout
        return self.query_engine.execute(db, sql, params, timeout=timeout, poll=poll)
