"""Snapshots: flushed rows to Parquet, then the WAL they came from is dropped (DESIGN §3 step 6).

A snapshot cuts every buffer at the last flushed WAL sequence (under the writer's lock, so no
flush lands in between), writes one Parquet file per table and UTC day off the loop, rows
deduplicated and sorted by series key and time (`storage/partitions.py`; temp file, fsync,
rename, fsync the directory), records the files and the new WAL floor in the store in one
transaction, swaps the buffers' rows for the files, and only then deletes WAL segments.
Files no transaction recorded (a snapshot that crashed) are removed at start.
"""
from __future__ import annotations

import asyncio
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
from .stats import EngineStats
from .wal import Wal


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
        # Set by the writer it serves: its lock and its last written sequence number.
        self._lock: asyncio.Lock | None = None
        self._last_seq: Callable[[], int] = lambda: 0

    def attach(self, lock: asyncio.Lock, last_seq: Callable[[], int]) -> None:
        """The writer's lock (a snapshot cut must not interleave with a flush) and sequence."""
        self._lock = lock
        self._last_seq = last_seq

    # ------------------------------------------------------------------ when
    def flushed(self) -> None:
        self._flushes_since += 1

    def maybe_snapshot(self) -> None:
        """Start a background snapshot when enough flushes or rows have piled up."""
        if self._task is not None and not self._task.done():
            return
        if self._flushes_since >= self.every_flushes or self.buffers.rows_in_memory() >= self.max_buffer_rows:
            self._task = asyncio.create_task(self.snapshot(), name="pe-snapshot")

    async def wait(self) -> None:
        """Let a running background snapshot finish (errors were its own to report)."""
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    # ------------------------------------------------------------------ how
    async def snapshot(self) -> int:
        """Persist everything flushed so far to Parquet, then drop the WAL it came from."""
        assert self._lock is not None, "Persister.attach was not called"
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        async with self._lock:
            through = self._last_seq()
            self._flushes_since = 0
            await loop.run_in_executor(self._wal_pool, self.wal.rotate)
            work = []
            for db in list(self.catalog.databases.values()):
                for tname, td in self.buffers.dbs.get(db.name, {}).items():
                    mems = td.cut_mem(through)
                    if mems and tname in db.tables:
                        tdef = db.tables[tname]
                        meta = FileMeta(db.name, db.id, tname, "", 0, 0, 0, 0, 0, FileMeta.columns_of(tdef))
                        work.append((db, tname, tdef.arrow_schema, meta, [(m.batch, m.seq) for m in mems]))
        if not work:
            return 0
        written: list[tuple[str, str, list[FileRecord]]] = []
        for db, tname, schema, meta, batches in work:
            recs = await loop.run_in_executor(
                self._cpu_pool, write_partitions, self.fs, str(self.root), safe_name(tname), meta, schema, batches
            )
            written.append((db.id, tname, recs))
        live = [w for w in written if w[0] not in self.catalog.deleted_ids]
        await self.recorder.record_snapshot(through, [f for _, _, recs in live for f in recs])
        total = 0
        nfiles = 0
        for db_id, tname, recs in live:
            dbdef = db_by_id(self.catalog, db_id)
            if dbdef is not None:
                self.buffers.table(dbdef.name, tname).replace_with_parquet(through, recs)
                total += sum(f.rows for f in recs)
                nfiles += len(recs)
        await loop.run_in_executor(self._wal_pool, self.wal.remove_through, through)
        self.stats.snapshots += 1
        self.bus.publish(SnapshotDone(seq=through, files=nfiles, rows=total, duration=time.perf_counter() - t0))
        return total

    def remove_orphans(self, known: set[str]) -> None:
        """Parquet files written by a snapshot that crashed before it was recorded."""
        for p in self.root.rglob("*.parquet"):
            if str(p) not in known:
                p.unlink(missing_ok=True)
        for p in self.root.rglob("*.parquet.tmp"):  # a snapshot killed mid-write
            p.unlink(missing_ok=True)


def db_by_id(catalog: Catalog, db_id: str) -> DatabaseDef | None:
    for db in catalog.databases.values():
        if db.id == db_id:
            return db
    return None


def safe_name(name: str) -> str:
    """A table name as one path component."""
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02x}" for c in name)
