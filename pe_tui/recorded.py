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
import hashlib
import json
import math
import pprint
import random
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pe_engine.processing.activations import ActivationLog, ActivationRecord
from pe_engine.processing.triggers import TriggerSettings, next_fire_times, parse_trigger_spec

from .model import (
    CacheKey,
    CacheScope,
    LogLine,
    PluginRow,
    PluginVersionRow,
    StatusInfo,
    Tick,
    TriggerDetail,
    TriggerRow,
    ValueCacheContents,
    ValueCacheItem,
    ValueCacheRow,
    trigger_key,
    value_cache_id,
)

FROZEN_NOW = 1_767_225_600.0 + 12 * 3600 + 34 * 60  # 2026-01-01 12:34:00 UTC


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

    # ------------------------------------------------------------------ loading and recording
    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> "RecordedSource":
        """Ticks from a JSON-lines file (as written by RecordingSource / `pe-tui --record`)."""
        ticks = [Tick.from_json(json.loads(line)) for line in Path(path).read_text("utf-8").splitlines() if line]
        return cls(ticks, **kwargs)

    @classmethod
    def demo(cls, now: float = FROZEN_NOW, seed: int = 7, extra_ticks: int = 0) -> "RecordedSource":
        """A deterministic 10-minute demo session (what `pe-tui --demo` shows) as one tick,
        plus `extra_ticks` small follow-up ticks (a few seconds of new activations and log lines)."""
        return build_demo_source(now, seed, extra_ticks)

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


