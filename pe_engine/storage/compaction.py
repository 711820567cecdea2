"""Background compaction: a partition's small files merged into one (DESIGN §9).

When: after each snapshot, and on a low-rate timer (`run`, every `idle_interval` seconds) so
days settle once writes stop. What: a table's newest day (still written) with at least
`min_files` files; any older day with two or more; any day whose files overlap in time (such a
day makes every query run the dedup step over it, `storage/sources.py`) as soon as it has two;
and, on a tick with no write and no snapshot since the previous one (the engine is idle), the
newest day too at two. A partition is always merged whole (its files' seq ranges stay disjoint), one at a
time in the CPU pool: rows of the files in WAL order (each file is deduplicated inside, a later
file has a higher seq), deduplicated again, sorted by series key and time, written as one new
file whose seq range is the union of the old ones (so the new file supersedes them: see
`FileMeta.supersedes`; its `merged_files` says how many it replaced). Crash-safe in this order:

1. the new file is durable under its final name (an unrecorded file if we crash here);
2. one store transaction replaces the old entries with the new one;
3. the buffers swap (new queries read the new file);
4. the old files are deleted once no running query reads them (`in_use`, the query engine's
   pins), at the latest after `grace` seconds (a crash first leaves files the store no longer
   lists, each superseded by the recorded compacted file).

A failure is logged once per distinct cause and retried at the next snapshot or tick, with
back-off. A kick while a pass runs is not lost: the pass runs once more when it ends.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .batch import widen
from .buffer import BufferStore
from .catalog import Catalog, DatabaseDef
from .parquet_meta import FileMeta, FileRecord
from .partitions import dedup, file_path, sort_by_key, time_range, write_file
from .doomed import DoomedFiles
from .ports import FileSwapper

log = logging.getLogger("pe.engine")

Report = Callable[[str, str], None]


def merge_files(
    fs: pafs.FileSystem, root: str, table_dir: str, meta: FileMeta, schema: pa.Schema, files: list[FileRecord]
) -> FileRecord:
    """CPU thread: the files' rows as one deduplicated, sorted file (seq range: the union)."""
    ordered = sorted(files, key=lambda f: (f.max_seq, f.min_seq))
    parts = []
    for f in ordered:
        with fs.open_input_file(f.path) as src:
            t = pq.read_table(src)
        t = t.replace_schema_metadata(None)
        parts.append(pa.Table.from_batches([widen(b, schema) for b in t.to_batches()], schema=schema))
    rows = sort_by_key(dedup(pa.concat_tables(parts).combine_chunks()))
    tmin, tmax = time_range(rows)
    m = replace(
        meta, partition=ordered[0].partition or "", min_seq=min(f.min_seq for f in files),
        max_seq=max(f.max_seq for f in files), min_time=tmin, max_time=tmax, rows=rows.num_rows,
        merged_files=len(files),
    )
    path = file_path(root, meta.db_id, table_dir, m.partition, m.min_seq, m.max_seq)
    return write_file(fs, path, rows, m)


def overlapping(files: list[FileRecord]) -> bool:
    """True when two of the files' time ranges overlap (queries then deduplicate them)."""
    hi: int | None = None
    for f in sorted(files, key=lambda f: f.min_time):
        if hi is not None and f.min_time <= hi:
            return True
        hi = f.max_time if hi is None else max(hi, f.max_time)
    return False


