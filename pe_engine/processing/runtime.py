"""One enabled trigger at run time: its queue, ordering, concurrency and error behaviour.

Everything here runs on the engine's event loop; plugin code runs in the executor.
A sync trigger runs one activation at a time in order, an async one up to
`concurrency` at once. Overflow policy: each trigger queues at most
`QUEUE_CAPACITY` events; when a slow plugin lets its queue fill, the oldest
waiting event is dropped, counted and logged (status `dropped`) — the write path
never waits for a plugin.

The runtime is handed small collaborators (the executor, a sink for outcomes,
the log, the loop), never the processing engine.
"""
from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from .enums import ActivationStatus, ErrorBehavior, TriggerKind
from .executor import ActivationRequest, Executor, Limits, Outcome
from .invocations import Job
from .ports import LogSink
from .py_api.cache import TriggerCache
from .responses import PluginResponse
from .triggers.definition import TriggerDef

if TYPE_CHECKING:
    from .py_api.local import PluginApi

__all__ = ["QUEUE_CAPACITY", "RETRY_BASE", "RETRY_CAP", "RuntimeSink", "TriggerRuntime"]

QUEUE_CAPACITY = 1000
RETRY_BASE = 0.5  # seconds; doubles per attempt
RETRY_CAP = 60.0


class RuntimeSink(Protocol):
    """Where a runtime reports; the processing engine is one."""

    def activation_finished(self, trigger: TriggerDef, job: Job, outcome: Outcome) -> None:
        """Record, keep a failed input, write back queued lines, publish."""

    def activation_dropped(self, trigger: TriggerDef, job: Job, dropped: int) -> None:
        """The queue was full and `job` (the oldest) was dropped; `dropped` counts so far."""

    def disable_after_error(self, trigger: TriggerDef, reason: str) -> None:
        """Error behaviour `disable`: persist the disabled state (asynchronously)."""

    def runtime_drained(self, runtime: "TriggerRuntime") -> None:
        """A stopped runtime's last running call finished."""


class TriggerRuntime:
    def __init__(
        self,
        trigger: TriggerDef,
        *,
        executor: Executor,
        sink: RuntimeSink,
        logs: LogSink,
        cache: TriggerCache,
        loop: asyncio.AbstractEventLoop,
    ):
        self.trigger = trigger
        self.executor = executor
        self.sink = sink
        self.logs = logs
        self.cache = cache
        self.loop = loop
        self.queue: deque[Job] = deque()
        self.running = 0
        self.retry_pending = False
        self.dropped = 0
        self.apis: set[PluginApi] = set()
        self.stopped = False
        self._retry_handle: asyncio.TimerHandle | None = None
        # Disable then enable while a call still runs: the new runtime waits for the old one,
        # so a synchronous trigger never runs two activations at once.
        self.predecessor: TriggerRuntime | None = None
        self.successor: TriggerRuntime | None = None
        self._limits_of = trigger.settings
        self._limits = Limits.of(trigger.settings)
        self._log_line = self._log  # bound once: one per activation was measurable at 500 triggers
        self._on_api = self._track_api

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
            self.sink.activation_dropped(self.trigger, old, self.dropped)
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
            self.executor.submit(self._request(job), functools.partial(self._done_threadsafe, job))

    def _request(self, job: Job) -> ActivationRequest:
        # On the loop once per activation of every trigger: reuse what does not change per call.
        t = self.trigger
        if t.settings is not self._limits_of:
            self._limits_of, self._limits = t.settings, Limits.of(t.settings)
        return ActivationRequest(
            database=t.database,
            trigger=t.name,
            plugin=t.plugin_filename,
            arguments=t.arguments,
            job=job,
            limits=self._limits,
            cache=self.cache,
            log=self._log_line,
            on_api=self._on_api,
            isolation=t.settings.isolation,
        )

    def _log(self, level: str, text: str) -> None:
        self.logs.add(self.trigger.database, self.trigger.name, level, text)

    def _track_api(self, api: "PluginApi", started: bool) -> None:
        """Worker thread: the set of running calls that stop() asks to cancel."""
        if started:
            self.apis.add(api)
        else:
            self.apis.discard(api)

    def _done_threadsafe(self, job: Job, outcome: Outcome) -> None:
        try:
            self.loop.call_soon_threadsafe(self._done, job, outcome)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _done(self, job: Job, outcome: Outcome) -> None:
        self.running -= 1
        rec = outcome.record
        self.sink.activation_finished(self.trigger, job, outcome)
        if job.kind == TriggerKind.REQUEST:
            if rec.status != ActivationStatus.OK:  # no error behaviour for requests, but the failure is logged (reference §2.4)
                t = self.trigger
                self.logs.add(t.database, t.name, "ERROR", f"error executing request plugin: {rec.error}")
            self._answer(job, outcome)
        elif rec.status != ActivationStatus.OK and not self.stopped:
            self._apply_error_behavior(job, rec.error)
        if self.stopped:
            if not self.running:
                self.sink.runtime_drained(self)
                if self.successor is not None:
                    self.successor._pump()
            return
        self._pump()

    def _answer(self, job: Job, outcome: Outcome) -> None:
        fut = job.future
        if fut is None or fut.done():
            return
        rec = outcome.record
        if rec.status == ActivationStatus.OK and outcome.response is not None:
            fut.set_result(outcome.response)
        else:
            msg = f"Python function call failed: {rec.error}" if rec.status == ActivationStatus.ERROR else rec.error
            fut.set_result(PluginResponse(500, _json_error(msg), "application/json"))

    def _apply_error_behavior(self, job: Job, error: str | None) -> None:
        t = self.trigger
        s = t.settings
        label = "wal plugin" if job.kind == TriggerKind.WAL else "schedule plugin"
        self.logs.add(t.database, t.name, "ERROR", f"error executing {label}: {error}")
        if s.error_behavior == ErrorBehavior.RETRY and job.attempt < s.max_retries + 1:
            delay = min(RETRY_CAP, RETRY_BASE * 2 ** (job.attempt - 1)) * random.uniform(0.5, 1.5)
            job.attempt += 1
            job.dispatched_at = time.perf_counter() + delay
            job.dispatched_wall = time.time() + delay
            self.logs.add(
                t.database, t.name, "WARN",
                f"retrying in {delay:.2f}s (attempt {job.attempt} of {s.max_retries + 1})",
            )
            if not s.run_async:
                self.retry_pending = True
            self._retry_handle = self.loop.call_later(delay, self._retry, job)
        elif s.error_behavior == ErrorBehavior.RETRY:
            self.logs.add(t.database, t.name, "ERROR", f"giving up after {job.attempt} attempts; the event is dropped")
        elif s.error_behavior == ErrorBehavior.DISABLE:
            reason = f"disabled after an error: {error}"
            waiting = len(self.queue)
            # Stop now, not when the disable task runs: _done pumps the next waiting event right after this.
            self.stop()
            if waiting:
                self.logs.add(
                    t.database, t.name, "WARN",
                    f"{waiting} waiting event(s) dropped because the trigger was disabled",
                )
            self.sink.disable_after_error(t, reason)

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
    return json.dumps({"error": msg or "error"}).encode()
