"""RecordedSource: a ConsoleSource that replays ticks (recorded or synthesised).

Use it for deterministic tests and screenshots:

    source = RecordedSource.demo(now=FROZEN)          # a 10-minute demo session, synthesised
    source = RecordedSource.load("session.jsonl")     # ticks recorded with `pe-tui --record FILE`
    source = RecordedSource([tick1, tick2, ...])      # ticks built in a test
    app = ConsoleApp(source, clock=lambda: FROZEN, tz=timezone.utc)

Each `collect()` returns the next recorded tick, then None (nothing changes)
once they are used up. Actions change the source's own copy of the state and
are listed in `source.actions`, so Pilot tests can assert on them; the change
shows in the next tick, as with the live engine. System cache contents (given
as `value_cache_contents`, or seen in recorded ticks) come with the next tick for
the cache the Caches pane selects (`select_value_cache`), as with the live bridge.
"""
from __future__ import annotations

import copy
import json
import pprint
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pe_engine.processing.activations import ActivationRecord
from pe_engine.processing.triggers import TriggerSettings, next_fire_times, parse_trigger_spec

from ..model import (
    CacheScope,
    LogLine,
    PluginRow,
    StatusInfo,
    Tick,
    TriggerDetail,
    TriggerRow,
    ValueCacheContents,
    ValueCacheRow,
    trigger_key,
)
from .synthetic import FROZEN_NOW, demo_session

__all__ = ["FROZEN_NOW", "RecordedSource"]


