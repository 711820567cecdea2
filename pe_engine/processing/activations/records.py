"""One activation's record and the snapshots read from the log: per-trigger stats and
the Performance pane's series points. Plain, thread-safe-to-read records."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..enums import ActivationStatus

__all__ = [
    "ActivationKind", "ActivationStatus", "ERROR_STATUSES", "NOT_RUN_STATUSES", "DEFAULT_MAX_LOG_LINES",
    "percentile", "ActivationRecord", "TriggerStats", "SeriesPoint",
]

ActivationKind = Literal["wal", "schedule", "request", "test"]

#: statuses that count as errors (a plugin that ran and failed or was stopped)
ERROR_STATUSES = frozenset(
    str(s) for s in (ActivationStatus.ERROR, ActivationStatus.TIMEOUT, ActivationStatus.MEMORY_LIMIT, ActivationStatus.CPU_LIMIT,
                   ActivationStatus.CRASHED)
)
#: statuses of activations that never ran the plugin; they count in by_status only
NOT_RUN_STATUSES = frozenset(str(s) for s in (ActivationStatus.SKIPPED, ActivationStatus.DROPPED))

DEFAULT_MAX_LOG_LINES = 200


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
    run_time_total: float = 0.0  # seconds over all `runs` (a Prometheus summary's sum)

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
