"""The synthetic demo session: ten minutes of what `pe-tui --demo` shows, built without an
engine (the same triggers and plugins, activations aggregated by the engine's own ActivationLog,
log lines, caches, plugin files), deterministic for a seed. `RecordedSource.demo()` replays it."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from pe_engine.processing.activations import ActivationLog, ActivationRecord
from pe_engine.processing.triggers import TriggerSettings, next_fire_times, parse_trigger_spec

from ..model import (
    CacheKey,
    CacheScope,
    LogLine,
    PluginRow,
    PluginVersionRow,
    StatusInfo,
    Tick,
    TriggerRow,
    ValueCacheContents,
    ValueCacheItem,
    ValueCacheRow,
    trigger_key,
    value_cache_id,
)

FROZEN_NOW = 1_767_225_600.0 + 12 * 3600 + 34 * 60  # 2026-01-01 12:34:00 UTC


@dataclass
class DemoSession:
    """What a RecordedSource replaying the demo is built from."""

    ticks: list[Tick]
    cache_values: dict[tuple[str, str], Any] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    arguments: dict[str, dict[str, str] | None] = field(default_factory=dict)
    retained_inputs: list[int] = field(default_factory=list)
    load_rate: int | None = None
    value_cache_contents: dict[str, ValueCacheContents] = field(default_factory=dict)
    activation_count: int = 0


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
    from ..demo import plugin_source

    return hashlib.sha256(plugin_source(name).encode()).hexdigest()


# process isolation: the worker pool of the session, and how a worker crash reads (the engine's words)
_WORKER_PIDS = [48213, 48219, 48230, 48377]
_CRASH = "plugin worker process {pid} was killed by signal 11 (SIGSEGV); the worker was replaced"


def demo_session(now: float = FROZEN_NOW, seed: int = 7, extra_ticks: int = 0,
                 isolation: str = "thread") -> DemoSession:
    """Synthesise the demo: the same triggers and plugins as `--demo`, ten minutes of
    activations aggregated by the engine's own ActivationLog, log lines, caches, plugins.

    `isolation="process"` is `pe-tui --demo --plugin-isolation process`: every trigger runs in
    the pool of worker processes, and a few of flaky_disk's failures are worker crashes (the
    same random draws as in thread mode, so both sessions have the same shape)."""
    if isolation not in ("thread", "process"):
        raise ValueError(f"isolation must be thread or process, got {isolation!r}")
    from ..demo import ALERTS_DATABASE, DATABASE, HOSTS, PLUGIN_FILES, TRIGGERS

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
        _, median, spread, mem, err_rate, rows_per_run, out = prof
        # a load spike between minutes 4 and 6 makes the sparklines tell a story
        spike = 1.0 + 1.6 * math.exp(-(((t - start) - 300) / 60) ** 2)
        run = median * spike * math.exp(rng.gauss(0, spread))
        kind = "wal"
        spec_text = next(d.spec for d in TRIGGERS if d.name == name)
        if spec_text.startswith(("every:", "cron:")):
            kind = "schedule"
        elif spec_text.startswith("request:"):
            kind = "request"
        act_status, error, tb = "ok", None, None
        if name == "flaky_strict" and t + 0.5 >= strict_disabled_at:
            err_rate = 1.0
        if rng.random() < err_rate:
            act_status = "error"
            etype, emsg = _FLAKY_ERRORS[rng.randrange(2)]
            error = f"{etype}: {emsg}"
            tb = ("Traceback (most recent call last):\n"
                  '  File "flaky_enricher.py", line 22, in process_writes\n'
                  f"    raise {etype}({emsg if emsg.startswith(chr(39)) else repr(emsg)})\n"
                  f"{etype}: {emsg}\n")
        if isolation == "process" and act_status == "error" and name == "flaky_disk" and next_id % 4 == 0:
            act_status, tb = "crashed", None
            error = _CRASH.format(pid=_WORKER_PIDS[next_id % 3])
        if name == "slow_rollup" and run > 2.3:
            run = 2.3 + rng.uniform(0, 0.2)
        latency = abs(rng.gauss(0.0004, 0.0002)) * spike + (0.02 if name == "slow_rollup" else 0.0)
        started = t + latency
        rows_in = int(rows_per_run * spike * rng.uniform(0.8, 1.2)) if kind == "wal" else 0
        rec = ActivationRecord(
            id=next_id, database=DATABASE, trigger=name, kind=kind,
            plugin=next(d.plugin for d in TRIGGERS if d.name == name),
            scheduled_at=t if kind == "schedule" else None, dispatched_at=t, started_at=started,
            finished_at=started + run, dispatch_latency=latency, run_time=run,
            cpu_time=run * (0.15 if name == "slow_rollup" else 0.85),
            rows_in=rows_in, lines_out=(out if out != 100 else rows_in // 3) if act_status == "ok" else 0,
            status=act_status, error=error, traceback=tb,
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
        if rec.status in ("error", "crashed"):
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
                         disabled_reason=reason, error_behavior=s.error_behavior, isolation=isolation)
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
    errors_last_min = sum(1 for r in records if r.is_error and r.finished_at and r.finished_at > now - 60)
    status = StatusInfo(
        now=now, started_at=start - 2.0, writes_per_s=10.0, lines_per_s=600.0,
        activations_per_s=sum(1 for r in records if r.finished_at and r.finished_at > now - 2) / 2,
        errors_per_min=float(errors_last_min), wal_flush_interval=0.5, http_url="http://127.0.0.1:8181",
        events_dropped=0, triggers=len(rows), triggers_enabled=sum(1 for r in rows if r.state == "enabled"),
        load_rate=600, data_dir="/tmp/pe-tui-demo/data", plugin_isolation=isolation,
    )
    if isolation == "process":
        crashes = sum(1 for r in records if r.status == "crashed")
        status.workers, status.workers_max = len(_WORKER_PIDS), len(_WORKER_PIDS)
        status.workers_started, status.workers_replaced = len(_WORKER_PIDS) + crashes, crashes
        status.worker_pids = list(_WORKER_PIDS)
    samples: dict[str, list[tuple[float, float]]] = {}
    for rec in records:
        samples.setdefault(trigger_key(rec.database, rec.trigger), []).append((rec.run_time, rec.dispatch_latency))
    samples = {k: v[-500:] for k, v in samples.items()}
    tick = Tick(at=now, seq=1, status=status, activations=records[-500:], logs=logs, triggers=rows,
                caches=caches, plugins=plugins, series=series, samples=samples, value_caches=vc_rows)
    retained = [r.id for r in records[-500:] if r.is_error]
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
    return DemoSession(ticks=ticks, cache_values=values, settings=settings, arguments=arguments,
                       retained_inputs=retained, load_rate=600, value_cache_contents=vc_contents,
                       activation_count=n_act)


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
    lv: list[tuple[str, Any, float | None]] = []
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

    from ..demo import DATABASE, DISTINCT_CACHE, HOSTS, LAST_CACHE, region_of

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
    from ..demo import plugin_source

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
