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
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Literal

from .cache.sizing import estimate_size
from .enums import ActivationStatus

__all__ = [
    "ActivationKind",
    "ActivationLog",
    "ActivationRecord",
    "ActivationStatus",
    "ERROR_STATUSES",
    "NOT_RUN_STATUSES",
    "SeriesPoint",
    "TriggerStats",
    "percentile",
]

ActivationKind = Literal["wal", "schedule", "request", "test"]

#: statuses that count as errors (a plugin that ran and failed or was stopped)
ERROR_STATUSES = frozenset(
    str(s) for s in (ActivationStatus.ERROR, ActivationStatus.TIMEOUT, ActivationStatus.MEMORY_LIMIT, ActivationStatus.CPU_LIMIT)
)
#: statuses of activations that never ran the plugin; they count in by_status only
NOT_RUN_STATUSES = frozenset(str(s) for s in (ActivationStatus.SKIPPED, ActivationStatus.DROPPED))

DEFAULT_MAX_LOG_LINES = 200
DEFAULT_HISTORY_LIMIT = 10_000
DEFAULT_RESERVOIR = 1024
DEFAULT_BUCKET_SECONDS = 5.0
DEFAULT_SERIES_BUCKETS = 120
DEFAULT_FAILED_INPUTS = 100
DEFAULT_FAILED_INPUT_BYTES = 64 * 1024 * 1024
DEFAULT_UNSAVED_LIMIT = 10_000
#: per-bucket run-time samples kept for the series percentiles (reservoir-sampled beyond this)
_BUCKET_SAMPLES = 256


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (always an observed value)."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = math.ceil(p / 100.0 * n)
    return sorted_values[min(n - 1, max(0, rank - 1))]


@dataclass(slots=True)
class ActivationRecord:
    """One plugin activation, as measured by the executor.

    Times are epoch seconds; durations are seconds. `logs` holds the first
    `max_log_lines` lines the plugin logged during this activation (use
    `add_log`); later lines are only counted in `logs_dropped`. Treat a record
    as read-only once it has been passed to `ActivationLog.record`.
    """

    id: int  # 0 = let ActivationLog.record assign the next id
    database: str
    trigger: str
    kind: str  # ActivationKind
    plugin: str
    scheduled_at: float | None = None
    dispatched_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    dispatch_latency: float = 0.0  # started_at - dispatched_at
    run_time: float = 0.0
    cpu_time: float = 0.0
    rows_in: int = 0
    lines_out: int = 0
    status: str = "ok"  # ActivationStatus
    error: str | None = None
    traceback: str | None = None
    memory_peak: int | None = None
    attempt: int = 1
    logs: list[str] = field(default_factory=list)
    input_summary: str = ""
    logs_dropped: int = 0

    def add_log(self, line: str, max_lines: int = DEFAULT_MAX_LOG_LINES) -> None:
        """Keep the first `max_lines` lines; a chatty plugin must not grow history unboundedly."""
        if len(self.logs) < max_lines:
            self.logs.append(line)
        else:
            self.logs_dropped += 1

    @property
    def is_error(self) -> bool:
        return self.status in ERROR_STATUSES

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the HTTP API, the CLI and the store."""
        out = {f: getattr(self, f) for f in _RECORD_FIELDS}
        out["logs"] = list(self.logs)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivationRecord:
        """Inverse of `to_json` (unknown keys ignored), used when reloading history."""
        kwargs = {k: v for k, v in data.items() if k in _RECORD_FIELD_SET}
        if "logs" in kwargs:
            kwargs["logs"] = list(kwargs["logs"] or [])
        return cls(**kwargs)


_RECORD_FIELDS = tuple(f.name for f in fields(ActivationRecord))
_RECORD_FIELD_SET = frozenset(_RECORD_FIELDS)


@dataclass(slots=True, frozen=True)
class TriggerStats:
    """Snapshot of one trigger's aggregates; safe to keep and read on any thread.

    `runs` counts activations that ran the plugin (not skipped/dropped);
    `errors` counts statuses in ERROR_STATUSES; percentiles are over the last
    `samples` runs (nearest rank).
    """

    database: str
    trigger: str
    plugin: str
    runs: int
    errors: int
    by_status: dict[str, int]
    last_run: float | None
    last_status: str | None
    last_error: str | None
    last_error_at: float | None
    last_activation_id: int | None
    run_time_p50: float | None
    run_time_p95: float | None
    run_time_p99: float | None
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    samples: int
    cpu_time_total: float
    cpu_time_last: float | None
    memory_last: int | None
    memory_max: int | None
    rows_in_total: int
    lines_out_total: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.runs if self.runs else 0.0

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["by_status"] = dict(self.by_status)
        out["error_rate"] = self.error_rate
        return out


@dataclass(slots=True, frozen=True)
class SeriesPoint:
    """One 5-second bucket of a trigger's Performance series (None = no runs in it)."""

    start: float
    p50: float | None
    p99: float | None
    max_memory: int | None
    runs: int
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Bucket:
    """Mutable series bucket; run-time samples reservoir-sampled so `add` stays O(1)."""

    __slots__ = ("start", "runs", "errors", "max_memory", "samples", "seen", "cached")

    def __init__(self, start: float) -> None:
        self.start = start
        self.runs = 0
        self.errors = 0
        self.max_memory: int | None = None
        self.samples: list[float] = []
        self.seen = 0
        self.cached: SeriesPoint | None = None

    def add(self, rec: ActivationRecord, rng: random.Random) -> None:
        self.cached = None
        if rec.status in ERROR_STATUSES:
            self.errors += 1
        if rec.status in NOT_RUN_STATUSES:
            return
        self.runs += 1
        mem = rec.memory_peak
        if mem is not None and (self.max_memory is None or mem > self.max_memory):
            self.max_memory = mem
        self.seen += 1
        if len(self.samples) < _BUCKET_SAMPLES:
            self.samples.append(rec.run_time)
        else:
            j = rng.randrange(self.seen)
            if j < _BUCKET_SAMPLES:
                self.samples[j] = rec.run_time


class _TriggerAgg:
    """Mutable per-trigger aggregate, only touched under ActivationLog's lock."""

    __slots__ = (
        "database", "trigger", "plugin", "runs", "errors", "by_status", "last_run",
        "last_status", "last_error", "last_error_at", "last_activation_id", "run_times",
        "latencies", "sample_version", "cached_pcts", "cpu_total", "cpu_last", "mem_last",
        "mem_max", "rows_in", "lines_out", "series",
    )

    def __init__(self, database: str, trigger: str, reservoir: int, series_len: int) -> None:
        self.database = database
        self.trigger = trigger
        self.plugin = ""
        self.runs = 0
        self.errors = 0
        self.by_status: dict[str, int] = {}
        self.last_run: float | None = None
        self.last_status: str | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_activation_id: int | None = None
        self.run_times: deque[float] = deque(maxlen=reservoir)
        self.latencies: deque[float] = deque(maxlen=reservoir)
        self.sample_version = 0
        # (sample_version, run-time p50/p95/p99, latency p50/p95/p99)
        self.cached_pcts: tuple[int, tuple[float | None, ...]] | None = None
        self.cpu_total = 0.0
        self.cpu_last: float | None = None
        self.mem_last: int | None = None
        self.mem_max: int | None = None
        self.rows_in = 0
        self.lines_out = 0
        self.series: deque[_Bucket] = deque(maxlen=series_len)


def _pcts(values: list[float]) -> tuple[float | None, float | None, float | None]:
    values.sort()
    return percentile(values, 50), percentile(values, 95), percentile(values, 99)


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
                    lines_out_total=a.lines_out,
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
