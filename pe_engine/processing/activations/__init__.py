"""Activation history and per-trigger metrics: records (records.py), running aggregates
(aggregates.py) and the bounded log that holds them (log.py). The face re-exports the
public names."""
from __future__ import annotations

from .log import ActivationLog
from .records import (
    ERROR_STATUSES,
    NOT_RUN_STATUSES,
    ActivationKind,
    ActivationRecord,
    ActivationStatus,
    SeriesPoint,
    TriggerStats,
    percentile,
)

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
