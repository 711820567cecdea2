"""TickDriver: collection in a thread worker on a self-rescheduling timer, one message per tick,
never two collections at once, failures reported and ticking goes on, kick() collects soon."""
from __future__ import annotations

import threading
import time
from typing import Any

from textual.app import App

from pe_tui.messages import TickFailed, TickReady
from pe_tui.model import StatusInfo, Tick
from pe_tui.ticker import TickDriver

WAIT = 15.0


class FakeSource:
    def __init__(self) -> None:
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = False
        self._lock = threading.Lock()

    def collect(self) -> Tick | None:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            n = self.calls
        try:
            assert self.gate.wait(WAIT)
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("collector broke")
            return Tick(at=float(n), seq=n, status=StatusInfo())
        finally:
            with self._lock:
                self.active -= 1


class DriverApp(App[None]):
    def __init__(self, source: FakeSource, interval: float, auto_done: bool = True) -> None:
        super().__init__()
        self.driver = TickDriver(self, source, interval)
        self.ready: list[Tick | None] = []
        self.failed: list[str] = []
        self.auto_done = auto_done

    def on_tick_ready(self, message: TickReady) -> None:
        self.ready.append(message.tick)
        if self.auto_done:
            self.driver.done()

    def on_tick_failed(self, message: TickFailed) -> None:
        self.failed.append(message.error)
        self.driver.done()


async def until(pilot: Any, predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


def test_interval_is_clamped() -> None:
    src = FakeSource()
    assert TickDriver(None, src, 0.0).interval == TickDriver.MIN_INTERVAL  # type: ignore[arg-type]
    assert TickDriver(None, src, 999).interval == TickDriver.MAX_INTERVAL  # type: ignore[arg-type]


async def test_one_message_per_tick_in_order_and_ticking_goes_on() -> None:
    src = FakeSource()
    app = DriverApp(src, 0.1)
    async with app.run_test() as pilot:
        app.driver.start()
        await until(pilot, lambda: len(app.ready) >= 3, "three ticks")
        app.driver.stop()
        await app.workers.wait_for_complete()
        seqs = [t.seq for t in app.ready if t is not None]
        assert seqs == sorted(seqs) and seqs[:3] == [1, 2, 3]
        assert app.driver.ticks == len(app.ready) == src.calls
        assert src.max_active == 1


async def test_never_two_collections_at_once_and_the_next_waits_for_done() -> None:
    src = FakeSource()
    app = DriverApp(src, 0.1, auto_done=False)
    async with app.run_test() as pilot:
        src.gate.clear()  # the first collection hangs
        app.driver.start()
        await until(pilot, lambda: src.calls == 1 and app.driver.busy, "the first collection to start")
        app.driver.kick()  # while busy: remembered, no second collection
        assert src.calls == 1 and src.max_active == 1
        src.gate.set()
        await until(pilot, lambda: len(app.ready) == 1, "the first tick")
        # not applied yet (no done()): nothing is scheduled, however long we wait for a timer
        assert app.driver.next_delay is None and app.driver.busy
        app.driver.done()
        assert app.driver.next_delay == TickDriver.KICK_DELAY  # the kick during the collection
        await until(pilot, lambda: len(app.ready) == 2, "the second tick")
        app.driver.done()
        assert app.driver.next_delay == app.driver.interval  # no kick: a whole interval
        app.driver.stop()
        assert app.driver.next_delay is None
        await app.workers.wait_for_complete()
        assert src.max_active == 1


async def test_a_failing_collection_is_a_message_and_the_next_one_comes() -> None:
    src = FakeSource()
    src.fail_next = True
    app = DriverApp(src, 0.1)
    async with app.run_test() as pilot:
        app.driver.start()
        await until(pilot, lambda: app.failed and app.ready, "a failure, then a tick")
        app.driver.stop()
        await app.workers.wait_for_complete()
        assert app.failed[0] == "RuntimeError: collector broke"
        assert app.is_running


async def test_stop_ends_ticking_and_kick_after_stop_does_nothing() -> None:
    src = FakeSource()
    app = DriverApp(src, 0.1)
    async with app.run_test() as pilot:
        app.driver.start()
        await until(pilot, lambda: len(app.ready) >= 1, "a tick")
        app.driver.stop()
        await app.workers.wait_for_complete()
        calls = src.calls
        app.driver.kick()
        assert app.driver.next_delay is None
        await pilot.pause(0.3)  # three intervals: no timer is left to fire
        assert src.calls == calls
