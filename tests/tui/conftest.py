"""Fixtures for the console tests: a real engine in its own thread, recorded sources, a frozen clock.

- `engine_thread`: an EngineThread on a tmp data dir (HTTP on a free loopback port, auth off,
  10 ms WAL flush) with two tiny plugins and three triggers, stopped (WAL flushed) after the test;
- `demo_source`: the deterministic recorded demo session (RecordedSource.demo);
- `make_app`: ConsoleApp factory with a frozen clock and UTC times, no timer (tests tick with
  `await app.refresh_now()`).
"""
from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pe_engine.config import EngineConfig
from pe_engine.embedded import EngineThread
from pe_tui.app import ConsoleApp
from pe_tui.recorded import FROZEN_NOW, RecordedSource

SIZE = (160, 46)

ECHO_PLUGIN = textwrap.dedent('''
    def process_writes(influxdb3_local, table_batches, args=None):
        n = sum(len(b["rows"]) for b in table_batches)
        influxdb3_local.cache.put("rows_seen", influxdb3_local.cache.get("rows_seen", default=0) + n)
        influxdb3_local.info(f"saw {n} rows")
''')

TICK_PLUGIN = textwrap.dedent('''
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        if args and args.get("fail") == "yes":
            raise ValueError("scheduled failure for the test")
        influxdb3_local.info("tick")
''')


@pytest.fixture
def engine_thread(tmp_path: Path) -> Iterator[EngineThread]:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "echo.py").write_text(ECHO_PLUGIN)
    (plugins / "tick.py").write_text(TICK_PLUGIN)
    config = EngineConfig(data_dir=tmp_path / "data", plugin_dir=plugins, http_bind="127.0.0.1:0",
                          without_auth=True, wal_flush_interval=0.01, watch_plugins=False)
    et = EngineThread(config).start(timeout=60)
    try:
        engine = et.engine
        et.run(engine.create_database("tui"))
        pe = engine.processing
        et.run(pe.create_trigger("tui", "echo", "echo.py", "table:cpu"))
        et.run(pe.create_trigger("tui", "ticker", "tick.py", "every:1s"))
        et.run(pe.create_trigger("tui", "failing", "tick.py", "every:1s", arguments={"fail": "yes"}))
        yield et
    finally:
        et.stop()


@pytest.fixture
def demo_source() -> RecordedSource:
    return RecordedSource.demo(now=FROZEN_NOW)


@pytest.fixture
def make_app() -> Callable[..., ConsoleApp]:
    def make(source: Any = None, **kwargs: Any) -> ConsoleApp:
        kwargs.setdefault("clock", lambda: FROZEN_NOW)
        kwargs.setdefault("tz", dt.timezone.utc)
        kwargs.setdefault("auto_tick", False)
        return ConsoleApp(source if source is not None else RecordedSource.demo(now=FROZEN_NOW), **kwargs)

    return make
