"""Fixtures for the console tests: a real engine in its own thread, recorded sources, a frozen clock.

- `engine_thread`: an EngineThread on a tmp data dir (HTTP on a free loopback port, auth off,
  10 ms WAL flush) with two tiny plugins and three triggers, stopped (WAL flushed) after the test;
- `process_engine_thread`: the same with process isolation (plugins in worker processes), a
  trigger that logs its pid and one whose plugin ends its worker;
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
from pe_tui.replay import FROZEN_NOW, RecordedSource

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


WORKER_PLUGIN = textwrap.dedent('''
    import os

    def process_writes(influxdb3_local, table_batches, args=None):
        n = sum(len(b["rows"]) for b in table_batches)
        influxdb3_local.info(f"saw {n} rows in pid {os.getpid()}")
''')

CRASH_PLUGIN = textwrap.dedent('''
    import os

    def process_writes(influxdb3_local, table_batches, args=None):
        influxdb3_local.info("leaving without a word")
        os._exit(3)
''')


@pytest.fixture
def process_engine_thread(tmp_path: Path) -> Iterator[EngineThread]:
    """An EngineThread with process isolation (two worker processes at most): `tui/where` logs the
    pid it runs in for each write to `cpu`; `tui/crash` ends its worker on each write to `boom`."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "where.py").write_text(WORKER_PLUGIN)
    (plugins / "crash.py").write_text(CRASH_PLUGIN)
    config = EngineConfig(data_dir=tmp_path / "data", plugin_dir=plugins, http_bind="127.0.0.1:0",
                          without_auth=True, wal_flush_interval=0.01, watch_plugins=False,
                          plugin_isolation="process", plugin_processes=2)
    et = EngineThread(config).start(timeout=60)
    try:
        pe = et.engine.processing
        et.run(et.engine.create_database("tui"))
        et.run(pe.create_trigger("tui", "where", "where.py", "table:cpu"))
        et.run(pe.create_trigger("tui", "crash", "crash.py", "table:boom"))
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


# ====================================================================== live console helpers
# (appended for test_keys / test_panes / test_resilience; the fixtures above are unchanged)
import asyncio  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402

from textual.pilot import Pilot  # noqa: E402

from pe_tui.messages import ActionDone  # noqa: E402
from pe_tui.widgets import KeyedTable  # noqa: E402
from support.waiting import pilot_wait_for  # noqa: E402

LIVE_SIZE = (120, 34)  # live tests assert state, not layout: a smaller screen renders faster
WAIT = 15.0  # generous: a loaded CI box may be slow; the happy path returns in milliseconds


