"""Engine: lifecycle of the storage engine; wires catalog, WAL, buffers, store and query.

Write path (DESIGN §3): parse off the loop -> plan against the catalog on the
loop (atomic, so two bodies can't race a column's type) -> build Arrow off the
loop -> pending batch -> one WAL record per flush interval, written and fsync'd
in the WAL thread -> buffers updated, writers acknowledged, listeners told.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .config import EngineConfig
from .errors import BadRequest, StorageError
from .events import DatabaseChanged, EngineLog, EventBus, SnapshotDone, WalFlushed
from .lineprotocol.parse import normalize_precision, parse_lp
from .lineprotocol.types import MAX_ERROR_LINE, LineError, ParsedTable, ParseResult
from .storage.batch import to_record_batch, widen
from .storage.buffer import BufferStore
from .storage.caches import ValueCaches
from .lineprotocol.types import FieldType
from .storage.catalog import Catalog, ColumnDef, DatabaseDef, validate_db_name
from .storage.query import QueryEngine
from .storage.system_tables import SystemTables
from .storage.wal import Wal, WalEntry, WalRecord
from .store import Store

log = logging.getLogger("pe.engine")


@dataclass
class WriteResult:
    database: str
    lines_written: int = 0
    rows: int = 0
    errors: list[LineError] = field(default_factory=list)
    rejected_all: bool = False  # accept_partial=False and some line was bad: nothing was written


@dataclass(frozen=True, slots=True)
class FlushedWrites:
    """What one WAL flush made durable for one database (handed to WAL triggers)."""

    seq: int
    database: str
    tables: dict[str, pa.RecordBatch]
    flushed_at_ns: int


@dataclass
class _Pending:
    entries: list[tuple[DatabaseDef, str, pa.RecordBatch]] = field(default_factory=list)
    waiters: list[asyncio.Future] = field(default_factory=list)
    rows: int = 0
    first_at: float = 0.0


@dataclass
class EngineStats:
    writes: int = 0
    lines: int = 0
    rejected_lines: int = 0
    flushes: int = 0
    last_flush_seconds: float = 0.0
    snapshots: int = 0
    queries: int = 0
    started_at: float = field(default_factory=time.time)


class Engine:
    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        c = self.config
        self.bus = EventBus()
        self.stats = EngineStats()
        self.catalog = Catalog(c.max_databases, c.max_tables_per_database, c.max_columns_per_table)
        self.buffers = BufferStore()
        self.system_tables = SystemTables()
        self.query_engine = QueryEngine(self.catalog, self.buffers, self.system_tables)
        self.store = Store(c.data_dir / "pe.sqlite")
        self.wal = Wal(c.data_dir / "wal", c.wal_segment_bytes)
        self.value_caches = ValueCaches(self)  # last/distinct value caches (storage/caches.py)
        self.fs = pafs.LocalFileSystem()
        self.flush_listeners: list[Callable[[list[FlushedWrites]], Any]] = []
        self.replay_report = None
        self.processing = None  # ProcessingEngine, when a plugin directory is configured
        self._pending = _Pending()
        self._seq = 0
        self._flushes_since_snapshot = 0
        self._flush_lock = asyncio.Lock()
        self._snapshot_task: asyncio.Task | None = None
        self._flush_task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._running = False
        self._wal_pool = ThreadPoolExecutor(1, thread_name_prefix="pe-wal")
        self._cpu_pool = ThreadPoolExecutor(max(1, c.parse_workers), thread_name_prefix="pe-parse")
        self._query_pool = ThreadPoolExecutor(4, thread_name_prefix="pe-query")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        c = self.config
        c.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        (c.data_dir / "wal").mkdir(exist_ok=True)
        (c.data_dir / "parquet").mkdir(exist_ok=True)
        await self.store.open()
        await self.store.load_catalog(self.catalog)
        persisted = int(await self.store.get_meta("wal_persisted_seq", 0))
        known = set()
        for path, db_id, table, rows in await self.store.parquet_files():
            db = self._db_by_id(db_id)
            if db is None:
                continue
            known.add(path)
            self.buffers.table(db.name, table).add_parquet(path, rows)
        await asyncio.get_running_loop().run_in_executor(self._wal_pool, self._remove_orphans, known)
        t0 = time.perf_counter()
        report = await asyncio.get_running_loop().run_in_executor(self._wal_pool, self._replay, persisted)
        self.replay_report = report
        self._seq = max(persisted, self.wal.last_seq)
        rows = self.buffers.rows_in_memory()
        msg = f"WAL replay: {report.records} records, {rows} rows in memory, {time.perf_counter() - t0:.3f}s"
        self._log("INFO", msg)
        for problem in report.corrupt:
            self._log("WARN", f"WAL recovery: {problem}")
        await self.store.save_catalog(self.catalog)
        await self.value_caches.start()  # definitions + refill from the data just replayed
        self._running = True
        self._flush_task = asyncio.create_task(self._flush_loop(), name="pe-wal-flush")
        if c.plugin_dir is not None:
            from .processing.manager import ProcessingConfig, ProcessingEngine

            c.plugin_dir.mkdir(parents=True, exist_ok=True)
            self.processing = ProcessingEngine(
                self,
                ProcessingConfig(
                    plugin_dir=c.plugin_dir,
                    plugin_repo=c.plugin_repo,
                    plugin_threads=c.plugin_threads,
                    restrict_trigger_types=c.restrict_trigger_types,
                    package_install_disabled=c.package_install_disabled,
                    virtual_env=c.virtual_env,
                    watch_plugins=c.watch_plugins,
                ),
            )
            await self.processing.start()

    async def stop(self) -> None:
        """Flush what is pending, then close everything. Safe to call twice."""
        if not self._running:
            return
        if self.processing is not None:
            await self.processing.stop()
        self._running = False
        self._wake.set()
        if self._flush_task:
            await self._flush_task
        await self.flush()
        if self._snapshot_task:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        try:
            await self.store.save_catalog(self.catalog)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._wal_pool, self.wal.close)
            await self.store.close()
            if getattr(self, "_lock_fd", None) is not None:
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

    def _replay(self, persisted: int):
        """Runs in the WAL thread before the engine serves anything."""
        for rec in self.wal.replay(after_seq=persisted):
            for e in rec.entries:
                if e.db_id in self.catalog.deleted_ids:
                    continue
                db = self._db_by_id(e.db_id)
                if db is None:
                    if e.db_name in self.catalog.databases:
                        log.warning("WAL entry for %s has an unknown database id; skipped", e.db_name)
                        continue
                    db = DatabaseDef(name=e.db_name, id=e.db_id)
                    self.catalog.restore_db(db)
                    self.catalog.version += 1
                self.catalog.absorb_schema(db, e.table, e.batch.schema)
                self.buffers.table(db.name, e.table).append(e.batch, rec.seq)
        self.wal.open_for_append()
        return self.wal.report

    def _remove_orphans(self, known: set[str]) -> None:
        """Parquet files written by a snapshot that crashed before it was recorded."""
        root = self.config.data_dir / "parquet"
        for p in root.rglob("*.parquet"):
            if str(p) not in known:
                p.unlink(missing_ok=True)
        for p in root.rglob("*.parquet.tmp"):  # a snapshot killed mid-write
            p.unlink(missing_ok=True)

    def _db_by_id(self, db_id: str) -> DatabaseDef | None:
        for db in self.catalog.databases.values():
            if db.id == db_id:
                return db
        return None

    def _log(self, level: str, message: str) -> None:
        getattr(log, {"INFO": "info", "WARN": "warning", "ERROR": "error"}[level])(message)
        self.bus.publish(EngineLog(level=level, message=message))

    # ------------------------------------------------------------------ databases
    def list_databases(self) -> list[str]:
        return sorted(self.catalog.databases)

    async def create_database(self, name: str) -> None:
        self.catalog.create_db(name)
        await self.store.save_catalog(self.catalog)
        self.bus.publish(DatabaseChanged(database=name, action="created"))

    async def delete_database(self, name: str) -> None:
        db = self.catalog.delete_db(name)
        await self.store.save_catalog(self.catalog)  # the tombstone must be durable before we answer
        if self.processing is not None:
            await self.processing.drop_database(name)
        self.buffers.drop_db(name)
        self.query_engine.forget(name)
        await self.store.forget_parquet(db.id)
        root = self.config.data_dir / "parquet" / db.id
        await asyncio.get_running_loop().run_in_executor(
            self._cpu_pool, lambda: shutil.rmtree(root, ignore_errors=True)
        )
        self.bus.publish(DatabaseChanged(database=name, action="deleted"))

    # ------------------------------------------------------------------ writes
    async def write_lp(
        self,
        db: str,
        body: bytes | str,
        precision: str | None = "ns",
        accept_partial: bool = True,
        no_sync: bool = False,
    ) -> WriteResult:
        dbdef = self.catalog.databases.get(db)
        if dbdef is None:
            validate_db_name(db)
        auto = isinstance(precision, str) and precision.strip().lower() == "auto"
        try:
            prec = normalize_precision(precision)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        loop = asyncio.get_running_loop()
        parsed: ParseResult = await loop.run_in_executor(
            self._cpu_pool, _parse_auto if auto else parse_lp, body, prec, time.time_ns()
        )
        result = WriteResult(database=db)
        dbdef = self.catalog.databases.get(db)
        if dbdef is not None and parsed.errors and _has_catalog_conflict(dbdef, parsed):
            parsed = await loop.run_in_executor(self._cpu_pool, _reparse_against_catalog, dbdef, body, parsed, prec)
        # Plan and apply against the catalog in one go on the loop: no await in between.
        dbdef = self.catalog.databases.get(db)
        probe = dbdef or DatabaseDef(db)
        plan = self.catalog.plan_write(probe, parsed.tables)
        errors = parsed.errors + plan.errors
        if any(not e.original_line for e in errors):  # catalog-level errors know only the line number
            _fill_lines(errors, body)
        if plan.errors:
            errors.sort(key=lambda e: e.line_number)
        result.errors = errors
        self.stats.rejected_lines += len(errors)
        if errors and not accept_partial:
            result.rejected_all = True
            return result
        if not plan.accepted:
            return result
        if dbdef is None:
            dbdef = self.catalog.create_db(db, exist_ok=True)
            self.bus.publish(DatabaseChanged(database=db, action="created"))
        self.catalog.apply_plan(dbdef, plan)
        tables = {name: (dbdef.tables[name], pt, keep) for name, (pt, keep) in plan.accepted.items()}
        batches: dict[str, pa.RecordBatch] = await loop.run_in_executor(self._cpu_pool, _build_batches, tables)
        rows = sum(b.num_rows for b in batches.values())
        result.rows = result.lines_written = rows
        self.stats.writes += 1
        self.stats.lines += rows
        pending = self._pending
        if not pending.entries:
            pending.first_at = time.monotonic()
        for name, batch in batches.items():
            pending.entries.append((dbdef, name, batch))
        pending.rows += rows
        if no_sync:
            return result
        fut = loop.create_future()
        pending.waiters.append(fut)
        await fut
        return result

    # ------------------------------------------------------------------ flushing
    async def _flush_loop(self) -> None:
        interval = self.config.wal_flush_interval
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
        async with self._flush_lock:
            pending = self._pending
            if not pending.entries and not pending.waiters:
                return 0
            self._pending = _Pending()
            entries = [(d, t, b) for d, t, b in pending.entries if d.id not in self.catalog.deleted_ids]
            seq = self._seq + 1
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            try:
                record = await loop.run_in_executor(self._wal_pool, self._write_record, seq, entries)
            except Exception as e:
                err = e if isinstance(e, StorageError) else StorageError(f"WAL write failed: {e}")
                for w in pending.waiters:
                    if not w.done():
                        w.set_exception(err)
                self._log("ERROR", f"WAL flush of {pending.rows} rows failed: {e}")
                return 0
            duration = time.perf_counter() - t0
            self._seq = seq
            flushed_at = time.time_ns()
            per_db: dict[str, dict[str, pa.RecordBatch]] = {}
            for e in record.entries:
                self.buffers.table(e.db_name, e.table).append(e.batch, seq)
                per_db.setdefault(e.db_name, {})[e.table] = e.batch
            # Value caches take the flush before writers are acknowledged and before flush
            # listeners (WAL triggers) run, so a plugin querying last_cache() sees these rows.
            self.value_caches.apply(per_db)
            for w in pending.waiters:
                if not w.done():
                    w.set_result(None)
            self.stats.flushes += 1
            self.stats.last_flush_seconds = duration
            self._flushes_since_snapshot += 1
            self.bus.publish(WalFlushed(seq=seq, databases=tuple(per_db), rows=pending.rows, duration=duration))
            if per_db and self.flush_listeners:
                batches = [FlushedWrites(seq, name, tables, flushed_at) for name, tables in per_db.items()]
                for listener in self.flush_listeners:
                    try:
                        listener(batches)
                    except Exception:
                        log.exception("flush listener failed")
        if self.catalog.version != self.store.saved_catalog_version:
            await self.store.save_catalog(self.catalog)
        self._maybe_snapshot()
        return pending.rows

    def _write_record(self, seq: int, entries: list[tuple[DatabaseDef, str, pa.RecordBatch]]) -> WalRecord:
        """WAL thread: merge each table's batches of this interval into one, append, fsync."""
        grouped: dict[tuple[str, str], tuple[DatabaseDef, list[pa.RecordBatch]]] = {}
        for db, table, batch in entries:
            grouped.setdefault((db.id, table), (db, []))[1].append(batch)
        out = []
        for (db_id, table), (db, batches) in grouped.items():
            out.append(WalEntry(db_id, db.name, table, _merge(batches)))
        record = WalRecord(seq, out)
        self.wal.append(record, sync=True)
        return record

    # ------------------------------------------------------------------ snapshots
    def _maybe_snapshot(self) -> None:
        c = self.config
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        if (
            self._flushes_since_snapshot >= c.snapshot_every_flushes
            or self.buffers.rows_in_memory() >= c.snapshot_max_buffer_rows
        ):
            self._snapshot_task = asyncio.create_task(self.snapshot(), name="pe-snapshot")

    async def snapshot(self) -> int:
        """Persist everything flushed so far to Parquet, then drop the WAL it came from."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        async with self._flush_lock:
            through = self._seq
            self._flushes_since_snapshot = 0
            await loop.run_in_executor(self._wal_pool, self.wal.rotate)
            work = []
            for db in list(self.catalog.databases.values()):
                for tname, td in self.buffers.dbs.get(db.name, {}).items():
                    batches = td.cut(through)
                    if batches and tname in db.tables:
                        work.append((db, tname, db.tables[tname].arrow_schema, batches))
        if not work:
            return 0
        files: list[tuple[str, str, str, int]] = []
        for db, tname, schema, batches in work:
            path = self.config.data_dir / "parquet" / db.id / _safe(tname) / f"{through:020d}.parquet"
            rows = await loop.run_in_executor(self._cpu_pool, self._write_parquet, path, schema, batches)
            files.append((str(path), db.id, tname, rows))
        live = [f for f in files if f[1] not in self.catalog.deleted_ids]
        await self.store.record_snapshot(through, live)
        total = 0
        for path, db_id, tname, rows in live:
            db = self._db_by_id(db_id)
            if db is not None:
                self.buffers.table(db.name, tname).replace_with_parquet(through, path, rows)
                total += rows
        await loop.run_in_executor(self._wal_pool, self.wal.remove_through, through)
        self.stats.snapshots += 1
        self.bus.publish(SnapshotDone(seq=through, files=len(live), rows=total, duration=time.perf_counter() - t0))
        return total

    def _write_parquet(self, path: Path, schema: pa.Schema, batches: list[pa.RecordBatch]) -> int:
        table = pa.Table.from_batches([widen(b, schema) for b in batches], schema=schema)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(path) + ".tmp"
        with self.fs.open_output_stream(tmp) as out:
            pq.write_table(table, out, compression="zstd")
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(str(path.parent))
        return table.num_rows

    # ------------------------------------------------------------------ queries
    async def query(self, db: str, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        self.stats.queries += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._query_pool, self.query_engine.execute, db, sql, params)

    def query_sync(self, db: str, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        """For callers on other threads (plugins): same engine, no event loop needed."""
        self.stats.queries += 1
        return self.query_engine.execute(db, sql, params)


_CONFLICT_PREFIX = "invalid column type for column "
_NS_PER_S = 1_000_000_000


def _guess_scale(ts: int) -> int:
    """InfluxDB 3's `precision=auto`: judge each timestamp by its magnitude
    (a 2020s date in seconds is ~1.7e9, in ms ~1.7e12, in us ~1.7e15)."""
    v = abs(ts) // _NS_PER_S
    if v < 5:
        return _NS_PER_S
    if v < 5_000:
        return 1_000_000
    if v < 5_000_000:
        return 1_000
    return 1


def _parse_auto(body: bytes | str, prec: str, now: int) -> ParseResult:
    """Parse as nanoseconds, then scale each timestamp by its guessed unit. Lines without a
    timestamp carry `now` in ns, which is always judged to be nanoseconds."""
    parsed = parse_lp(body, "ns", now)
    for pt in parsed.tables.values():
        pt.time = [t * _guess_scale(t) for t in pt.time]
    return parsed


def _has_catalog_conflict(db: DatabaseDef, parsed: ParseResult) -> bool:
    """Did a body's first-seen type for some column disagree with the catalog?"""
    for name, pt in parsed.tables.items():
        tdef = db.tables.get(name)
        if tdef is None:
            continue
        for col, (ftype, _) in pt.fields.items():
            c = tdef.columns.get(col)
            if c is not None and (c.kind != "field" or c.field_type != ftype):
                return True
        for col in pt.tags:
            c = tdef.columns.get(col)
            if c is not None and c.kind != "tag":
                return True
    return False


