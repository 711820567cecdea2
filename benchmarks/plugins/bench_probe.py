"""Shared in-process probe for the benchmark plugins (not a plugin itself).

The benchmark scripts put this directory on sys.path and import the module; the plugins
import it too (plugins run in the engine's process, so both see the same module object).
Plugins append plain tuples; list.append is atomic under the GIL, so no lock is needed.
"""
from __future__ import annotations

# (trigger_index: str, perf_counter_at_entry: float, flush_marker: int | None)
wal_entries: list = []
# (trigger_index: str, time_time_at_entry: float, perf_counter_at_entry: float, call_time_epoch: float)
schedule_entries: list = []
# (plugin: str, perf_counter_at_entry: float, perf_counter_at_exit: float, result: float | None, rows: int)
sums: list = []


def reset() -> None:
    wal_entries.clear()
    schedule_entries.clear()
    sums.clear()