async def until(pilot: Pilot, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll `predicate` while the app keeps running (never a fixed sleep): support.waiting."""
    return await pilot_wait_for(pilot, predicate, what, timeout, interval=0.01)


def _key_event(key: str) -> Any:
    """The Key event Textual's own key simulation builds (App._press_keys), character included."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


class LiveConsole:
    """A ConsoleApp under Pilot on a real engine, with small helpers that press real keys."""

    def __init__(self, app: ConsoleApp, pilot: Pilot, et: EngineThread) -> None:
        self.app = app
        self.pilot = pilot
        self.et = et
        self.done: list[ActionDone] = []
        self._consumed: dict[str, int] = {}

    @property
    def pe(self) -> Any:
        return self.et.engine.processing

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        return await until(self.pilot, predicate, what, timeout)

    def key(self, *keys: str) -> None:
        """Queue key events on the app the way the terminal driver does (same Key event, same
        queue), without waiting. Follow with `until(...)` on the key's effect."""
        for key in keys:
            event = _key_event(key)
            event.set_sender(self.app)
            self.app.post_message(event)

    async def drain(self, rounds: int = 4) -> None:
        """Wait until the app and every widget of the screen processed what was queued, `rounds`
        times (a key's action queues more messages: focus, tab switch, repaint)."""
        for _ in range(rounds):
            await self.pilot.pause(0)

    async def press(self, *keys: str) -> None:
        """Press keys one at a time, each fully processed before the next.

        Not Pilot.press: that waits for the whole *process* to look idle, which a live engine
        ticking in-process rarely does (up to 1 s per key, and much longer while plugins burn
        CPU). This waits on the message queues instead, which is what "processed" means."""
        for key in keys:
            self.key(key)
            await self.drain()

    async def settle(self) -> None:
        """Let thread workers (detail loads, engine actions) finish and their messages land."""
        await self.drain()
        await self.app.workers.wait_for_complete()
        await self.drain()

    async def pane(self, number: int, scope: str) -> Any:
        await self.press(str(number))
        await self.until(lambda: self.app.active_pane.id == scope, f"the {scope} pane")
        return self.app.active_pane

    async def select(self, table: KeyedTable, key: str) -> None:
        """Move the cursor to `key` with arrow keys, as an operator would."""
        await self.until(lambda: key in table.keys, f"row {key}")
        for _ in range(3):  # rows may move under a live feed: retry a few times
            target = table.get_row_index(key)
            step = "down" if target > table.cursor_row else "up"
            self.key(*[step] * abs(target - table.cursor_row))
            await self.drain()
            if table.selected_key() == key:
                return
        raise AssertionError(f"could not select {key}; cursor on {table.selected_key()}")

    async def action(self, label: str, timeout: float = WAIT) -> ActionDone:
        """The next result of the engine action `label` (ActionDone.action), in order: each call
        consumes one, so a test can press the same key twice and wait for both."""
        n = self._consumed.get(label, 0)
        got = await self.until(lambda: [d for d in self.done if d.action == label][n:], f"action {label!r}", timeout)
        self._consumed[label] = n + 1
        return got[0]

    async def engine(self, coro: Any, timeout: float = WAIT) -> Any:
        """Run a coroutine on the engine loop without blocking the console's loop."""
        return await asyncio.wait_for(asyncio.wrap_future(self.et.call(coro)), timeout)

    def errors(self) -> list[Any]:
        return [n for n in self.app._notifications if n.severity == "error"]

    async def tick(self) -> None:
        """Wait until one more tick has been collected and applied after now."""
        n = self.app.driver.ticks
        await self.until(lambda: self.app.driver.ticks >= n + 2, "two more ticks")


@pytest.fixture
def live(engine_thread: EngineThread):
    """`async with live(**ConsoleApp kwargs) as c:` — the console on the test's engine (10 Hz refresh)."""

    @asynccontextmanager
    async def session(et: EngineThread | None = None, **kwargs: Any):
        et = et or engine_thread
        kwargs.setdefault("refresh", 0.1)
        kwargs.setdefault("tz", dt.timezone.utc)
        app = ConsoleApp(engine_thread=et, **kwargs)
        app.animation_level = "none"  # as TEXTUAL_ANIMATIONS=none: same end states, no waiting on tab underlines
        console: LiveConsole | None = None

        def hook(message: Any) -> None:
            if console is not None and isinstance(message, ActionDone):
                console.done.append(message)

        async with app.run_test(size=LIVE_SIZE, message_hook=hook) as pilot:
            console = LiveConsole(app, pilot, et)
            if kwargs.get("auto_tick", True):
                table = app.query_one("#triggers-table", KeyedTable)
                await console.until(lambda: table.row_count == len(et.engine.processing.triggers),
                                    "the trigger rows")
            try:
                yield console
            finally:
                # Quiesce before run_test's teardown, which calls App._shutdown() directly while the
                # app still processes messages: a tick collected in flight would otherwise be applied
                # to panes already removed (NoMatches). A real quit (q, SIGTERM) exits first: no race.
                app.driver.stop()
                await app.workers.wait_for_complete()
                if app.is_running:
                    await pilot.pause(0)

    return session


@pytest.fixture
def wait() -> Callable[..., Any]:
    """`await wait(pilot, predicate, what)`: poll a condition while the app runs (see `until`)."""
    return until


@pytest.fixture
def key_event() -> Callable[[str], Any]:
    """`key_event("question_mark")`: the Key event Textual's key simulation would send."""
    return _key_event


@pytest.fixture
def restart():
    """`restart(et)`: stop that engine (WAL flushed) and start a new one on the same data dir."""
    started: list[EngineThread] = []

    def again(et: EngineThread) -> EngineThread:
        et.stop()
        new = EngineThread(et.config).start(timeout=60)
        started.append(new)
        return new

    yield again
    for et in started:
        et.stop()


@pytest.fixture
def add_plugin() -> Callable[[EngineThread, str, str], Path]:
    """`add_plugin(et, "x.py", source)`: write a plugin file into the engine's plugin dir."""

    def add(et: EngineThread, filename: str, source: str) -> Path:
        path = Path(et.config.plugin_dir) / filename
        path.write_text(textwrap.dedent(source))
        return path

    return add