def _reparse_against_catalog(db: DatabaseDef, body: bytes | str, parsed: ParseResult, prec: str) -> ParseResult:
    """The parser fixes a column's type at its first use in a body. When that first use
    conflicts with the catalog, later lines that agree with the catalog were rejected
    only for disagreeing with a line the catalog rejects anyway. Reject the lines that
    conflict with the catalog here, then parse the others again, each on its own, so a
    conflict rejects the line and never its neighbours."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    lines = text.split("\n")
    errors: list[LineError] = []
    tables: dict[str, ParsedTable] = {}
    for name, pt in parsed.tables.items():
        tdef = db.tables.get(name)
        bad: dict[int, str] = {}
        if tdef is not None:
            for col, ftype, values in _typed_columns(pt):
                want = tdef.columns.get(col)
                if want is None or (want.kind, want.field_type) == ftype:
                    continue
                got = ColumnDef(col, ftype[0], ftype[1]).iox_type
                msg = f"invalid column type for column '{col}', expected {want.iox_type}, got {got}"
                for i, v in enumerate(values):
                    if v is not None:
                        bad.setdefault(i, msg)
        for i, msg in sorted(bad.items()):
            errors.append(LineError(pt.line_numbers[i], "", msg))
        tables[name] = _take_rows(pt, [i for i in range(pt.rows) if i not in bad]) if bad else pt
    now = time.time_ns()
    for e in parsed.errors:
        if not e.message.startswith(_CONFLICT_PREFIX) or not 0 < e.line_number <= len(lines):
            errors.append(e)
            continue
        single = parse_lp(lines[e.line_number - 1], prec, now)
        merged = None if single.errors else _merge_line(db, tables, single, e.line_number)
        if merged is None:
            errors.append(e)
        else:
            tables = merged
    errors.sort(key=lambda x: x.line_number)
    return ParseResult(tables={k: v for k, v in tables.items() if v.rows}, errors=errors)


def _typed_columns(pt: ParsedTable):
    for col, values in pt.tags.items():
        yield col, ("tag", None), values
    for col, (ftype, values) in pt.fields.items():
        yield col, ("field", FieldType(ftype)), values


def _take_rows(pt: ParsedTable, keep: list[int]) -> ParsedTable:
    def pick(values: list) -> list:
        return [values[i] for i in keep]

    out = ParsedTable(pt.name, len(keep), pick(pt.line_numbers), pick(pt.time))
    for col, values in pt.tags.items():
        vals = pick(values)
        if any(v is not None for v in vals):
            out.tags[col] = vals
    for col, (ftype, values) in pt.fields.items():
        vals = pick(values)
        if any(v is not None for v in vals):
            out.fields[col] = (ftype, vals)
    return out


def _merge_line(
    db: DatabaseDef, tables: dict[str, ParsedTable], single: ParseResult, line_number: int
) -> dict[str, ParsedTable] | None:
    """Add one re-parsed line when its types agree with the catalog and the body; else None."""
    out = dict(tables)
    for name, one in single.tables.items():
        base = out.get(name)
        tdef = db.tables.get(name)
        for col, kind, values in _typed_columns(one):
            want = tdef.columns.get(col) if tdef is not None else None
            if want is not None and (want.kind, want.field_type) != kind:
                return None
            if base is not None:
                have = ("tag", None) if col in base.tags else (
                    ("field", FieldType(base.fields[col][0])) if col in base.fields else None
                )
                if have is not None and have != kind:
                    return None
        one.line_numbers = [line_number]
        if base is None:
            out[name] = one
            continue
        merged = ParsedTable(name, base.rows + 1, base.line_numbers + [line_number], base.time + one.time)
        for col in {**base.tags, **one.tags}:
            merged.tags[col] = base.tags.get(col, [None] * base.rows) + one.tags.get(col, [None])
        for col in {**base.fields, **one.fields}:
            ftype = (base.fields.get(col) or one.fields[col])[0]
            merged.fields[col] = (
                ftype,
                (base.fields[col][1] if col in base.fields else [None] * base.rows)
                + (one.fields[col][1] if col in one.fields else [None]),
            )
        out[name] = merged
    return out


def _build_batches(tables: dict) -> dict[str, pa.RecordBatch]:
    return {name: to_record_batch(tdef, pt, keep) for name, (tdef, pt, keep) in tables.items()}


def _merge(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="default")
    table = table.unify_dictionaries().combine_chunks()
    out = table.to_batches()
    if len(out) == 1:
        return out[0]
    return pa.concat_batches(out)


def _fill_lines(errors: list[LineError], body: bytes | str) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    lines = text.split("\n")
    for e in errors:
        if not e.original_line and 0 < e.line_number <= len(lines):
            e.original_line = lines[e.line_number - 1].rstrip("\r")[:MAX_ERROR_LINE]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02x}" for c in name)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
