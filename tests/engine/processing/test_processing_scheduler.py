"""The schedule clock and the catch-up rule, driven by a fake clock (no waiting on real time)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pe_engine.processing.scheduler import Scheduler, first_fire
from pe_engine.processing.triggers import parse_trigger_spec

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # a whole second, and a multiple of 10 s


@dataclass
class FakeClock:
    now_ns: int = T0

    def time_ns(self) -> int:
        return self.now_ns

    def time(self) -> float:
        return self.now_ns / 1e9

    def monotonic(self) -> float:
        return self.now_ns / 1e9


def test_first_fire_after_a_restart_follows_the_catch_up_policy() -> None:
    every = parse_trigger_spec("every:10s")
    last = T0  # fired at T0; the engine comes back at T0 + 35 s: ticks T0+10, +20, +30 were missed
    now = T0 + 35 * NS
    assert first_fire(every, last, "skip", now, restart=True) is None
    assert first_fire(every, last, "once", now, restart=True) == T0 + 30 * NS  # only the latest missed tick
    assert first_fire(every, last, "all", now, restart=True) == T0 + 10 * NS  # walk forward from the first
    assert first_fire(every, last, "all", now, restart=False) is None  # a new trigger never catches up
    assert first_fire(every, None, "all", now, restart=True) is None  # never fired before
    assert first_fire(every, T0 + 30 * NS, "once", now, restart=True) is None  # nothing missed


async def test_scheduler_fires_epoch_aligned_ticks_as_the_clock_moves() -> None:
    clock = FakeClock(T0 + 3 * NS)
    fired: list[tuple[str, str, int]] = []

    def fire(db: str, name: str, fire_ns: int) -> bool:
        fired.append((db, name, fire_ns))
        return True

    sched = Scheduler(fire, clock)
    sched.start()
    try:
        assert sched.add("db", "t", parse_trigger_spec("every:10s")) == T0 + 10 * NS
        assert sched.next_fire("db", "t") == T0 + 10 * NS
        await asyncio.sleep(0.02)
        assert fired == []  # not due yet
        clock.now_ns = T0 + 10 * NS
        sched.wake()
        await _until(lambda: len(fired) == 1)
        assert fired == [("db", "t", T0 + 10 * NS)]
        assert sched.next_fire("db", "t") == T0 + 20 * NS  # absolute deadlines: no drift
        clock.now_ns = T0 + 20 * NS + NS // 2  # half a second late
        sched.wake()
        await _until(lambda: len(fired) == 2)
        assert fired[-1][2] == T0 + 20 * NS and sched.next_fire("db", "t") == T0 + 30 * NS
        sched.remove("db", "t")
        clock.now_ns = T0 + 40 * NS
        sched.wake()
        await asyncio.sleep(0.02)
        assert len(fired) == 2 and sched.next_fire("db", "t") is None
    finally:
        await sched.stop()


async def test_a_trigger_that_no_longer_runs_drops_out_of_the_schedule() -> None:
    clock = FakeClock(T0)
    calls: list[int] = []

    def fire(db: str, name: str, fire_ns: int) -> bool:
        calls.append(fire_ns)
        return False  # its runtime is gone

    sched = Scheduler(fire, clock)
    sched.start()
    try:
        sched.add("db", "gone", parse_trigger_spec("every:1s"), first_ns=T0)  # due at once (catch-up)
        await _until(lambda: calls == [T0])
        assert sched.next_fire("db", "gone") is None  # not rescheduled
    finally:
        await sched.stop()


async def _until(pred, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.005)
