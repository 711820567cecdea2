"""Snapshots: flushed rows to Parquet, then the WAL they came from is dropped (DESIGN §3 step 6).

A snapshot cuts every buffer at the last flushed WAL sequence (under the writer's lock, so no
flush lands in between), writes one Parquet file per table and UTC day off the loop, rows
deduplicated and sorted by series key and time (`storage/partitions.py`; temp file, fsync,
rename, fsync the directory), records the files and the new WAL floor in the store in one
transaction, swaps the buffers' rows for the files, and only then deletes WAL segments.
Files no transaction recorded (a snapshot that crashed) are reconciled at start
(`storage/startup.py`): recovered or set aside, never deleted.

A failed snapshot is retried in the background with exponential back-off (1 s doubling to
60 s), logged once per attempt with its cause. The WAL is rotated once per cut: a retry
persists the same cut again (`_pending_cut`) instead of cutting and rotating anew, so failures
cannot pile up segments. A table whose files cannot be written does not hold back the others:
theirs are recorded (the persisted WAL floor stays where it was; replay skips their rows by
their files' seq ranges) and only the failing table is retried.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

import pyarrow.fs as pafs

from ..events import EventBus, SnapshotDone
from .buffer import BufferStore
from .catalog import Catalog, DatabaseDef
from .parquet_meta import FileMeta, FileRecord
from .partitions import fsync_path, write_partitions  # noqa: F401 (fsync_path: re-exported)
from .ports import SnapshotRecorder
from .retention import cutoff_ns, unexpired
from .stats import EngineStats
from .wal import Wal

log = logging.getLogger("pe.engine")

RETRY_FIRST = 1.0  # seconds before the first retry of a failed snapshot; doubles per failure
RETRY_CAP = 60.0


class SnapshotFailed(Exception):
    """Some tables of a cut could not be written; the others were persisted."""

    def __init__(self, through: int, failed: list[tuple[str, BaseException]]) -> None:
        self.through = through
        self.failed = failed
        super().__init__(f"snapshot through WAL seq {through}: " + "; ".join(
            f"table {name}: {type(exc).__name__}: {exc}" for name, exc in failed))


class Persister:
    def __init__(
        self,
        *,
        root: Path,
        catalog: Catalog,
        buffers: BufferStore,
        wal: Wal,
        recorder: SnapshotRecorder,
        bus: EventBus,
        stats: EngineStats,
        wal_pool: Executor,
        cpu_pool: Executor,
        every_flushes: int,
        max_buffer_rows: int,
    ) -> None:
        self.root = root  # <data_dir>/parquet
        self.catalog = catalog
        self.buffers = buffers
        self.wal = wal
        self.recorder = recorder
        self.bus = bus
        self.stats = stats
        self.every_flushes = every_flushes
        self.max_buffer_rows = max_buffer_rows
        self.fs = pafs.LocalFileSystem()
        self._wal_pool = wal_pool
        self._cpu_pool = cpu_pool
        self._flushes_since = 0
        self._task: asyncio.Task | None = None
        self._one_at_a_time = asyncio.Lock()  # an explicit snapshot never runs beside a background one
        # Set by the writer it serves: its lock and its last written sequence number.
        self._lock: asyncio.Lock | None = None
        self._last_seq: Callable[[], int] = lambda: 0
        self.persisted_seq = 0  # the store's WAL floor (the engine sets it at start)
        self._pending_cut: int | None = None  # a cut taken (WAL rotated) and not yet persisted
        self.failures = 0  # consecutive failed attempts
        self.retry_first = RETRY_FIRST
        self.retry_cap = RETRY_CAP
        # Called after every snapshot that wrote files (the engine starts compaction here).
        self.after_snapshot: Callable[[], None] | None = None

    def attach(self, lock: asyncio.Lock, last_seq: Callable[[], int]) -> None:
        """The writer's lock (a snapshot cut must not interleave with a flush) and sequence."""
        self._lock = lock
        self._last_seq = last_seq

    # ------------------------------------------------------------------ when
    def flushed(self) -> None:
        self._flushes_since += 1

    def maybe_snapshot(self) -> None:
        """Start a background snapshot when enough flushes or rows have piled up (while one
        runs or backs off after a failure, nothing new starts: the retry covers it)."""
        if self._task is not None and not self._task.done():
            return
        if self._flushes_since >= self.every_flushes or self.buffers.rows_in_memory() >= self.max_buffer_rows:
            self._task = asyncio.create_task(self._snapshot_until_done(), name="pe-snapshot")

    async def _snapshot_until_done(self) -> None:
        """Background snapshot: on failure log the cause once, back off, retry the same cut."""
        while True:
            try:
                await self.snapshot()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                self.stats.snapshot_failures += 1
                delay = min(self.retry_cap, self.retry_first * 2 ** (self.failures - 1))
                cause = str(exc) if isinstance(exc, SnapshotFailed) else f"{type(exc).__name__}: {exc}"
                log.error("snapshot failed (attempt %d, WAL cut %s): %s; retrying in %.0fs",
                          self.failures, self._pending_cut, cause, delay)
                await asyncio.sleep(delay)
                continue
            if self.failures:
                log.warning("snapshot succeeded after %d failed attempt(s)", self.failures)
                self.failures = 0
            return

    async def wait(self) -> None:
        """Let a running background snapshot finish; one backing off after a failure is
        cancelled (its cut is still in the WAL, so nothing is lost)."""
        if self._task:
            if self.failures:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # ------------------------------------------------------------------ how
    async def snapshot(self) -> int:
        """One snapshot at a time (`Engine.snapshot` waits for a background one and the other way
        round), so a cut is never written twice; see `_snapshot`."""
        async with self._one_at_a_time:
            return await self._snapshot()

    async def _snapshot(self) -> int:
        """Persist everything flushed so far to Parquet, then drop the WAL it came from."""
        assert self._lock is not None, "Persister.attach was not called"
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        async with self._lock:
            if self._pending_cut is None:  # a new cut; a retry persists the failed one again
                self._pending_cut = self._last_seq()
                self._flushes_since = 0
                await loop.run_in_executor(self._wal_pool, self.wal.rotate)
            through = self._pending_cut
            work = []
            for db in list(self.catalog.databases.values()):
                for tname, td in self.buffers.dbs.get(db.name, {}).items():
                    mems = td.cut_mem(through)
                    if mems and tname in db.tables:
                        tdef = db.tables[tname]
                        meta = FileMeta(db.name, db.id, tname, "", 0, 0, 0, 0, 0, FileMeta.columns_of(tdef))
                        # rows past the database's retention are never shown: they are not persisted
                        kept = unexpired(mems, cutoff_ns(db, time.time_ns()))
                        work.append((db, tname, tdef.arrow_schema, meta, kept))
        if not work:
            self._cut_done(through)
            return 0
        written: list[tuple[str, str, list[FileRecord]]] = []
        failed: list[tuple[str, BaseException]] = []
        for db, tname, schema, meta, batches in work:
            try:
                recs = await loop.run_in_executor(
                    self._cpu_pool, write_partitions, self.fs, str(self.root), safe_name(tname), meta, schema, batches
                )
            except Exception as exc:  # this table is retried; the others are persisted now
                failed.append((f"{db.name}.{tname}", exc))
                continue
            written.append((db.id, tname, recs))
        # A table deleted since the cut (its tombstone covers `through`) keeps none of its files.
        live = [
            w for w in written
            if w[0] not in self.catalog.deleted_ids and self.catalog.table_deleted_through(w[0], w[1]) < through
        ]
        if failed and not live:
            raise SnapshotFailed(through, failed)
        # With a failed table the WAL floor stays: its rows are still only in the WAL.
        floor = self.persisted_seq if failed else through
        await self.recorder.record_snapshot(floor, [f for _, _, recs in live for f in recs])
        total = 0
        nfiles = 0
        for db_id, tname, recs in live:
            dbdef = db_by_id(self.catalog, db_id)
            if dbdef is not None:
                self.buffers.table(dbdef.name, tname).replace_with_parquet(through, recs)
                total += sum(f.rows for f in recs)
                nfiles += len(recs)
        if failed:
            raise SnapshotFailed(through, failed)
        self._cut_done(through)
        await loop.run_in_executor(self._wal_pool, self.wal.remove_through, through)
        self.stats.snapshots += 1
        self.bus.publish(SnapshotDone(seq=through, files=nfiles, rows=total, duration=time.perf_counter() - t0))
        if self.after_snapshot is not None and nfiles:
            self.after_snapshot()
        return total

    def _cut_done(self, through: int) -> None:
        """The cut is persisted: the next snapshot takes (and rotates at) a new one."""
        self._pending_cut = None
        self.persisted_seq = max(self.persisted_seq, through)


def db_by_id(catalog: Catalog, db_id: str) -> DatabaseDef | None:
    for db in catalog.databases.values():
        if db.id == db_id:
            return db
    return None


def safe_name(name: str) -> str:
    """A table name as one path component."""
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02x}" for c in name)