class Compactor:
    def __init__(
        self,
        *,
        root: str,
        fs: pafs.FileSystem,
        catalog: Catalog,
        buffers: BufferStore,
        swapper: FileSwapper,
        cpu_pool: Executor,
        table_dir: Callable[[str], str],
        min_files: int = 4,
        grace: float = 300.0,
        report: Report | None = None,
        in_use: Callable[[], set[str] | None] | None = None,
        idle_interval: float = 5.0,
        activity: Callable[[], int] | None = None,
    ) -> None:
        self.root = root
        self.fs = fs
        self.catalog = catalog
        self.buffers = buffers
        self.swapper = swapper
        self.min_files = max(2, min_files)
        self.idle_interval = idle_interval  # seconds between ticks of `run`; <= 0: no timer
        self.grace = grace
        self._in_use = in_use
        self._cpu_pool = cpu_pool
        self._table_dir = table_dir
        self._report = report or (lambda level, msg: log.log(logging.getLevelName(level), msg))
        self._task: asyncio.Task | None = None
        self.doomed = DoomedFiles(fs, grace=grace, report=self._report, what="compaction", in_use=in_use)
        self._last_error: str | None = None
        self._failures = 0
        self._not_before = 0.0
        self.merged = 0  # partitions merged since start
        self._again = False  # kicked while a pass ran: run once more
        self._settle = False  # the (next) pass also merges the newest day at two files
        self._kicks = 0  # snapshots that kicked since start
        self._activity = activity or (lambda: 0)  # a counter that moves on every write (WAL flushes)
        self._seen_at_tick: tuple[int, int] | None = None

    # ------------------------------------------------------------------ when
    def kick(self, settle: bool = False) -> None:
        """After a snapshot (or from `tick`): start a background pass unless a failure backs
        off; while one runs, it runs once more when it ends. `settle`: the engine is idle, so
        the newest day is merged at two files too."""
        self._settle = self._settle or settle
        if self._task is not None and not self._task.done():
            self._again = True
            return
        if time.monotonic() < self._not_before:
            return
        self._task = asyncio.create_task(self._run(), name="pe-compaction")

    def snapshot_done(self) -> None:
        """The persister's hook: a snapshot wrote files."""
        self._kicks += 1
        self.kick()

    def tick(self) -> None:
        """The timer's pass: with no write and no snapshot since the previous tick the engine is
        idle and the newest day settles too; otherwise a plain pass (older days, overlaps, a
        retry after a back-off). Under steady writes the newest day keeps waiting for min_files."""
        seen = (self._kicks, self._activity())
        idle = seen == self._seen_at_tick
        self._seen_at_tick = seen
        self.kick(settle=idle)

    async def run(self) -> None:
        """`tick` every `idle_interval` seconds until cancelled (the engine runs it)."""
        if self.idle_interval <= 0:
            return
        while True:
            await asyncio.sleep(self.idle_interval)
            self.tick()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._again = False
            settle, self._settle = self._settle, False
            try:
                await self.compact(settle=settle)
                self._failures = 0
                self._last_error = None
            except Exception as e:  # never kill the engine: retry at a later snapshot or tick
                self._failures += 1
                self._not_before = time.monotonic() + min(300.0, 2.0 ** self._failures)
                cause = f"{type(e).__name__}: {e}"
                if cause != self._last_error:
                    self._report("ERROR", f"compaction failed (will retry): {cause}")
                    self._last_error = cause
                self._settle = self._settle or settle
                return  # backing off: a later kick retries
            if not self._again:
                return

    # ------------------------------------------------------------------ what
    def candidates(self, settle: bool = False) -> list[tuple[DatabaseDef, str, list[FileRecord]]]:
        """Partitions to merge (whole). `settle`: the newest day too at two files."""
        out = []
        for db in list(self.catalog.databases.values()):
            for tname, td in self.buffers.dbs.get(db.name, {}).items():
                parts: dict[str, list[FileRecord]] = {}
                for f in td.files:
                    if f.partition is not None and f.known_range:
                        parts.setdefault(f.partition, []).append(f)
                newest = max(parts, default=None)
                for part, files in parts.items():
                    # The newest day still takes writes: merge it at min_files (at two when the
                    # engine is idle); an older day as soon as it has two files, so settled
                    # history is one file per day; a day whose files overlap in time at two
                    # (every query deduplicates it until then).
                    if len(files) < 2:
                        continue
                    if part != newest or settle or len(files) >= self.min_files or overlapping(files):
                        out.append((db, tname, files))
        return out

    async def compact(self, settle: bool = False) -> int:
        """Merge every partition that has enough files; returns how many were merged."""
        loop = asyncio.get_running_loop()
        done = 0
        for db, tname, files in self.candidates(settle):
            tdef = db.tables.get(tname)
            if tdef is None:
                continue
            meta = FileMeta(db.name, db.id, tname, "", 0, 0, 0, 0, 0, FileMeta.columns_of(tdef))
            t0 = time.perf_counter()
            new = await loop.run_in_executor(
                self._cpu_pool, merge_files, self.fs, self.root, self._table_dir(tname), meta, tdef.arrow_schema, files
            )
            old = {f.path for f in files}
            td = self.buffers.dbs.get(db.name, {}).get(tname)
            if db.id in self.catalog.deleted_ids or td is None or not old <= {f.path for f in td.files}:
                self.doomed.delete_now([new.path])  # the table or some of its files went meanwhile: nothing to swap
                continue
            await self.swapper.replace_files(sorted(old), [new])
            td = self.buffers.dbs.get(db.name, {}).get(tname)
            if td is not None:
                td.replace_files(old, [new])
            self.doomed.add(sorted(old))
            done += 1
            self.merged += 1
            self._report(
                "INFO",
                f"compacted {db.name}.{tname} {new.partition}: {len(files)} files, "
                f"{sum(f.rows for f in files)} rows -> 1 file, {new.rows} rows in {time.perf_counter() - t0:.2f}s",
            )
        self.delete_due()
        return done

    def delete_due(self, now: float | None = None) -> None:
        self.doomed.delete_due(now)

    def delete_all_now(self) -> None:
        """At stop: no query runs any more."""
        self.doomed.delete_all_now()
