"""Per-trigger running aggregates and 5-second series buckets (mutable; guarded by the log's lock)."""
from __future__ import annotations

import random
from collections import deque

from .records import ERROR_STATUSES, NOT_RUN_STATUSES, ActivationRecord, SeriesPoint, percentile

__all__ = ["BUCKET_SAMPLES", "Bucket", "TriggerAgg", "pcts"]

#: per-bucket run-time samples kept for the series percentiles (reservoir-sampled beyond this)
_BUCKET_SAMPLES = 256
BUCKET_SAMPLES = _BUCKET_SAMPLES


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
        "latencies", "sample_version", "cached_pcts", "run_total", "cpu_total", "cpu_last", "mem_last",
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
        self.run_total = 0.0  # seconds, over every run (the percentiles see only the last ones)
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


Bucket = _Bucket
TriggerAgg = _TriggerAgg
pcts = _pcts
