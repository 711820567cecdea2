"""Activation history and per-trigger metrics.

Every plugin call (WAL flush, schedule tick, HTTP request, test run) ends as one
`ActivationRecord`. `ActivationLog` keeps a bounded in-memory history, per
trigger aggregates (counts, percentiles, CPU, memory, rows) and a short 5-second
time series for the console's Performance pane, plus two bounded side buffers:
inputs of failed activations (for "retry with the original input") and records
not yet persisted by the store.

`record()` runs on worker threads after every activation, so it only appends
and increments under one lock (a few µs); sorting for percentiles happens when
someone reads `stats()`/`series()`, outside the lock, and is cached until new
samples arrive.
"""
from __future__ import annotations

import math
import random
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Iterable

from ..cache.sizing import estimate_size
from .aggregates import Bucket as _Bucket
from .aggregates import TriggerAgg as _TriggerAgg
from .aggregates import pcts as _pcts
from .records import ERROR_STATUSES, NOT_RUN_STATUSES, ActivationRecord, SeriesPoint, TriggerStats, percentile

__all__ = ["ActivationLog"]

DEFAULT_HISTORY_LIMIT = 10_000
DEFAULT_RESERVOIR = 1024
DEFAULT_BUCKET_SECONDS = 5.0
DEFAULT_SERIES_BUCKETS = 120
DEFAULT_FAILED_INPUTS = 100
DEFAULT_FAILED_INPUT_BYTES = 64 * 1024 * 1024
DEFAULT_UNSAVED_LIMIT = 10_000


