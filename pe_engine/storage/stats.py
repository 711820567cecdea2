"""Counters of the storage engine (writes, flushes, snapshots, queries), read by status pages."""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class EngineStats:
    writes: int = 0
    lines: int = 0
    rejected_lines: int = 0
    flushes: int = 0
    last_flush_seconds: float = 0.0
    flush_seconds_total: float = 0.0  # WAL write + fsync time over all `flushes`
    snapshots: int = 0
    snapshot_failures: int = 0  # failed attempts (each retried with back-off)
    queries: int = 0
    started_at: float = field(default_factory=time.time)
