"""The schedule clock: fires `every:` and `cron:` triggers at absolute deadlines (no
drift), and decides which missed ticks to run after a restart (catch-up).

Time comes from an injected `Clock`, so tests can drive it: move a fake clock
forward and call `wake()`.
"""
from __future__ import annotations

import asyncio
import heapq
from typing import Callable

from .enums import CatchUp
from .ports import Clock, SystemClock
from .triggers.schedule import next_fire_ns
from .triggers.specs import TriggerSpec

__all__ = ["Scheduler", "first_fire", "EARLY_WAKE_NS"]

EARLY_WAKE_NS = 200_000  # woke this much before the deadline or more: sleep the rest

# (database, trigger, fire_ns) -> whether the trigger still runs (False: forget its schedule)
FireFn = Callable[[str, str, int], bool]


def first_fire(spec: TriggerSpec, last_fired: int | None, policy: str, now_ns: int, restart: bool) -> int | None:
    """After a restart, missed ticks are skipped unless the trigger opted into catch-up.

    Returns the first tick to fire, or None for "the next one from now on".
    """
    if not restart or last_fired is None or policy == CatchUp.SKIP:
        return None
    missed = next_fire_ns(spec, last_fired)
    if missed is None or missed > now_ns:
        return None
    if policy == CatchUp.ONCE:
        latest = missed
        for _ in range(100_000):
            nxt = next_fire_ns(spec, latest)
            if nxt is None or nxt > now_ns:
                break
            latest = nxt
        return latest
    return missed  # "all": the scheduler walks forward from the first missed tick


class Scheduler:
    """One heap of (fire time, generation, database, trigger); one task sleeps until the top."""

    def __init__(self, fire: FireFn, clock: Clock | None = None):
        self._fire = fire
        self.clock: Clock = clock or SystemClock()
        self._heap: list[tuple[int, int, str, str]] = []  # (fire_ns, generation, db, name)
        self._gen: dict[tuple[str, str], int] = {}
        self._specs: dict[tuple[str, str], TriggerSpec] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._n = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pe-scheduler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        """Look at the heap again now (something changed, or a test moved the clock)."""
        self._wake.set()

    def add(self, database: str, name: str, spec: TriggerSpec, first_ns: int | None = None) -> int | None:
        key = (database, name)
        self._n += 1
        self._gen[key] = self._n
        self._specs[key] = spec
        fire = first_ns if first_ns is not None else next_fire_ns(spec, self.clock.time_ns())
        if fire is None:  # a year-limited cron with no fire time left
            return None
        heapq.heappush(self._heap, (fire, self._n, *key))
        self._wake.set()
        return fire

    def remove(self, database: str, name: str) -> None:
        self._gen.pop((database, name), None)  # stale heap entries are skipped
        self._specs.pop((database, name), None)

    def next_fire(self, database: str, name: str) -> int | None:
        gen = self._gen.get((database, name))
        for fire, g, db, n in self._heap:
            if g == gen and db == database and n == name:
                return fire
        return None

    async def _run(self) -> None:
        while True:
            while self._heap and self._gen.get((self._heap[0][2], self._heap[0][3])) != self._heap[0][1]:
                heapq.heappop(self._heap)
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            fire, gen, db, name = self._heap[0]
            delay = (fire - self.clock.time_ns()) / 1e9
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                    continue  # something changed: look again
                except asyncio.TimeoutError:
                    pass
                if (fire - self.clock.time_ns()) > EARLY_WAKE_NS:  # woke a little early: sleep the rest
                    continue
            self.fire_due(fire, gen, db, name)

    def fire_due(self, fire: int, gen: int, db: str, name: str) -> None:
        heapq.heappop(self._heap)
        key = (db, name)
        spec = self._specs.get(key)
        if self._gen.get(key) != gen or spec is None:
            return
        if not self._fire(db, name, fire):
            return
        nxt = next_fire_ns(spec, fire)
        if nxt is not None:
            heapq.heappush(self._heap, (nxt, gen, db, name))
