"""Helpers of the processing-engine tests: a real Engine with the plugins of tests/support/plugins,
and polling helpers (conditions with timeouts, never timing asserts). The `eng` fixture is in
support.fixtures."""
from __future__ import annotations

import asyncio
import shutil
import textwrap
import time
from pathlib import Path
from typing import Any

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.processing.ports import Clock
from pe_engine.processing.py_api import table_to_rows
from support.servers import PLUGINS, TEST_PLUGIN_PROCESSES
from support.waiting import wait_for

__all__ = ["GLOBAL", "PLUGINS", "TEST_PLUGIN_PROCESSES", "acts", "gget", "gput", "isolation_config", "log_texts",
           "make_engine", "plugin", "poll_rows", "rows", "wait_acts", "wait_for"]

GLOBAL = ("global",)


def isolation_config(isolation: str) -> dict[str, Any]:
    """The EngineConfig fields of one plugin isolation mode (the `plugin_isolation` fixture's value)."""
    return {"plugin_isolation": isolation, "plugin_processes": TEST_PLUGIN_PROCESSES}


def make_engine(tmp_path: Path, clock: Clock | None = None, isolation: str = "thread", **config: Any) -> Engine:
    """An engine over a private copy of tests/support/plugins (tests edit plugin files);
    `clock` drives its schedules (support.clock.FakeClock); `isolation` is where plugins run
    (tests take it from the `plugin_isolation` fixture); `config` sets other EngineConfig fields."""
    pdir = tmp_path / "plugins"
    if not pdir.exists():
        shutil.copytree(PLUGINS, pdir, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = EngineConfig(data_dir=tmp_path / "data", plugin_dir=pdir, wal_flush_interval=0.01,
                       **{**isolation_config(isolation), **config})
    return Engine(cfg, clock=clock)


def plugin(e: Engine, name: str, source: str) -> str:
    (e.config.plugin_dir / name).write_text(textwrap.dedent(source))
    return name


def acts(e: Engine, trigger: str, status: str | None = None) -> list:
    """Activations of one trigger, oldest first."""
    return list(reversed(e.processing.activations.recent(limit=10_000, trigger=trigger, status=status)))


async def wait_acts(e: Engine, trigger: str, n: int, status: str | None = None, timeout: float = 15.0) -> list:
    await wait_for(lambda: len(acts(e, trigger, status)) >= n, f"{n} {status or ''} activation(s) of {trigger}", timeout)
    return acts(e, trigger, status)


def gget(e: Engine, key: str, default: Any = None) -> Any:
    try:
        return e.processing.caches.get_value(GLOBAL, key)
    except KeyError:
        return default


def gput(e: Engine, key: str, value: Any) -> None:
    e.processing.caches.trigger_cache("test", "harness").put(key, value, use_global=True)


def log_texts(e: Engine, trigger: str | None = None) -> list[str]:
    return [x.text for x in e.processing.logs.entries() if trigger is None or x.trigger == trigger]


async def rows(e: Engine, db: str, sql: str) -> list[dict]:
    return table_to_rows(await e.query(db, sql))


async def poll_rows(e: Engine, db: str, sql: str, n: int, timeout: float = 15.0) -> list[dict]:
    """Plugin write-backs land a flush after the activation: query until `n` rows are there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = await rows(e, db, sql)
        except Exception:  # the database or table does not exist yet
            got = []
        if len(got) >= n:
            return got
        assert time.monotonic() < deadline, f"only {got} after {timeout}s: {sql}"
        await asyncio.sleep(0.02)
