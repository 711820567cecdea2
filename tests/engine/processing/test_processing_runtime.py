"""TriggerRuntime against a fake executor and sink: ordering, concurrency, overflow and the
error behaviours, with no threads, plugins or engine (the runtime only knows its collaborators)."""
from __future__ import annotations

import asyncio
from typing import Callable

from pe_engine.processing.activations import ActivationRecord
from pe_engine.processing.executor import ActivationRequest, Executor, Outcome
from pe_engine.processing.invocations import Job, RequestCall, ScheduleCall
from pe_engine.processing.py_api.cache import TriggerCache
from pe_engine.processing import runtime as runtime_mod
from pe_engine.processing.runtime import TriggerRuntime
from pe_engine.processing.triggers import TriggerDef, TriggerSettings, parse_trigger_spec


class FakeExecutor(Executor):
    """Holds every submitted call until the test finishes it."""

    def __init__(self) -> None:
        self.pending: list[tuple[ActivationRequest, Callable[[Outcome], None]]] = []

    def submit(self, request: ActivationRequest, done: Callable[[Outcome], None]) -> None:
        self.pending.append((request, done))

    def finish(self, i: int = 0, status: str = "ok", error: str | None = None) -> ActivationRequest:
        req, done = self.pending.pop(i)
        rec = ActivationRecord(id=1, database=req.database, trigger=req.trigger, kind=req.job.kind,
                               plugin=req.plugin, status=status, error=error)
        done(Outcome(rec))
        return req

    def shutdown(self) -> None:
        pass


class FakeSink:
    def __init__(self) -> None:
        self.finished: list[str] = []
        self.dropped: list[int] = []
        self.disabled: list[str] = []
        self.drained = 0

    def activation_finished(self, trigger, job, outcome) -> None:
        self.finished.append(outcome.record.status)

    def activation_dropped(self, trigger, job, dropped) -> None:
        self.dropped.append(dropped)

    def disable_after_error(self, trigger, reason) -> None:
        self.disabled.append(reason)

    def runtime_drained(self, runtime) -> None:
        self.drained += 1


class FakeLogs:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, database: str, trigger: str, level: str, text: str) -> None:
        self.lines.append(f"{level}: {text}")


class NoCache:
    def _put(self, ns, key, value, ttl) -> None: ...
    def _get(self, ns, key, default): return default
    def _delete(self, ns, key) -> bool: return False
    def maybe_sweep(self) -> None: ...


def make(spec: str = "every:1h", **settings: object) -> tuple[TriggerRuntime, FakeExecutor, FakeSink, FakeLogs]:
    trig = TriggerDef("db", "t", "p.py", parse_trigger_spec(spec), settings=TriggerSettings(**settings))  # type: ignore[arg-type]
    ex, sink, logs = FakeExecutor(), FakeSink(), FakeLogs()
    rt = TriggerRuntime(trig, executor=ex, sink=sink, logs=logs, cache=TriggerCache(NoCache(), ("trigger", "db", "t")),
                        loop=asyncio.get_running_loop())
    return rt, ex, sink, logs


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_sync_trigger_runs_one_call_at_a_time_in_order() -> None:
    rt, ex, sink, _ = make()
    for n in (1, 2, 3):
        rt.submit(Job.of(ScheduleCall(n * 1_000_000_000)))
    assert [r.job.invocation.fire_ns for r, _ in ex.pending] == [1_000_000_000]  # type: ignore[union-attr]
    assert len(rt.queue) == 2 and rt.running == 1
    for expected in (2, 3):
        ex.finish()
        await settle()
        assert [r.job.invocation.fire_ns for r, _ in ex.pending] == [expected * 1_000_000_000]  # type: ignore[union-attr]
    ex.finish()
    await settle()
    assert sink.finished == ["ok", "ok", "ok"] and rt.running == 0 and not rt.queue


async def test_an_async_trigger_runs_up_to_its_concurrency() -> None:
    rt, ex, _, _ = make(run_async=True, concurrency=2)
    for n in range(5):
        rt.submit(Job.of(ScheduleCall(n)))
    assert len(ex.pending) == 2 and len(rt.queue) == 3


async def test_a_full_queue_drops_the_oldest_waiting_event(monkeypatch) -> None:
    monkeypatch.setattr(runtime_mod, "QUEUE_CAPACITY", 2)
    rt, ex, sink, _ = make()
    for n in range(5):  # 1 running, 2 waiting, 2 dropped
        rt.submit(Job.of(ScheduleCall(n)))
    assert sink.dropped == [1, 2] and rt.dropped == 2
    assert [j.invocation.fire_ns for j in rt.queue] == [3, 4]  # type: ignore[union-attr]


async def test_error_behaviour_disable_stops_the_runtime_and_asks_the_sink() -> None:
    rt, ex, sink, logs = make(error_behavior="disable")
    rt.submit(Job.of(ScheduleCall(1)))
    rt.submit(Job.of(ScheduleCall(2)))
    ex.finish(status="error", error="boom")
    await settle()
    assert rt.stopped and not rt.queue and ex.pending == []
    assert sink.disabled == ["disabled after an error: boom"] and sink.drained == 1
    assert "ERROR: error executing schedule plugin: boom" in logs.lines


async def test_error_behaviour_retry_runs_the_same_input_again(monkeypatch) -> None:
    monkeypatch.setattr(runtime_mod, "RETRY_BASE", 0.01)
    rt, ex, _, logs = make(error_behavior="retry", max_retries=1)
    rt.submit(Job.of(ScheduleCall(7)))
    first = ex.finish(status="error", error="flaky")
    for _ in range(200):
        if ex.pending:
            break
        await asyncio.sleep(0.005)
    [(again, _)] = ex.pending
    assert again.job is first.job and again.job.attempt == 2
    assert any("retrying in" in line for line in logs.lines)


async def test_a_request_gets_its_answer_and_a_stopped_runtime_refuses() -> None:
    rt, ex, _, _ = make("request:hello")
    fut: asyncio.Future = asyncio.get_running_loop().create_future()
    rt.submit(Job.of(RequestCall({}, {}, b""), future=fut))
    ex.finish(status="error", error="bad")
    await settle()
    assert fut.result().status == 500
    rt.stop()
    refused: asyncio.Future = asyncio.get_running_loop().create_future()
    rt.submit(Job.of(RequestCall({}, {}, b""), future=refused))
    assert refused.result().status == 503