class RecordingSource:
    """Wraps a live source and appends every collected tick to a JSON-lines file."""

    def __init__(self, inner: Any, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self._fh = self.path.open("w", encoding="utf-8")
        self.http_url = getattr(inner, "http_url", None)

    def collect(self) -> Tick | None:
        tick = self.inner.collect()
        if tick is not None and not self._fh.closed:
            self._fh.write(json.dumps(tick.to_json(), separators=(",", ":"), default=str) + "\n")
            self._fh.flush()
        return tick

    def close(self) -> None:
        self.inner.close()
        self._fh.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


# ====================================================================== the synthetic demo session
# Per trigger: (mean interval s, run-time median s, spread, memory bytes, error rate, rows per run, lines out)
_PROFILE: dict[str, tuple[float, float, float, int, float, int, int]] = {
    "cpu_rollup": (0.5, 0.0042, 0.35, 2_400_000, 0.0, 100, 20),
    "mem_alerts": (0.5, 0.0019, 0.30, 1_100_000, 0.0, 100, 0),
    "fleet_report": (5.0, 0.031, 0.25, 5_800_000, 0.0, 0, 1),
    "disk_audit": (15.0, 0.024, 0.25, 4_900_000, 0.0, 0, 0),
    "host_status": (1.0, 0.0009, 0.40, 350_000, 0.0, 0, 0),
    "flaky_disk": (0.5, 0.0031, 0.35, 1_600_000, 0.08, 100, 100),
    "slow_rollup": (3.0, 0.95, 0.45, 9_600_000, 0.0, 0, 0),
    "last_values": (0.5, 0.0087, 0.30, 7_200_000, 0.0, 300, 0),
}
_SESSION = 600.0  # seconds of synthesised history
_FLAKY_ERRORS = (
    ("ConnectionError", "inventory service timed out after 2.0s"),
    ("KeyError", "'host-42 is not in the inventory'"),
)


def _plugin_hash(name: str) -> str:
    from .demo import plugin_source

    return hashlib.sha256(plugin_source(name).encode()).hexdigest()


def build_demo_source(now: float = FROZEN_NOW, seed: int = 7, extra_ticks: int = 0) -> RecordedSource:
    """Synthesise the demo: the same triggers and plugins as `--demo`, ten minutes of
    activations aggregated by the engine's own ActivationLog, log lines, caches, plugins."""
    from .demo import ALERTS_DATABASE, DATABASE, HOSTS, PLUGIN_FILES, TRIGGERS

    rng = random.Random(seed)
    start = now - _SESSION
    alog = ActivationLog(wall_clock=lambda: now, seed=seed)
    records: list[ActivationRecord] = []
    logs: list[LogLine] = []
    strict_disabled_at = start + 61.3
    events: list[tuple[float, str]] = []
    for name, prof in _PROFILE.items():
        interval = prof[0]
        t = start + rng.uniform(0, interval)
        while t < now - 0.05:
            events.append((t, name))
            t += interval if name in ("fleet_report", "disk_audit", "slow_rollup") else interval * rng.uniform(0.9, 1.1)
    t = start + 0.27
    while t < strict_disabled_at:
        events.append((t, "flaky_strict"))
        t += 0.5
    events.sort()
    next_id = 1
    for t, name in events:
        prof = _PROFILE.get(name, _PROFILE["flaky_disk"])
        _, median, spread, mem, err_rate, rows, out = prof
        # a load spike between minutes 4 and 6 makes the sparklines tell a story
        spike = 1.0 + 1.6 * math.exp(-(((t - start) - 300) / 60) ** 2)
        run = median * spike * math.exp(rng.gauss(0, spread))
        kind = "wal"
        spec = next(d.spec for d in TRIGGERS if d.name == name)
        if spec.startswith(("every:", "cron:")):
            kind = "schedule"
        elif spec.startswith("request:"):
            kind = "request"
        status, error, tb = "ok", None, None
        if name == "flaky_strict" and t + 0.5 >= strict_disabled_at:
            err_rate = 1.0
        if rng.random() < err_rate:
            status = "error"
            etype, emsg = _FLAKY_ERRORS[rng.randrange(2)]
            error = f"{etype}: {emsg}"
            tb = ("Traceback (most recent call last):\n"
                  '  File "flaky_enricher.py", line 22, in process_writes\n'
                  f"    raise {etype}({emsg if emsg.startswith(chr(39)) else repr(emsg)})\n"
                  f"{etype}: {emsg}\n")
        if name == "slow_rollup" and run > 2.3:
            run = 2.3 + rng.uniform(0, 0.2)
        latency = abs(rng.gauss(0.0004, 0.0002)) * spike + (0.02 if name == "slow_rollup" else 0.0)
        started = t + latency
        rows_in = int(rows * spike * rng.uniform(0.8, 1.2)) if kind == "wal" else 0
        rec = ActivationRecord(
            id=next_id, database=DATABASE, trigger=name, kind=kind,
            plugin=next(d.plugin for d in TRIGGERS if d.name == name),
            scheduled_at=t if kind == "schedule" else None, dispatched_at=t, started_at=started,
            finished_at=started + run, dispatch_latency=latency, run_time=run,
            cpu_time=run * (0.15 if name == "slow_rollup" else 0.85),
            rows_in=rows_in, lines_out=(out if out != 100 else rows_in // 3) if status == "ok" else 0,
            status=status, error=error, traceback=tb,
            memory_peak=int(mem * rng.uniform(0.85, 1.15) * (1.0 + 0.3 * (spike - 1))),
        )
        rec.logs = _activation_logs(rec, rng)
        next_id += 1
        alog.record(rec)
        records.append(rec)

    # log lines: engine start-up, then the plugin lines of the last couple of minutes
    logs.append(LogLine(start - 1.2, "INFO", "engine", "WAL replay: 0 records, 0 rows in memory, 0.004s"))
    for d in TRIGGERS:
        logs.append(LogLine(start - 0.9, "INFO", "engine", f"trigger {DATABASE}/{d.name} created"))
    logs.append(LogLine(start - 0.8, "INFO", "engine", f"database {ALERTS_DATABASE} created"))
    for rec in records:
        if rec.finished_at is None or rec.finished_at < now - 150 and rec.status == "ok":
            continue
        src = trigger_key(rec.database, rec.trigger)
        for i, line in enumerate(rec.logs):
            level, _, text = line.partition(": ")
            ts = (rec.started_at or 0) + (rec.run_time * i / max(1, len(rec.logs) - 1))
            logs.append(LogLine(ts, level, src, text))
        if rec.status == "error":
            logs.append(LogLine(rec.finished_at, "ERROR", src, f"error executing wal plugin: {rec.error}"))
    logs.append(LogLine(strict_disabled_at, "ERROR", "demo/flaky_strict",
                        "disabled after an error: ConnectionError: inventory service timed out after 2.0s"))
    logs.append(LogLine(strict_disabled_at, "WARN", "engine",
                        "trigger demo/flaky_strict disabled by error: disabled after an error: "
                        "ConnectionError: inventory service timed out after 2.0s"))
    logs.append(LogLine(start + 412.4, "ERROR", "engine",
                        "plugin threshold_alerter.py failed to load; the last good version keeps running: "
                        "SyntaxError: expected ':' (threshold_alerter.py, line 31)"))
    logs.append(LogLine(start + 230.0, "INFO", "engine",
                        f"plugin downsampler.py reloaded (version {_plugin_hash('downsampler.py')[:12]})"))
    logs.append(LogLine(start + 300.0, "INFO", "engine", "snapshot: 360,214 rows to 3 Parquet file(s) in 0.412s"))
    logs.sort(key=lambda x: x.time)
    logs = logs[-2000:]

    # trigger rows from the engine's own aggregation
    stats = alog.stats()
    rows: list[TriggerRow] = []
    settings: dict[str, dict[str, Any]] = {}
    arguments: dict[str, dict[str, str] | None] = {}
    for d in TRIGGERS:
        spec = parse_trigger_spec(d.spec)
        s = TriggerSettings(**d.settings)
        state = "disabled" if d.disabled else "enabled"
        reason = None
        if d.name == "flaky_strict":
            state = "disabled_by_error"
            reason = "disabled after an error: ConnectionError: inventory service timed out after 2.0s"
        nxt = None
        if spec.kind == "schedule" and state == "enabled":
            nxt = next_fire_times(spec, int(now * 1e9), 1)[0] / 1e9
        row = TriggerRow(database=DATABASE, name=d.name, spec=spec.canonical(), kind=spec.kind, plugin=d.plugin,
                         state=state, mode="async" if s.run_async else "sync", next_fire=nxt,
                         disabled_reason=reason, error_behavior=s.error_behavior)
        st = stats.get((DATABASE, d.name))
        if st is not None:
            row.runs, row.errors = st.runs, st.errors
            row.p50, row.p99 = st.run_time_p50, st.run_time_p99
            row.latency_p50, row.latency_p99 = st.latency_p50, st.latency_p99
            row.cpu_time, row.memory, row.memory_max = st.cpu_time_total, st.memory_last, st.memory_max
            row.last_run, row.last_status, row.last_error = st.last_run, st.last_status, st.last_error
        if d.name == "slow_rollup":
            row.queued = 1
        rows.append(row)
        settings[row.key] = s.to_json()
        arguments[row.key] = dict(d.arguments) if d.arguments else None
    series = {r.key: alog.series(r.database, r.name, dense=True, now=now) for r in rows}

    caches, values = _demo_caches(rng, now, HOSTS)
    vc_rows, vc_contents = _demo_value_caches(random.Random(seed + 1), now)
    plugins = _demo_plugins(PLUGIN_FILES, TRIGGERS, start, now)
    n_act = len(records)
    errors_last_min = sum(1 for r in records if r.status == "error" and r.finished_at and r.finished_at > now - 60)
    status = StatusInfo(
        now=now, started_at=start - 2.0, writes_per_s=10.0, lines_per_s=600.0,
        activations_per_s=sum(1 for r in records if r.finished_at and r.finished_at > now - 2) / 2,
        errors_per_min=float(errors_last_min), wal_flush_interval=0.5, http_url="http://127.0.0.1:8181",
        events_dropped=0, triggers=len(rows), triggers_enabled=sum(1 for r in rows if r.state == "enabled"),
        load_rate=600, data_dir="/tmp/pe-tui-demo/data",
    )
    samples: dict[str, list[tuple[float, float]]] = {}
    for rec in records:
        samples.setdefault(trigger_key(rec.database, rec.trigger), []).append((rec.run_time, rec.dispatch_latency))
    samples = {k: v[-500:] for k, v in samples.items()}
    tick = Tick(at=now, seq=1, status=status, activations=records[-500:], logs=logs, triggers=rows,
                caches=caches, plugins=plugins, series=series, samples=samples, value_caches=vc_rows)
    retained = [r.id for r in records[-500:] if r.status == "error"]
    ticks = [tick]
    for i in range(extra_ticks):
        # the last second again, 0.25 s later each time, with fresh ids
        shift = 0.25 * (i + 1)
        recent = [r for r in records if r.finished_at and r.finished_at > now - 1.0]
        acts = []
        for r in recent:
            c = copy.deepcopy(r)
            c.id = next_id
            next_id += 1
            for f in ("scheduled_at", "dispatched_at", "started_at", "finished_at"):
                if getattr(c, f) is not None:
                    setattr(c, f, getattr(c, f) + 1.0 + shift)
            acts.append(c)
        lines = [LogLine(ln.time + 1.0 + shift, ln.level, ln.source, ln.text) for ln in logs if ln.time > now - 1.0]
        ticks.append(Tick(at=now, seq=2 + i, status=copy.copy(status), activations=acts, logs=lines))
    src = RecordedSource(ticks, cache_values=values, settings=settings, arguments=arguments,
                         retained_inputs=retained, load_rate=600, value_cache_contents=vc_contents)
    src.activation_count = n_act  # type: ignore[attr-defined]
    return src


def _activation_logs(rec: ActivationRecord, rng: random.Random) -> list[str]:
    kind_line = {"wal": "INFO: starting execution of wal plugin.",
                 "schedule": "INFO: starting execution with scheduled time "
                             f"{_utc(rec.scheduled_at or 0)}",
                 "request": "INFO: starting execution of request plugin."}[rec.kind]
    out = [kind_line]
    name = rec.trigger
    if rec.status == "ok":
        if name == "cpu_rollup":
            out.append(f"INFO: rolled up {rec.rows_in} rows into 20 cpu_rollup rows")
        elif name == "fleet_report":
            out.append(f"INFO: 20 hosts, fleet cpu {rng.uniform(24, 31):.1f}%; busiest: host-11 "
                       f"{rng.uniform(55, 70):.1f}%, host-04 {rng.uniform(45, 55):.1f}%, host-17 {rng.uniform(40, 45):.1f}%")
        elif name == "disk_audit":
            out.append(f"WARN: host-13: disk {rng.uniform(86.5, 88.5):.1f}% used (limit 85%)")
            out.append("INFO: disk audit: 20 hosts checked, 1 above 85%")
        elif name == "host_status":
            out.append(f"INFO: status of host-{rng.randint(1, 20):02d} served")
        elif name in ("flaky_disk", "flaky_strict"):
            out.append(f"INFO: enriched {rec.rows_in // 3} disk rows")
        elif name == "slow_rollup":
            if rec.run_time > 2.0:
                out.append(f"WARN: aggregation over {rng.randint(40_000, 90_000)} mem rows was slow: {rec.run_time:.2f}s")
            else:
                out.append(f"INFO: aggregated {rng.randint(40_000, 90_000)} mem rows in {rec.run_time:.2f}s")
        elif name == "mem_alerts" and rng.random() < 0.04:
            out.append(f"WARN: ALERT host-07: used_percent = {rng.uniform(90.5, 94):.1f} > 90 (3 in a row)")
        out.append(f"INFO: finished execution in {_human(rec.run_time)}")
    else:
        out.append(f"INFO: finished execution in {_human(rec.run_time)}")
    return out


def _utc(ts: float) -> str:
    import datetime as dt

    return str(dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).replace(tzinfo=None)) + " UTC"


def _human(s: float) -> str:
    from pe_engine.durations import format_duration

    return format_duration(s)


def _demo_caches(rng: random.Random, now: float, hosts: tuple[str, ...]) -> tuple[list[CacheScope], dict]:
    values: dict[tuple[str, str], Any] = {}
    scopes: list[CacheScope] = []

    def scope(sid: str, label: str, kind: str, ns: tuple[str, ...], entries: list[tuple[str, Any, float | None]]) -> None:
        keys = []
        for key, value, ttl in entries:
            preview = repr(value)
            size = len(json.dumps(value, default=str)) + 64
            keys.append(CacheKey(key, type(value).__name__, size, ttl, preview[:120] + ("…" if len(preview) > 120 else ""),
                                 None if ttl is None else now + ttl))
            values[(sid, key)] = value
        keys.sort(key=lambda k: k.key)
        scopes.append(CacheScope(id=sid, label=label, kind=kind, namespace=ns, total_keys=len(keys),
                                 approx_bytes=sum(k.size_bytes for k in keys), keys=keys))

    ts = int(now * 1e9)
    summaries = []
    for h in hosts:
        summaries.append((f"host:{h}", {"cpu": round(rng.uniform(8, 70), 1), "mem": round(rng.uniform(40, 80), 1),
                                        "disk": round(rng.uniform(45, 75), 1), "time": ts - rng.randint(0, 900_000_000)},
                          round(rng.uniform(45, 60), 1)))
    scope("plugin:global", "global", "global", ("global",), [
        ("alerts:active", {"host-07": 92.4}, None),
        ("counters:rows_seen", 359_812, None),
        ("fleet:last_report", {"at": "2026-01-01T12:33:55", "hosts": 20, "cpu_avg": 27.31,
                               "busiest": ["host-11", "host-04", "host-17"]}, None),
        *summaries,
    ])
    lv = []
    for h in hosts:
        for table, metric in (("cpu", "usage_user"), ("mem", "used_percent"), ("disk", "used_percent")):
            v = round(rng.uniform(10, 90), 2)
            row = {metric: v, "time": ts - rng.randint(0, 900_000_000)}
            lv.append((f"{table}:{h}", row, round(rng.uniform(40, 60), 1)))
            lv.append((f"history:{table}:{h}", [round(v + rng.gauss(0, 2), 2) for _ in range(20)],
                       round(rng.uniform(240, 300), 1)))
    scope("plugin:trigger/demo/last_values", "demo/last_values", "trigger", ("trigger", "demo", "last_values"), lv)
    scope("plugin:trigger/demo/mem_alerts", "demo/mem_alerts", "trigger", ("trigger", "demo", "mem_alerts"), [
        ("host-07:used_percent", 14, 287.5), ("host-02:used_percent", 1, 298.1)])
    scope("plugin:trigger/demo/slow_rollup", "demo/slow_rollup", "trigger", ("trigger", "demo", "slow_rollup"), [
        ("last_run", {"at": "2026-01-01T12:33:57", "rows": 71_288, "seconds": 1.184}, None)])
    return scopes, values


def _demo_value_caches(rng: random.Random, now: float) -> tuple[list[ValueCacheRow], dict[str, ValueCacheContents]]:
    """The demo's LVC (newest cpu row per region and host) and DVC (region/host of disk)."""
    from pe_engine.durations import parse_duration_ns

    from .demo import DATABASE, DISTINCT_CACHE, HOSTS, LAST_CACHE, region_of

    ts = int(now * 1e9)
    pairs = sorted((region_of(h), h) for h in HOSTS)
    lc, dc = LAST_CACHE, DISTINCT_CACHE
    lid = value_cache_id("last", DATABASE, lc["table"], lc["name"])
    did = value_cache_id("distinct", DATABASE, dc["table"], dc["name"])
    rows = [
        ValueCacheRow(id=did, kind="distinct", db=DATABASE, table=dc["table"], name=dc["name"],
                      columns=list(dc["columns"]), max_cardinality=100_000,
                      max_age=parse_duration_ns(dc["max_age"]) // 1_000_000_000, keys=len(pairs)),
        ValueCacheRow(id=lid, kind="last", db=DATABASE, table=lc["table"], name=lc["name"],
                      columns=list(lc["key_columns"]), value_columns=[*lc["value_columns"], "time"],
                      count=lc["count"], ttl=parse_duration_ns(lc["ttl"]) // 1_000_000_000,
                      keys=len(pairs), rows=len(pairs)),
    ]
    rows.sort(key=lambda r: (r.kind, r.db, r.table, r.name))  # as engine.value_caches.list() sorts
    last: list[ValueCacheItem] = []
    for region, host in pairs:
        user = round(rng.uniform(8, 70), 2)
        system = round(user * 0.3, 2)
        t = ts - rng.randint(0, 900_000_000)
        last.append(ValueCacheItem((region, host), {"usage_user": user, "usage_system": system,
                                                    "usage_idle": round(100 - user - system, 2), "time": t},
                                   round((ts - t) / 1e9 + rng.uniform(0.001, 0.01), 6)))
    distinct = [ValueCacheItem(p, None, round(rng.uniform(0.05, 1.0), 6)) for p in pairs]
    contents = {
        lid: ValueCacheContents(id=lid, at=now, total=len(last), items=last, version=1),
        did: ValueCacheContents(id=did, at=now, total=len(distinct), items=distinct, version=1),
    }
    return rows, contents


def _demo_plugins(files: tuple[str, ...], triggers: tuple, start: float, now: float) -> list[PluginRow]:
    from .demo import plugin_source

    rows = []
    for name in files:
        src = plugin_source(name)
        h = _plugin_hash(name)
        versions = [PluginVersionRow(h, start - 1.0, "local", len(src.encode()))]
        error = None
        if name == "downsampler.py":
            old = hashlib.sha256((src + "# first version\n").encode()).hexdigest()
            versions.insert(0, PluginVersionRow(old, start - 1.0, "local", len(src.encode()) - 212))
            versions[1] = PluginVersionRow(h, start + 230.0, "local", len(src.encode()))
        if name == "threshold_alerter.py":
            error = "SyntaxError: expected ':' (threshold_alerter.py, line 31)"
        users = sorted(f"demo/{t.name}" for t in triggers if t.plugin == name)
        rows.append(PluginRow(filename=name, kind="file", content_hash=h, versions=versions, users=users,
                              last_error=error, size_bytes=len(src.encode()),
                              last_modified=(start + 412.4) if error else (start + 230.0 if name == "downsampler.py"
                                                                             else start - 1.0),
                              source="local"))
    return rows
