"""What the processing engine keeps across restarts, and when it is saved.

Plugin versions, the plugin cache snapshot, log lines, activation history and the
last fire time of each schedule live in the control-plane store; this module
restores them at start and writes them back (history every flush interval,
caches less often, everything at stop).
"""
from __future__ import annotations

import asyncio
import json
import logging

from .activations import ActivationLog, ActivationRecord
from .cache.store import PluginCacheStore
from .logs import LogBuffer, LogEntry
from .plugins.registry import PluginRegistry
from .ports import ProcessingStore

__all__ = ["StateKeeper", "history_rows"]

log = logging.getLogger("pe.processing")

Key = tuple[str, str]  # (database, trigger)


class StateKeeper:
    def __init__(
        self,
        store: ProcessingStore,
        *,
        registry: PluginRegistry,
        caches: PluginCacheStore,
        activations: ActivationLog,
        logs: LogBuffer,
    ):
        self.store = store
        self.registry = registry
        self.caches = caches
        self.activations = activations
        self.logs = logs
        self.last_fired: dict[Key, int] = {}
        self._fired_dirty: set[Key] = set()

    async def restore(self) -> int:
        """Load everything saved; returns the number of plugin cache entries restored."""
        store = self.store
        self.registry.import_state(await store.load_plugin_versions())
        restored = self.caches.restore(await store.load_cache_snapshot())
        self.logs.restore([LogEntry(*r) for r in await store.recent_logs(10_000)])
        history = []
        for d in await store.recent_activations(10_000):
            try:
                history.append(ActivationRecord.from_json(d))
            except Exception:
                continue
        self.activations.restore_history(history)
        self.last_fired = await store.load_schedule_state()
        return restored

    def mark_fired(self, key: Key, fire_ns: int) -> None:
        self.last_fired[key] = fire_ns
        self._fired_dirty.add(key)

    async def save_history(self) -> None:
        recs = self.activations.drain_unsaved()
        logs = self.logs.drain_unsaved()
        if recs or logs:
            # Encoding thousands of records a second is real work: keep it off the event loop.
            acts, lg = await asyncio.get_running_loop().run_in_executor(None, history_rows, recs, logs)
            await self.store.append_history(acts, lg)
        if self._fired_dirty:
            rows = [(d, n, self.last_fired[(d, n)]) for d, n in self._fired_dirty if (d, n) in self.last_fired]
            self._fired_dirty.clear()
            await self.store.save_schedule_state(rows)

    async def snapshot_caches(self) -> int:
        rows, report = await asyncio.get_running_loop().run_in_executor(None, self.caches.snapshot)
        await self.store.replace_cache_snapshot(
            [(r.namespace_json, r.key, r.value_blob, r.codec, r.expires_at_wall) for r in rows]
        )
        if report.skipped:
            self.logs.add(
                "", "", "WARN",
                f"cache snapshot skipped {report.skipped} value(s) that cannot be serialised: "
                + "; ".join(report.skipped_examples),
            )
        return len(rows)

    async def save_plugin_versions(self) -> None:
        await self.store.save_plugin_versions([(r[0], r[1], list(r)) for r in self.registry.export_state()])


def history_rows(recs: list[ActivationRecord], logs: list[LogEntry]) -> tuple[list, list]:
    acts = [(r.database, r.trigger, r.started_at or 0.0, r.status, json.dumps(r.to_json())) for r in recs]
    lg = [(e.time_ns, e.database, e.trigger, e.level, e.text) for e in logs]
    return acts, lg