class ActivationLog:
    """Bounded activation history + per-trigger metrics, shared by worker and console threads."""

    def __init__(
        self,
        *,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        reservoir_size: int = DEFAULT_RESERVOIR,
        bucket_seconds: float = DEFAULT_BUCKET_SECONDS,
        series_buckets: int = DEFAULT_SERIES_BUCKETS,
        failed_input_limit: int = DEFAULT_FAILED_INPUTS,
        failed_input_bytes: int = DEFAULT_FAILED_INPUT_BYTES,
        unsaved_limit: int = DEFAULT_UNSAVED_LIMIT,
        wall_clock: Callable[[], float] = time.time,
        size_estimator: Callable[[object], int] = estimate_size,
        seed: int | None = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._history: deque[ActivationRecord] = deque(maxlen=history_limit)
        self._unsaved: deque[ActivationRecord] = deque(maxlen=unsaved_limit)
        self._unsaved_dropped = 0
        self._aggs: dict[tuple[str, str], _TriggerAgg] = {}
        self._reservoir = reservoir_size
        self._bucket = float(bucket_seconds)
        self._series_len = series_buckets
        self._wall = wall_clock
        self._rng = random.Random(seed)
        self._next_id = 1
        self._total = 0
        self._version = 0
        self._failed: OrderedDict[int, tuple[object, int]] = OrderedDict()
        self._failed_bytes = 0
        self._failed_limit = failed_input_limit
        self._failed_byte_limit = failed_input_bytes
        self._estimate = size_estimator

    # ---- ids and counters

    def new_id(self) -> int:
        """Reserve the next activation id (executors need it before the run, e.g. for logs)."""
        with self._lock:
            n = self._next_id
            self._next_id = n + 1
            return n

    @property
    def version(self) -> int:
        """Changes whenever history or stats change; lets the console skip idle ticks."""
        return self._version

    @property
    def total_recorded(self) -> int:
        return self._total

    @property
    def unsaved_dropped(self) -> int:
        """Records lost because the store fell more than `unsaved_limit` records behind."""
        return self._unsaved_dropped

    # ---- recording

    def record(self, rec: ActivationRecord) -> ActivationRecord:
        """Add a finished (or skipped/dropped) activation; O(1), a few µs."""
        with self._lock:
            if rec.id <= 0:
                rec.id = self._next_id
            if rec.id >= self._next_id:
                self._next_id = rec.id + 1
            self._history.append(rec)
            unsaved = self._unsaved
            if len(unsaved) == unsaved.maxlen:
                self._unsaved_dropped += 1
            unsaved.append(rec)
            key = (rec.database, rec.trigger)
            agg = self._aggs.get(key)
            if agg is None:
                agg = self._aggs[key] = _TriggerAgg(rec.database, rec.trigger, self._reservoir, self._series_len)
            self._aggregate_locked(agg, rec)
            self._total += 1
            self._version += 1
        return rec

    def _aggregate_locked(self, agg: _TriggerAgg, rec: ActivationRecord) -> None:
        status = rec.status
        agg.by_status[status] = agg.by_status.get(status, 0) + 1
        agg.last_status = status
        agg.last_activation_id = rec.id
        if rec.plugin:
            agg.plugin = rec.plugin
        if status in ERROR_STATUSES:
            agg.errors += 1
            agg.last_error = rec.error or status
            agg.last_error_at = rec.finished_at or rec.started_at or rec.dispatched_at
        if status not in NOT_RUN_STATUSES:
            agg.runs += 1
            if rec.started_at is not None:
                agg.last_run = rec.started_at
            agg.run_times.append(rec.run_time)
            if rec.started_at is not None and rec.dispatched_at is not None:
                agg.latencies.append(rec.dispatch_latency)
            agg.sample_version += 1
            agg.run_total += rec.run_time
            agg.cpu_total += rec.cpu_time
            agg.cpu_last = rec.cpu_time
            if rec.memory_peak is not None:
                agg.mem_last = rec.memory_peak
                if agg.mem_max is None or rec.memory_peak > agg.mem_max:
                    agg.mem_max = rec.memory_peak
            agg.rows_in += rec.rows_in
            agg.lines_out += rec.lines_out
        ts = rec.finished_at or rec.started_at or rec.dispatched_at or self._wall()
        self._series_add_locked(agg.series, ts, rec)

    def _series_add_locked(self, series: deque[_Bucket], ts: float, rec: ActivationRecord) -> None:
        width = self._bucket
        start = math.floor(ts / width) * width
        if not series or start > series[-1].start:
            bucket = _Bucket(start)
            series.append(bucket)
            horizon = start - width * self._series_len
            while series[0].start <= horizon:
                series.popleft()
            bucket.add(rec, self._rng)
            return
        # out of order (async triggers finish out of order): usually the last bucket
        insert_at = 0
        for i in range(len(series) - 1, -1, -1):
            b = series[i]
            if b.start == start:
                b.add(rec, self._rng)
                return
            if b.start < start:
                insert_at = i + 1
                break
        # a bucket of its own, if it is inside the window and there is room
        if start > series[-1].start - width * self._series_len and len(series) < (series.maxlen or 0):
            nb = _Bucket(start)
            series.insert(insert_at, nb)
            nb.add(rec, self._rng)

    def restore_history(self, records: Iterable[ActivationRecord]) -> int:
        """Seed history from the store at start-up (oldest first).

        Not counted in stats and not re-queued for saving; advances the id
        counter so ids keep increasing across restarts.
        """
        n = 0
        with self._lock:
            for rec in records:
                self._history.append(rec)
                if rec.id >= self._next_id:
                    self._next_id = rec.id + 1
                n += 1
            if n:
                self._version += 1
        return n

    # ---- reading

    def recent(
        self,
        limit: int = 100,
        trigger: str | None = None,
        status: str | Iterable[str] | None = None,
        database: str | None = None,
    ) -> list[ActivationRecord]:
        """Newest first, filtered. The lock is held only to copy the history."""
        with self._lock:
            items = list(self._history)
        statuses: frozenset[str] | None
        if status is None:
            statuses = None
        elif isinstance(status, str):
            statuses = frozenset((status,))
        else:
            statuses = frozenset(status)
        out: list[ActivationRecord] = []
        if limit <= 0:
            return out
        for rec in reversed(items):
            if trigger is not None and rec.trigger != trigger:
                continue
            if database is not None and rec.database != database:
                continue
            if statuses is not None and rec.status not in statuses:
                continue
            out.append(rec)
            if len(out) >= limit:
                break
        return out

    def get(self, activation_id: int) -> ActivationRecord | None:
        """A record still in the in-memory history, by id."""
        with self._lock:
            items = list(self._history)
        for rec in reversed(items):
            if rec.id == activation_id:
                return rec
        return None

    def stats(self, database: str | None = None) -> dict[tuple[str, str], TriggerStats]:
        """Per-trigger snapshots keyed by (database, trigger)."""
        with self._lock:
            work = []
            for key, a in self._aggs.items():
                if database is not None and a.database != database:
                    continue
                cached = a.cached_pcts
                if cached is not None and cached[0] == a.sample_version:
                    samples = None
                else:
                    samples = (a.sample_version, list(a.run_times), list(a.latencies))
                base: dict[str, Any] = dict(
                    database=a.database, trigger=a.trigger, plugin=a.plugin, runs=a.runs,
                    errors=a.errors, by_status=dict(a.by_status), last_run=a.last_run,
                    last_status=a.last_status, last_error=a.last_error,
                    last_error_at=a.last_error_at, last_activation_id=a.last_activation_id,
                    samples=len(a.run_times), cpu_time_total=a.cpu_total, cpu_time_last=a.cpu_last,
                    memory_last=a.mem_last, memory_max=a.mem_max, rows_in_total=a.rows_in,
                    lines_out_total=a.lines_out, run_time_total=a.run_total,
                )
                work.append((key, a, base, cached, samples))
        out: dict[tuple[str, str], TriggerStats] = {}
        fresh: list[tuple[_TriggerAgg, tuple[int, tuple[float | None, ...]]]] = []
        for key, a, base, cached, samples in work:
            if samples is not None:
                version, runs, lats = samples
                cached = (version, _pcts(runs) + _pcts(lats))
                fresh.append((a, cached))
            assert cached is not None
            r50, r95, r99, l50, l95, l99 = cached[1]
            out[key] = TriggerStats(
                run_time_p50=r50, run_time_p95=r95, run_time_p99=r99,
                latency_p50=l50, latency_p95=l95, latency_p99=l99, **base,
            )
        if fresh:
            with self._lock:
                for a, cached in fresh:
                    if a.cached_pcts is None or a.cached_pcts[0] < cached[0]:
                        a.cached_pcts = cached
        return out

    def trigger_stats(self, database: str, trigger: str) -> TriggerStats | None:
        return self.stats(database).get((database, trigger))

    def series(self, database: str, trigger: str, *, dense: bool = False, now: float | None = None) -> list[SeriesPoint]:
        """The trigger's 5-second buckets, oldest first.

        Only buckets with activity are kept; `dense=True` returns the full window
        ending at `now` (default: wall clock) with empty buckets filled in.
        """
        with self._lock:
            agg = self._aggs.get((database, trigger))
            # (bucket, cached point or None, copy of what is needed to compute it)
            rows = [
                (b, b.cached, None if b.cached is not None
                 else (b.start, b.max_memory, b.runs, b.errors, list(b.samples)))
                for b in (agg.series if agg is not None else ())
            ]
        points: list[SeriesPoint] = []
        computed: list[tuple[_Bucket, SeriesPoint]] = []
        for b, point, raw in rows:
            if point is None:
                assert raw is not None
                start, max_mem, runs, errors, samples = raw
                samples.sort()
                point = SeriesPoint(
                    start=start, p50=percentile(samples, 50), p99=percentile(samples, 99),
                    max_memory=max_mem, runs=runs, errors=errors,
                )
                computed.append((b, point))
            points.append(point)
        if computed:
            with self._lock:
                for b, point in computed:
                    # keep it only if no record landed in the bucket meanwhile
                    if b.cached is None and b.runs == point.runs and b.errors == point.errors:
                        b.cached = point
        if not dense:
            return points
        width = self._bucket
        end = math.floor((self._wall() if now is None else now) / width) * width
        if points and points[-1].start > end:
            end = points[-1].start
        by_start = {p.start: p for p in points}
        return [
            by_start.get(s) or SeriesPoint(start=s, p50=None, p99=None, max_memory=None, runs=0, errors=0)
            for s in (end - width * k for k in range(self._series_len - 1, -1, -1))
        ]

    def forget(self, database: str, trigger: str) -> bool:
        """Drop a trigger's aggregates and series (trigger deleted); history stays."""
        with self._lock:
            gone = self._aggs.pop((database, trigger), None) is not None
            if gone:
                self._version += 1
            return gone

    # ---- failed-input retention

    def keep_failed_input(self, activation_id: int, payload: object, size: int | None = None) -> bool:
        """Remember a failed activation's input so the console can retry it.

        Bounded by count and by estimated bytes, oldest evicted first. A payload
        larger than the byte budget on its own is not kept (returns False).
        """
        est = self._estimate(payload) if size is None else size
        if est > self._failed_byte_limit or self._failed_limit <= 0:
            return False
        with self._lock:
            old = self._failed.pop(activation_id, None)
            if old is not None:
                self._failed_bytes -= old[1]
            self._failed[activation_id] = (payload, est)
            self._failed_bytes += est
            while len(self._failed) > self._failed_limit or self._failed_bytes > self._failed_byte_limit:
                _, (_, freed) = self._failed.popitem(last=False)
                self._failed_bytes -= freed
        return True

    def failed_input(self, activation_id: int) -> object | None:
        with self._lock:
            item = self._failed.get(activation_id)
        return None if item is None else item[0]

    def failed_input_ids(self) -> list[int]:
        """Ids with a retained input, oldest first."""
        with self._lock:
            return list(self._failed)

    @property
    def failed_input_bytes(self) -> int:
        return self._failed_bytes

    # ---- persistence

    def drain_unsaved(self) -> list[ActivationRecord]:
        """Records not yet handed to the store, oldest first; each is handed out once."""
        with self._lock:
            if not self._unsaved:
                return []
            out = list(self._unsaved)
            self._unsaved.clear()
        return out
