"""Database retention: how far back rows stay visible, and which Parquet files have expired.

InfluxDB 3 Core takes `retention_period` once, at database creation (`POST
/api/v3/configure/database` body, `influxdb3 create database --retention-period 30d`), and
enforces it at query time: a point whose time is older than `now - retention_period` is never
returned, even while it is still stored; whole expired files are removed in the background.

The value is a duration (`30d`, `24h`, `2w`, `1y`, `1h 30m`), parsed by pe's one duration
parser (`pe_engine/durations.py`); InfluxDB's documented `mo` for months is accepted too, and
`none` / `infinite` (or no value) mean the data never expires.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from ..durations import format_duration_ns, parse_duration_ns
from ..errors import BadRequest
from .buffer import BufferStore
from .doomed import DoomedFiles
from .catalog import Catalog, DatabaseDef
from .parquet_meta import FileRecord
from .ports import FileSwapper

if TYPE_CHECKING:
    from datafusion import SessionContext
    from datafusion.catalog import Table

__all__ = [
    "RetentionError", "RetentionSweeper", "cutoff_ns", "format_retention_period", "is_expired",
    "parse_retention_period", "retained_view", "unexpired",
]

log = logging.getLogger("pe.engine")

_NO_EXPIRY = {"none", "infinite", "inf", "indefinite"}
_MONTHS_MO = re.compile(r"(?<=[0-9])\s*mo(?![a-zA-Z])")  # InfluxDB's docs write months as `mo`


class RetentionError(BadRequest):
    """A retention period that is not a duration (answered with 400)."""


class HasRetention(Protocol):
    @property
    def retention_period_ns(self) -> int | None: ...


def parse_retention_period(value: object) -> int | None:
    """A retention period as nanoseconds; None when the data never expires.

    Accepts a duration string, None, "", or "none"/"infinite"; anything else is a
    RetentionError naming the value and the accepted forms.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise RetentionError(
            f"invalid retention_period {value!r}: expected a duration string such as \"30d\" or \"24h\""
        )
    text = value.strip()
    if not text or text.lower() in _NO_EXPIRY:
        return None
    if text.startswith("-"):
        raise RetentionError(f"invalid retention_period {value!r}: a retention period cannot be negative")
    try:
        return parse_duration_ns(_MONTHS_MO.sub("M", text))
    except BadRequest as e:
        raise RetentionError(f"invalid retention_period: {e.message}") from None


def format_retention_period(ns: int | None) -> str | None:
    """The listing's text for a retention period (None when the data never expires)."""
    return None if ns is None else format_duration_ns(ns)


def cutoff_ns(dbdef: HasRetention, now_ns: int) -> int | None:
    """The oldest visible time (ns): rows with time < cutoff are hidden. None = keep all."""
    period = dbdef.retention_period_ns
    if period is None:
        return None
    return now_ns - period


def is_expired(max_time_ns: int, cutoff: int | None) -> bool:
    """A file whose newest row is older than the cutoff holds nothing visible any more."""
    return cutoff is not None and max_time_ns < cutoff


# Periods this long hide nothing a timestamp can hold (and `now() - period` would overflow).
_NO_CUTOFF_NS = 2**62


def retained_view(helper: SessionContext, provider: Table, period_ns: int) -> Table:
    """`provider` seen through `time >= now() - period`, as a DataFusion view.

    `now()` is evaluated when each query runs, so the cutoff moves with the clock while the
    view is registered once; the filter is pushed into the provider's scan (Parquet pruning
    skips files older than the cutoff). `helper` is a context used only to build the view.
    """
    if period_ns >= _NO_CUTOFF_NS:
        return provider
    name = f"r{uuid.uuid4().hex}"
    helper.register_table(name, provider)
    try:
        df = helper.sql(
            f"SELECT * FROM {name} WHERE time >= CAST(now() AS TIMESTAMP) - INTERVAL '{int(period_ns)} nanoseconds'"
        )
        return df.into_view()
    finally:
        helper.deregister_table(name)


