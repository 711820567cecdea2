"""Group commit: the pending batch, and one WAL record per flush interval (DESIGN §3 steps 4-5).

Writers append their Arrow batches to the pending batch and wait; every `wal_flush_interval`
the flush loop merges each table's batches into one, writes and fsyncs one WAL record in the
WAL thread, then puts the rows in the buffers, acknowledges the writers, publishes
`WalFlushed` and calls the flush subscribers in registration order.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import pyarrow as pa

from ..errors import StorageError
from ..events import EventBus, WalFlushed
from ..lineprotocol.types import LineError
from .buffer import BufferStore, MemBatch
from .catalog import Catalog, DatabaseDef
from .flush import FlushedWrites, FlushSubscriber
from .persist import Persister
from .ports import CatalogSaver
from .stats import EngineStats
from .wal import Wal, WalEntry, WalRecord

log = logging.getLogger("pe.engine")

Report = Callable[[str, str], None]  # (level, message): the engine's log, also on the bus


@dataclass
class WriteResult:
    database: str
    lines_written: int = 0
    rows: int = 0
    errors: list[LineError] = field(default_factory=list)
    rejected_all: bool = False  # accept_partial=False and some line was bad: nothing was written


@dataclass
class _Pending:
    entries: list[tuple[DatabaseDef, str, pa.RecordBatch]] = field(default_factory=list)
    waiters: list[asyncio.Future] = field(default_factory=list)
    rows: int = 0
    first_at: float = 0.0


class Writer:
    """Owns the pending batch, the flush loop and the WAL sequence number."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        buffers: BufferStore,
        wal: Wal,
        persister: Persister,
        catalog_saver: CatalogSaver,
        bus: EventBus,
        stats: EngineStats,
        wal_pool: Executor,
        interval: float,
        report: Report,
    ) -> None:
        self.catalog = catalog
        self.buffers = buffers
        self.wal = wal
        self.persister = persister
        self.catalog_saver = catalog_saver
        self.bus = bus
        self.stats = stats
        self.interval = interval
        self.seq = 0  # last WAL record written
        self.lock = asyncio.Lock()  # one flush (or snapshot cut) at a time
        self._wal_pool = wal_pool
        self._report = report
        self._pending = _Pending()
        self._subscribers: list[FlushSubscriber] = []
        self._wake = asyncio.Event()
        self._running = False
        self._task: asyncio.Task | None = None
        persister.attach(self.lock, lambda: self.seq)

    # ------------------------------------------------------------------ subscribers
    def subscribe(self, subscriber: FlushSubscriber) -> None:
        """Called after every flush that wrote rows, after those before it."""
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: FlushSubscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    @property
    def subscribers(self) -> tuple[FlushSubscriber, ...]:
        return tuple(self._subscribers)

    # ------------------------------------------------------------------ appending
    def append(self, dbdef: DatabaseDef, batches: dict[str, pa.RecordBatch], rows: int) -> None:
        """Add a write's batches to the pending batch (no await: atomic on the loop)."""
        pending = self._pending
        if not pending.entries:
            pending.first_at = time.monotonic()
        for name, batch in batches.items():
            pending.entries.append((dbdef, name, batch))
        pending.rows += rows

    async def durable(self) -> None:
        """Wait until what was appended so far is in a WAL record (or its write failed)."""
        fut = asyncio.get_running_loop().create_future()
        self._pending.waiters.append(fut)
        await fut

    # ------------------------------------------------------------------ the loop
    def start(self) -> None:
        self._running = True
        self._task = asyncio.create_task(self._flush_loop(), name="pe-wal-flush")

    async def stop(self) -> None:
        """End the loop, then flush what is still pending."""
        self._running = False
        self._wake.set()
        if self._task:
            await self._task
        await self.flush()

    async def _flush_loop(self) -> None:
        interval = self.interval
        loop = asyncio.get_running_loop()
        deadline = loop.time() + interval
        while self._running:
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                pass
            if not self._running:
                break
            now = loop.time()
            deadline += interval
            if deadline < now:  # fell behind (slow disk): skip missed ticks, keep alignment
                deadline = now + interval - ((now - deadline) % interval)
            try:
                await self.flush()
            except Exception:  # flush reports to its writers; never let the loop die
                log.exception("WAL flush failed")

    async def flush(self) -> int:
        """Write everything pending as one WAL record. Returns rows flushed."""
        async with self.lock:
            pending = self._pending
            if not pending.entries and not pending.waiters:
                return 0
            self._pending = _Pending()
            # Rows of a database or table deleted while they waited are not written.
            entries = [
                (d, t, b) for d, t, b in pending.entries if d.id not in self.catalog.deleted_ids and t in d.tables
            ]
            seq = self.seq + 1
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            try:
                record, mems = await loop.run_in_executor(self._wal_pool, self._write_record, seq, entries)
            except Exception as e:
                err = e if isinstance(e, StorageError) else StorageError(f"WAL write failed: {e}")
                for w in pending.waiters:
                    if not w.done():
                        w.set_exception(err)
                self._report("ERROR", f"WAL flush of {pending.rows} rows failed: {e}")
                return 0
            duration = time.perf_counter() - t0
            self.seq = seq
            flushed_at = time.time_ns()
            per_db: dict[str, dict[str, pa.RecordBatch]] = {}
            for entry, mem in zip(record.entries, mems):
                self.buffers.table(entry.db_name, entry.table).append(entry.batch, seq, mem)
                per_db.setdefault(entry.db_name, {})[entry.table] = entry.batch
            for w in pending.waiters:
                if not w.done():
                    w.set_result(None)
            self.stats.flushes += 1
            self.stats.last_flush_seconds = duration
            self.stats.flush_seconds_total += duration
            self.persister.flushed()
            self.bus.publish(WalFlushed(seq=seq, databases=tuple(per_db), rows=pending.rows, duration=duration))
            # No await from the buffers' append to here: acknowledged writers resume only after
            # every subscriber (value caches first, then WAL triggers) has seen this flush.
            if per_db and self._subscribers:
                batches = [FlushedWrites(seq, name, tables, flushed_at) for name, tables in per_db.items()]
                for sub in list(self._subscribers):
                    try:
                        sub.on_flush(batches)
                    except Exception:
                        log.exception("flush subscriber failed")
        if self.catalog.version != self.catalog_saver.saved_catalog_version:
            await self.catalog_saver.save_catalog(self.catalog)
        self.persister.maybe_snapshot()
        return pending.rows

    def _write_record(
        self, seq: int, entries: list[tuple[DatabaseDef, str, pa.RecordBatch]]
    ) -> tuple[WalRecord, list[MemBatch]]:
        """WAL thread: merge each table's batches of this interval into one, append, fsync;
        then the buffer's view of each batch (time range, repeated points) while still here."""
        grouped: dict[tuple[str, str], tuple[DatabaseDef, list[pa.RecordBatch]]] = {}
        for db, table, batch in entries:
            grouped.setdefault((db.id, table), (db, []))[1].append(batch)
        out = []
        for (db_id, table), (db, batches) in grouped.items():
            out.append(WalEntry(db_id, db.name, table, merge_batches(batches)))
        record = WalRecord(seq, out)
        self.wal.append(record, sync=True)
        return record, [MemBatch.of(e.batch, seq) for e in out]


def merge_batches(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One table's batches of one interval as one batch (columns unified, dictionaries too)."""
    if len(batches) == 1:
        return batches[0]
    table = pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="default")
    table = table.unify_dictionaries().combine_chunks()
    out = table.to_batches()
    if len(out) == 1:
        return out[0]
    return pa.concat_batches(out)
