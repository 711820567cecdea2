"""`pe-tui --demo`: example plugins, their triggers, and a load generator writing host metrics.

Everything goes through the engine's public API (create_database,
create_trigger, write_lp, handle_request) on the engine's own loop, so the demo
looks exactly like a real deployment to the CLI, the HTTP API and SQL.
Nothing here imports Textual.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger("pe.demo")

DATABASE = "demo"
ALERTS_DATABASE = "demo_alerts"
HOSTS = tuple(f"host-{i:02d}" for i in range(1, 21))
REGIONS = ("eu-west", "eu-central", "us-east", "us-west")
DEFAULT_RATE = 600  # lines per second
BATCHES_PER_SECOND = 10
MAX_IN_FLIGHT = 32
PLUGIN_FILES = (
    "downsampler.py",
    "threshold_alerter.py",
    "fleet_report.py",
    "disk_audit.py",
    "host_status.py",
    "flaky_enricher.py",
    "slow_aggregate.py",
    "last_values_cache.py",
)


@dataclass(frozen=True)
class DemoTrigger:
    name: str
    plugin: str
    spec: str
    arguments: dict[str, str] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    disabled: bool = False
    what: str = ""


TRIGGERS: tuple[DemoTrigger, ...] = (
    DemoTrigger("cpu_rollup", "downsampler.py", "table:cpu",
                {"target_measurement": "cpu_rollup", "fields": "usage_user.usage_system"},
                what="WAL transformer/downsampler"),
    DemoTrigger("mem_alerts", "threshold_alerter.py", "table:mem",
                {"field": "used_percent", "threshold": "90", "trigger_count": "3",
                 "target_database": ALERTS_DATABASE},
                what="threshold alerter writing to another database"),
    DemoTrigger("fleet_report", "fleet_report.py", "every:5s", {"window": "1 minute", "top": "3"},
                what="every: scheduled report"),
    DemoTrigger("disk_audit", "disk_audit.py", "cron:*/15 * * * * *", {"limit": "85"},
                what="cron: scheduled audit"),
    DemoTrigger("host_status", "host_status.py", "request:host_status", what="request: endpoint"),
    DemoTrigger("flaky_disk", "flaky_enricher.py", "table:disk", {"fail_rate": "0.08"},
                {"error_behavior": "log"}, what="fails now and then (errors logged)"),
    DemoTrigger("flaky_strict", "flaky_enricher.py", "table:disk", {"fail_rate": "0.02"},
                {"error_behavior": "disable"}, what="same plugin, disabled by its first error"),
    DemoTrigger("slow_rollup", "slow_aggregate.py", "every:3s", {"min_seconds": "0.3", "max_seconds": "2.5"},
                {"run_async": True, "concurrency": 2, "deadline_seconds": 10}, what="slow, async"),
    DemoTrigger("last_values", "last_values_cache.py", "all_tables", {"ttl": "60", "history": "20"},
                what="uses the cache heavily"),
    DemoTrigger("hourly_backfill", "fleet_report.py", "every:1h", {"window": "1 hour", "top": "5"},
                disabled=True, what="disabled by the operator"),
)

# The system caches of the demo (engine.value_caches), shown in the Caches pane as trees:
# the newest cpu row per region and host, and which hosts of which region report disk metrics.
LAST_CACHE: dict[str, Any] = {"table": "cpu", "name": "cpu_last", "key_columns": ["region", "host"],
                              "value_columns": ["usage_user", "usage_system", "usage_idle"], "count": 1,
                              "ttl": "1h"}
DISTINCT_CACHE: dict[str, Any] = {"table": "disk", "name": "disk_hosts", "columns": ["region", "host"],
                                  "max_age": "1d"}


def region_of(host: str) -> str:
    return REGIONS[int(host[-2:]) % len(REGIONS)]


def plugin_source(name: str) -> str:
    return resources.files("pe_tui.demo_plugins").joinpath(name).read_text("utf-8")


def install_plugins(plugin_dir: Path | None) -> list[Path]:
    """Write the example plugins into the plugin directory (existing files are kept)."""
    if plugin_dir is None:
        raise ValueError("the demo needs a plugin directory")
    plugin_dir = Path(plugin_dir)
    plugin_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name in PLUGIN_FILES:
        path = plugin_dir / name
        if not path.exists():
            path.write_text(plugin_source(name), "utf-8")
        out.append(path)
    return out


async def create_triggers(engine: Any) -> int:
    """Databases and triggers of the demo (the ones that already exist are left alone)."""
    from pe_engine.processing.triggers import TriggerSettings

    for db in (DATABASE, ALERTS_DATABASE):
        if db not in engine.catalog.databases:
            await engine.create_database(db)
    pe = engine.processing
    made = 0
    for t in TRIGGERS:
        if (DATABASE, t.name) in pe.triggers:
            continue
        await pe.create_trigger(DATABASE, t.name, t.plugin, t.spec, arguments=t.arguments,
                                settings=TriggerSettings(**t.settings), disabled=t.disabled)
        made += 1
    return made


async def create_value_caches(engine: Any, seed_lines: str = "") -> int:
    """The demo's last-value and distinct-value caches (existing ones are left alone). Their
    tables must exist first: `seed_lines` (one round of metrics) is written when they do not."""
    tables = engine.catalog.databases[DATABASE].tables
    if seed_lines and not all(t in tables for t in (LAST_CACHE["table"], DISTINCT_CACHE["table"])):
        await engine.write_lp(DATABASE, seed_lines)
    vc = engine.value_caches
    have = {(d.kind, d.table, d.name) for d in vc.list(db=DATABASE)}
    made = 0
    if ("last", LAST_CACHE["table"], LAST_CACHE["name"]) not in have:
        await vc.create_last_cache(DATABASE, **LAST_CACHE)
        made += 1
    if ("distinct", DISTINCT_CACHE["table"], DISTINCT_CACHE["name"]) not in have:
        await vc.create_distinct_cache(DATABASE, **DISTINCT_CACHE)
        made += 1
    return made


class _Host:
    """A host's metrics as slow random walks, with a few scripted troublemakers."""

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name = name
        self.region = region_of(name)
        self.rng = rng
        self.cpu = rng.uniform(10, 45)
        self.mem = rng.uniform(35, 70)
        self.disk = rng.uniform(40, 75)
        self.phase = rng.uniform(0, math.tau)

    def step(self, t: float) -> None:
        r = self.rng
        wave = 12 * math.sin(t / 40 + self.phase)
        self.cpu = min(99.0, max(1.0, self.cpu + r.gauss(0, 2.5) + (25 + wave - self.cpu) * 0.02))
        target_mem = 93 if self.name == "host-07" and (t // 45) % 2 else 55 + wave / 2
        self.mem = min(99.5, max(5.0, self.mem + r.gauss(0, 0.8) + (target_mem - self.mem) * 0.05))
        target_disk = 88 if self.name == "host-13" else 60
        self.disk = min(99.0, max(5.0, self.disk + r.gauss(0, 0.1) + (target_disk - self.disk) * 0.01))

    def line(self, table: str, ts: int) -> str:
        tags = f"host={self.name},region={self.region}"
        if table == "cpu":
            sys_ = self.cpu * 0.3
            return (f"cpu,{tags},cpu=cpu-total usage_user={self.cpu:.2f},usage_system={sys_:.2f},"
                    f"usage_idle={max(0.0, 100 - self.cpu - sys_):.2f} {ts}")
        if table == "mem":
            avail = int((100 - self.mem) / 100 * 16 * 2**30)
            return f"mem,{tags} used_percent={self.mem:.2f},available={avail}i {ts}"
        free = int((100 - self.disk) / 100 * 512 * 2**30)
        return f"disk,{tags},path=/ used_percent={self.disk:.2f},free={free}i {ts}"


class LoadGenerator:
    """Writes realistic host metrics (cpu/mem/disk for 20 hosts) at `rate` lines/s, on the engine loop.

    `rate` can be changed from any thread; it applies from the next batch.
    Also calls the demo's request trigger once a second, as a client would.
    """

    def __init__(self, engine_thread: Any, rate: int = DEFAULT_RATE, seed: int | None = None) -> None:
        self.et = engine_thread
        self.rate = max(0, int(rate))
        self.rng = random.Random(seed)
        self.hosts = [_Host(h, self.rng) for h in HOSTS]
        self.lines_written = 0
        self.batches_skipped = 0
        self.errors = 0
        self._stop = False
        self._future: Any = None
        self._cursor = 0

    def start(self) -> "LoadGenerator":
        self._future = self.et.call(self._run())
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop = True
        if self._future is not None:
            try:
                self._future.result(timeout)
            except Exception:  # noqa: BLE001 -- the engine may be stopping already
                pass

    async def _run(self) -> None:
        engine = self.et.engine
        sem = asyncio.Semaphore(MAX_IN_FLIGHT)
        tasks: set[asyncio.Task] = set()
        period = 1.0 / BATCHES_PER_SECOND
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        carry = 0.0
        last_request = 0.0
        t0 = time.time()
        while not self._stop:
            next_at += period
            carry += self.rate * period
            n = int(carry)
            carry -= n
            if n:
                if sem.locked():
                    self.batches_skipped += 1  # the engine is behind: do not pile up writes
                else:
                    body = self._batch(n, time.time() - t0)
                    await sem.acquire()
                    task = asyncio.create_task(self._write(engine, body, n, sem))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            now = loop.time()
            if now - last_request >= 1.0:
                last_request = now
                task = asyncio.create_task(self._request(engine))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if loop.time() - next_at > 1.0:  # fell far behind: do not try to catch up
                next_at = loop.time()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def seed_lines(self) -> str:
        """One line per host and table (cpu, mem, disk), so every demo table exists."""
        return self._batch(3 * len(self.hosts), 0.0)

    def _batch(self, n: int, t: float) -> str:
        ts = time.time_ns()
        lines = []
        hosts = self.hosts
        for i in range(n):
            k = self._cursor
            self._cursor += 1
            host = hosts[k % len(hosts)]
            table = ("cpu", "mem", "disk")[(k // len(hosts)) % 3]
            if table == "cpu":
                host.step(t)
            lines.append(host.line(table, ts + i))
        return "\n".join(lines)

    async def _write(self, engine: Any, body: str, n: int, sem: asyncio.Semaphore) -> None:
        try:
            await engine.write_lp(DATABASE, body)
            self.lines_written += n
        except Exception as e:  # noqa: BLE001 -- shown in the console's log, never fatal
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.warning("demo load generator: write failed (%d so far): %s", self.errors, e)
        finally:
            sem.release()

    async def _request(self, engine: Any) -> None:
        pe = engine.processing
        if pe is None:
            return
        host = self.rng.choice(HOSTS)
        try:
            await asyncio.wait_for(pe.handle_request("host_status", {"host": host}, {}, b""), 10.0)
        except Exception:  # noqa: BLE001 -- the trigger may be disabled or deleted by the operator
            pass


def start_demo(engine_thread: Any, rate: int | None = None) -> LoadGenerator:
    """Create the demo's databases, triggers and system caches, then start the load generator."""
    engine = engine_thread.engine
    engine_thread.run(create_triggers(engine), timeout=60.0)
    load = LoadGenerator(engine_thread, DEFAULT_RATE if rate is None else rate)
    try:
        engine_thread.run(create_value_caches(engine, load.seed_lines()), timeout=60.0)
    except Exception as e:  # noqa: BLE001 -- the demo runs without them
        log.warning("demo: last/distinct value caches not created: %s", e)
    return load.start()