class RecordedSource:
    def __init__(
        self,
        ticks: Iterable[Tick],
        *,
        http_url: str | None = "http://127.0.0.1:8181",
        cache_values: dict[tuple[str, str], Any] | None = None,
        settings: dict[str, dict[str, Any]] | None = None,
        arguments: dict[str, dict[str, str] | None] | None = None,
        retained_inputs: Iterable[int] = (),
        load_rate: int | None = None,
        value_cache_contents: dict[str, ValueCacheContents] | None = None,
    ) -> None:
        self._ticks = list(ticks)
        self._i = 0
        self._lock = threading.Lock()
        self.http_url = http_url
        self.cache_values = dict(cache_values or {})
        self.settings = dict(settings or {})
        self.arguments = dict(arguments or {})
        self.retained = set(retained_inputs)
        self._load_rate = load_rate
        self.actions: list[tuple[str, tuple]] = []  # every action called, in order
        self.triggers: dict[str, TriggerRow] = {}
        self.activations: dict[int, ActivationRecord] = {}
        self.caches: dict[str, CacheScope] = {}
        self.plugins: list[PluginRow] = []
        self.value_caches: dict[str, ValueCacheRow] = {}
        # contents of every system cache known (given, or seen in recorded ticks); the one the
        # Caches pane selects is sent with the next tick, as the live bridge does
        self.value_contents: dict[str, ValueCacheContents] = dict(value_cache_contents or {})
        self.value_cache_selected: str | None = None
        self.status = StatusInfo()
        self._dirty: set[str] = set()
        self._lines: list[LogLine] = []
        self._seq = 0
        self.closed = False
        self.activation_count = 0  # activations the synthetic demo session synthesised (demo())

    # ------------------------------------------------------------------ loading and recording
    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> "RecordedSource":
        """Ticks from a JSON-lines file (as written by RecordingSource / `pe-tui --record`)."""
        ticks = [Tick.from_json(json.loads(line)) for line in Path(path).read_text("utf-8").splitlines() if line]
        return cls(ticks, **kwargs)

    @classmethod
    def demo(cls, now: float = FROZEN_NOW, seed: int = 7, extra_ticks: int = 0,
             isolation: str = "thread") -> "RecordedSource":
        """A deterministic 10-minute demo session (what `pe-tui --demo` shows) as one tick,
        plus `extra_ticks` small follow-up ticks (a few seconds of new activations and log lines);
        `isolation="process"`: as with `--plugin-isolation process` (worker pool, a few crashes)."""
        session = demo_session(now, seed, extra_ticks, isolation)
        src = cls(session.ticks, cache_values=session.cache_values, settings=session.settings,
                  arguments=session.arguments, retained_inputs=session.retained_inputs,
                  load_rate=session.load_rate, value_cache_contents=session.value_cache_contents)
        src.activation_count = session.activation_count
        return src

    # ------------------------------------------------------------------ ConsoleSource
    def collect(self) -> Tick | None:
        with self._lock:
            if self._i < len(self._ticks):
                tick = copy.deepcopy(self._ticks[self._i])
                self._i += 1
                self._absorb(tick)
                if self._lines:
                    tick.logs.extend(self._lines)
                    self._lines = []
                if "value_cache" in self._dirty:
                    self._dirty.discard("value_cache")
                    tick.value_cache = self._selected_contents() or tick.value_cache
                self._seq = tick.seq = max(tick.seq, self._seq + 1)
                return tick
            if not self._dirty and not self._lines:
                return None
            self._seq += 1
            tick = Tick(at=self.status.now, status=copy.copy(self.status), seq=self._seq, logs=self._lines)
            self._lines = []
            if "triggers" in self._dirty:
                tick.triggers = [copy.copy(r) for r in self.triggers.values()]
            if "caches" in self._dirty:
                tick.caches = copy.deepcopy(list(self.caches.values()))
            if "value_cache" in self._dirty:
                tick.value_cache = self._selected_contents()
            self._dirty.clear()
            return tick

    def _absorb(self, tick: Tick) -> None:
        self.status = tick.status
        if tick.triggers is not None:
            self.triggers = {r.key: copy.copy(r) for r in tick.triggers}
        if tick.caches is not None:
            self.caches = {s.id: copy.deepcopy(s) for s in tick.caches}
        if tick.plugins is not None:
            self.plugins = list(tick.plugins)
        if tick.value_caches is not None:
            self.value_caches = {r.id: copy.copy(r) for r in tick.value_caches}
        if tick.value_cache is not None:
            self.value_contents[tick.value_cache.id] = copy.deepcopy(tick.value_cache)
        for a in tick.activations:
            self.activations[a.id] = a

    def select_value_cache(self, cache_id: str | None) -> None:
        with self._lock:
            if cache_id == self.value_cache_selected:
                return
            self.value_cache_selected = cache_id
            if cache_id is not None and cache_id in self.value_contents:
                self._dirty.add("value_cache")

    def _selected_contents(self) -> ValueCacheContents | None:
        sel = self.value_cache_selected
        c = self.value_contents.get(sel) if sel is not None else None
        return None if c is None else copy.deepcopy(c)

    @property
    def exhausted(self) -> bool:
        return self._i >= len(self._ticks)

    def close(self) -> None:
        self.closed = True

    def console_log(self, level: str, text: str) -> None:
        with self._lock:
            self._lines.append(LogLine(self.status.now, level, "console", text))

    # ------------------------------------------------------------------ reads
    def trigger_detail(self, database: str, name: str) -> TriggerDetail:
        key = trigger_key(database, name)
        row = self.triggers.get(key)
        if row is None:
            raise LookupError(f"trigger {key} no longer exists")
        spec = parse_trigger_spec(row.spec, allow_exhausted=True)
        now = self.status.now
        fires = [ns / 1e9 for ns in next_fire_times(spec, int(now * 1e9), 5)] if spec.kind == "schedule" else []
        recent = sorted((a for a in self.activations.values() if a.database == database and a.trigger == name),
                        key=lambda a: a.id, reverse=True)[:20]
        return TriggerDetail(
            row=copy.copy(row), arguments=self.arguments.get(key),
            settings=self.settings.get(key, TriggerSettings().to_json()),
            next_fires=fires, recent=recent, created_at=self.status.started_at,
        )

    def activation(self, activation_id: int) -> ActivationRecord | None:
        return self.activations.get(activation_id)

    def can_retry(self, activation_id: int) -> bool:
        return activation_id in self.retained

    def cache_value(self, scope_id: str, key: str) -> str:
        if (scope_id, key) in self.cache_values:
            value = self.cache_values[(scope_id, key)]
        else:
            scope = self.caches.get(scope_id)
            entry = next((k for k in scope.keys if k.key == key), None) if scope else None
            if entry is None:
                raise KeyError(key)
            value = entry.preview
        return f"# type: {type(value).__module__}.{type(value).__qualname__}\n" + pprint.pformat(
            value, width=100, sort_dicts=False)

    # ------------------------------------------------------------------ actions
    def _act(self, name: str, *args: Any) -> None:
        self.actions.append((name, args))

    def set_trigger_enabled(self, database: str, name: str, enabled: bool) -> str:
        key = trigger_key(database, name)
        with self._lock:
            self._act("set_trigger_enabled", database, name, enabled)
            row = self.triggers.get(key)
            if row is None:
                raise LookupError(f"trigger not found: {name} (database {database})")
            row.state = "enabled" if enabled else "disabled"
            row.disabled_reason = None
            self._dirty.add("triggers")
        return f"{'enabled' if enabled else 'disabled'} {key}"

    def delete_trigger(self, database: str, name: str) -> str:
        key = trigger_key(database, name)
        with self._lock:
            self._act("delete_trigger", database, name)
            if self.triggers.pop(key, None) is None:
                raise LookupError(f"trigger not found: {name} (database {database})")
            self.caches.pop(f"plugin:trigger/{database}/{name}", None)
            self._dirty.update(("triggers", "caches"))
        return f"deleted {key}"

    def run_trigger_now(self, database: str, name: str) -> str:
        key = trigger_key(database, name)
        with self._lock:
            self._act("run_trigger_now", database, name)
            row = self.triggers.get(key)
            if row is None or row.kind != "schedule":
                raise ValueError(f"trigger {name} is not a schedule trigger")
        return f"{key} queued to run now"

    def retry_activation(self, activation_id: int) -> str:
        with self._lock:
            self._act("retry_activation", activation_id)
            if activation_id not in self.retained:
                raise LookupError(f"the input of activation {activation_id} is no longer kept")
        return f"activation #{activation_id} queued again with its original input"

    def delete_cache_key(self, scope_id: str, key: str) -> str:
        with self._lock:
            self._act("delete_cache_key", scope_id, key)
            scope = self.caches.get(scope_id)
            if scope is None or not any(k.key == key for k in scope.keys):
                raise LookupError(f"key {key!r} is gone already (expired or deleted)")
            scope.keys = [k for k in scope.keys if k.key != key]
            scope.total_keys -= 1
            self._dirty.add("caches")
        return f"deleted key {key!r}"

    def clear_cache_scope(self, scope_id: str) -> str:
        with self._lock:
            self._act("clear_cache_scope", scope_id)
            scope = self.caches.get(scope_id)
            if scope is None:
                raise LookupError(f"unknown cache scope {scope_id}")
            n = scope.total_keys
            scope.keys, scope.total_keys, scope.approx_bytes = [], 0, 0
            self._dirty.add("caches")
        return f"cleared {scope.label}: {n} key(s) removed"

    def load_rate(self) -> int | None:
        return self._load_rate

    def set_load_rate(self, lines_per_second: int) -> str:
        with self._lock:
            self._act("set_load_rate", lines_per_second)
            if self._load_rate is None:
                raise RuntimeError("no load generator")
            self._load_rate = lines_per_second
            self.status.load_rate = lines_per_second
        return f"load generator: {lines_per_second:,} lines/s"
