"""From events to activations: per-trigger queues, ordering, concurrency,
error behaviours, and the schedule clock. Everything here runs on the engine's
event loop; plugin code runs in the executor's threads.

Overflow policy: each trigger queues at most `QUEUE_CAPACITY` events. When a
slow plugin lets its queue fill, the oldest waiting event is dropped, counted
and logged (status `dropped`) — the write path never waits for a plugin.
"""
from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections import deque
from typing import TYPE_CHECKING

from .activations import ActivationRecord
from .executor import Job, Outcome
from .responses import PluginResponse
from .triggers import TriggerDef, next_fire_ns

if TYPE_CHECKING:
    from .manager import ProcessingEngine

QUEUE_CAPACITY = 1000
RETRY_BASE = 0.5  # seconds; doubles per attempt
RETRY_CAP = 60.0


class TriggerRuntime:
    def __init__(self, trigger: TriggerDef, pe: "ProcessingEngine"):
        self.trigger = trigger
        self.pe = pe
        self.queue: deque[Job] = deque()
        self.running = 0
        self.retry_pending = False
        self.dropped = 0
        self.apis: set = set()
        self.stopped = False
        self._retry_handle: asyncio.TimerHandle | None = None
        # Disable then enable while a call still runs: the new runtime waits for the old one,
        # so a synchronous trigger never runs two activations at once.
        self.predecessor: TriggerRuntime | None = None
        self.successor: TriggerRuntime | None = None

    @property
    def limit(self) -> int:
        s = self.trigger.settings
        return max(1, s.concurrency) if s.run_async else 1

    def submit(self, job: Job) -> None:
        if self.stopped:
            self._refuse(job, "trigger is not running")
            return
        if len(self.queue) >= QUEUE_CAPACITY:
            old = self.queue.popleft()
            self.dropped += 1
            self._refuse(old, "dropped: the trigger's queue was full")
            self.pe.record_dropped(self, old)
        self.queue.append(job)
        self._pump()

    def _pump(self) -> None:
        if self.predecessor is not None:
            if self.predecessor.running:
                return
            self.predecessor = None
        while self.queue and self.running < self.limit and not (self.retry_pending and not self.trigger.settings.run_async):
            job = self.queue.popleft()
            self.running += 1
            self.pe.executor.submit(self, job, self._done_threadsafe)

    def _done_threadsafe(self, job: Job, outcome: Outcome) -> None:
        try:
            self.pe.loop.call_soon_threadsafe(self._done, job, outcome)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _done(self, job: Job, outcome: Outcome) -> None:
        self.running -= 1
        rec = outcome.record
        self.pe.finish_activation(self, job, outcome)
        if job.kind == "request":
            if rec.status != "ok":  # no error behaviour for requests, but the failure is logged (reference §2.4)
                t = self.trigger
                self.pe.logs.add(t.database, t.name, "ERROR", f"error executing request plugin: {rec.error}")
            self._answer(job, outcome)
        elif rec.status != "ok" and not self.stopped:
            self._apply_error_behavior(job, rec)
        if self.stopped:
            if not self.running:
                self.pe.runtime_drained(self)
                if self.successor is not None:
                    self.successor._pump()
            return
        self._pump()

    def _answer(self, job: Job, outcome: Outcome) -> None:
        fut = job.future
        if fut is None or fut.done():
            return
        rec = outcome.record
        if rec.status == "ok" and outcome.response is not None:
            fut.set_result(outcome.response)
        else:
            msg = f"Python function call failed: {rec.error}" if rec.status == "error" else rec.error
            fut.set_result(PluginResponse(500, _json_error(msg), "application/json"))

    def _apply_error_behavior(self, job: Job, rec: ActivationRecord) -> None:
        s = self.trigger.settings
        label = "wal plugin" if job.kind == "wal" else "schedule plugin"
        self.pe.logs.add(self.trigger.database, self.trigger.name, "ERROR", f"error executing {label}: {rec.error}")
        if s.error_behavior == "retry" and job.attempt < s.max_retries + 1:
            delay = min(RETRY_CAP, RETRY_BASE * 2 ** (job.attempt - 1)) * random.uniform(0.5, 1.5)
            job.attempt += 1
            job.dispatched_at = time.perf_counter() + delay
            job.dispatched_wall = time.time() + delay
            self.pe.logs.add(
                self.trigger.database, self.trigger.name, "WARN",
                f"retrying in {delay:.2f}s (attempt {job.attempt} of {s.max_retries + 1})",
            )
            if not s.run_async:
                self.retry_pending = True
            self._retry_handle = self.pe.loop.call_later(delay, self._retry, job)
        elif s.error_behavior == "retry":
            self.pe.logs.add(
                self.trigger.database, self.trigger.name, "ERROR",
                f"giving up after {job.attempt} attempts; the event is dropped",
            )
        elif s.error_behavior == "disable":
            reason = f"disabled after an error: {rec.error}"
            waiting = len(self.queue)
            # Stop now, not when the disable task runs: _done pumps the next waiting event right after this.
            self.stop()
            if waiting:
                self.pe.logs.add(
                    self.trigger.database, self.trigger.name, "WARN",
                    f"{waiting} waiting event(s) dropped because the trigger was disabled",
                )
            asyncio.ensure_future(self.pe.disable_by_error(self.trigger, reason))

    def _retry(self, job: Job) -> None:
        self.retry_pending = False
        if self.stopped:
            return
        self.queue.appendleft(job)
        self._pump()

    def stop(self) -> None:
        """Disable/delete/shutdown: drop waiting events, ask running plugins to stop."""
        self.stopped = True
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        while self.queue:
            self._refuse(self.queue.popleft(), "trigger was stopped")
        for api in list(self.apis):
            api.cancelled = True

    def _refuse(self, job: Job, why: str) -> None:
        if job.future is not None and not job.future.done():
            job.future.set_result(PluginResponse(503, _json_error(why), "application/json"))


def _json_error(msg: str | None) -> bytes:
    import json

    return json.dumps({"error": msg or "error"}).encode()


class Scheduler:
    """Fires `every:` and `cron:` triggers at absolute deadlines (no drift)."""

    def __init__(self, pe: "ProcessingEngine"):
        self.pe = pe
        self._heap: list[tuple[int, int, str, str]] = []  # (fire_ns, generation, db, name)
        self._gen: dict[tuple[str, str], int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._n = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pe-scheduler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def add(self, trigger: TriggerDef, first_ns: int | None = None) -> int | None:
        key = (trigger.database, trigger.name)
        self._n += 1
        self._gen[key] = self._n
        fire = first_ns if first_ns is not None else next_fire_ns(trigger.spec, time.time_ns())
        if fire is None:  # a year-limited cron with no fire time left
            return None
        heapq.heappush(self._heap, (fire, self._n, *key))
        self._wake.set()
        return fire

    def remove(self, database: str, name: str) -> None:
        self._gen.pop((database, name), None)  # stale heap entries are skipped

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
            delay = (fire - time.time_ns()) / 1e9
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                    continue  # something changed: look again
                except asyncio.TimeoutError:
                    pass
                if (fire - time.time_ns()) > 200_000:  # woke a little early: sleep the rest
                    continue
            heapq.heappop(self._heap)
            if self._gen.get((db, name)) != gen:
                continue
            rt = self.pe.runtimes.get((db, name))
            if rt is None:
                continue
            nxt = next_fire_ns(rt.trigger.spec, fire)
            if nxt is not None:
                heapq.heappush(self._heap, (nxt, gen, db, name))
            self.pe.fire_schedule(rt, fire)