# ---------------------------------------------------------------------- enforcement
class _Mem(Protocol):  # buffer.MemBatch
    @property
    def batch(self) -> pa.RecordBatch: ...
    @property
    def seq(self) -> int: ...
    @property
    def min_time(self) -> int: ...
    @property
    def max_time(self) -> int: ...


def unexpired(mems: Sequence[_Mem], cutoff: int | None) -> list[tuple[pa.RecordBatch, int]]:
    """(batch, seq) for a snapshot, without the rows older than the cutoff (they are never shown)."""
    out: list[tuple[pa.RecordBatch, int]] = []
    for m in mems:
        if cutoff is None or m.min_time >= cutoff:
            out.append((m.batch, m.seq))
        elif m.max_time >= cutoff:
            t = m.batch.column(m.batch.schema.get_field_index("time")).cast(pa.int64())
            out.append((m.batch.filter(pc.greater_equal(t, pa.scalar(cutoff, pa.int64()))), m.seq))
    return out


class RetentionSweeper:
    """Removes whole Parquet files whose newest row is past their database's retention.

    A pass lists the expired files of every table, drops them from the store in one transaction
    per table, then from the buffers (new queries stop reading them), and deletes them from disk
    once no running query reads them (storage/doomed.py), at the latest after `grace` seconds. It runs
    after snapshots (`kick`) and every `interval` seconds (`run`), since data expires with time.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        buffers: BufferStore,
        swapper: FileSwapper,
        fs: pafs.FileSystem,
        grace: float = 300.0,
        clock: Callable[[], int] = time.time_ns,
        report: Callable[[str, str], None] | None = None,
        in_use: Callable[[], set[str] | None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.buffers = buffers
        self.swapper = swapper
        self.fs = fs
        self.grace = grace
        self.clock = clock
        self.removed = 0  # files removed since start
        self._report = report or (lambda level, msg: log.log(logging.getLevelName(level), msg))
        self.doomed = DoomedFiles(fs, grace=grace, report=self._report, what="retention", in_use=in_use)
        self._task: asyncio.Task | None = None
        self._last_error: str | None = None

    def expired(self, now_ns: int | None = None) -> list[tuple[DatabaseDef, str, list[FileRecord]]]:
        now = self.clock() if now_ns is None else now_ns
        out = []
        for db in list(self.catalog.databases.values()):
            cutoff = cutoff_ns(db, now)
            if cutoff is None:
                continue
            for tname, td in list(self.buffers.dbs.get(db.name, {}).items()):
                files = [f for f in td.files if f.known_range and is_expired(f.max_time, cutoff)]
                if files:
                    out.append((db, tname, files))
        return out

    async def sweep(self) -> int:
        """One pass; returns how many files were dropped."""
        n = 0
        for db, tname, files in self.expired():
            paths = sorted(f.path for f in files)
            await self.swapper.replace_files(paths, [])
            td = self.buffers.dbs.get(db.name, {}).get(tname)
            if td is not None:
                td.replace_files(set(paths), [])
            self.doomed.add(paths)
            n += len(paths)
            self._report("INFO", f"retention: {db.name}.{tname}: {len(paths)} expired file(s) removed")
        self.removed += n
        self.delete_due()
        return n

    def kick(self) -> None:
        """Start a background pass unless one is running."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._guarded(), name="pe-retention")

    async def run(self, interval: float) -> None:
        """Sweep every `interval` seconds until cancelled."""
        while True:
            await self._guarded()
            await asyncio.sleep(interval)

    async def _guarded(self) -> None:
        try:
            await self.sweep()
            self._last_error = None
        except Exception as e:  # never kill the engine: the next pass retries
            cause = f"{type(e).__name__}: {e}"
            if cause != self._last_error:
                self._report("ERROR", f"retention sweep failed (will retry): {cause}")
                self._last_error = cause

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def delete_due(self, now: float | None = None) -> None:
        self.doomed.delete_due(now)

    def delete_all_now(self) -> None:
        """At stop: no query runs any more."""
        self.doomed.delete_all_now()
