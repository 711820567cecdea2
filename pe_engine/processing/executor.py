"""Runs one activation in a worker thread: load the plugin, call its entry point
under the watchdog's limits, measure it, and hand the record back to the loop."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .activations import ActivationRecord
from .py_api.batches import TableBatch
from .py_api.local import PluginApi
from .limits import ActivationInterrupted, Running, Watchdog, WorkerPool, thread_cpu_clock
from .plugins import PluginError, entry_point, instantiate
from .responses import PluginResponse, UnsupportedReturn, to_response
from .triggers import format_duration

if TYPE_CHECKING:
    from .dispatcher import TriggerRuntime
    from .manager import ProcessingEngine

MAX_ACTIVATION_LOG_LINES = 50
KIND_LABEL = {"wal": "wal plugin", "schedule": "schedule plugin", "request": "request plugin"}


@dataclass
class RequestInput:
    query_parameters: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Job:
    """One event waiting for (or running in) a trigger."""

    kind: str  # wal | schedule | request
    payload: Any  # FlushedWrites | scheduled time (ns) | RequestInput
    scheduled_at: float | None = None  # epoch seconds
    dispatched_at: float = field(default_factory=time.perf_counter)
    dispatched_wall: float = field(default_factory=time.time)
    attempt: int = 1
    future: asyncio.Future | None = None  # request triggers await their response
    rows_in: int = 0


@dataclass
class Outcome:
    record: ActivationRecord
    response: PluginResponse | None = None
    queued_writes: dict[str, list[str]] | None = None


_thread_clock = threading.local()


def _cpu_clock() -> int | None:
    clk = getattr(_thread_clock, "clk", False)
    if clk is False:
        clk = _thread_clock.clk = thread_cpu_clock()
    return clk


class Executor:
    def __init__(self, pe: "ProcessingEngine", pool: WorkerPool, watchdog: Watchdog):
        self.pe = pe
        self.pool = pool
        self.watchdog = watchdog

    def next_id(self) -> int:
        return self.pe.activations.new_id()

    def submit(self, rt: "TriggerRuntime", job: Job, done: Callable[[Job, Outcome], None]) -> None:
        self.pool.submit(lambda: self._run(rt, job, done))

    # ---------------------------------------------------------------- worker side
    def _run(self, rt: "TriggerRuntime", job: Job, done: Callable[[Job, Outcome], None]) -> None:
        started = time.perf_counter()
        started_wall = time.time()
        trig = rt.trigger
        pe = self.pe
        rec = ActivationRecord(
            id=self.next_id(),
            database=trig.database,
            trigger=trig.name,
            kind=job.kind,
            plugin=trig.plugin_filename,
            scheduled_at=job.scheduled_at,
            dispatched_at=job.dispatched_wall,
            started_at=started_wall,
            dispatch_latency=started - job.dispatched_at,
            attempt=job.attempt,
            rows_in=job.rows_in,
        )
        def log(level: str, text: str) -> None:
            rec.add_log(f"{level}: {text}", MAX_ACTIVATION_LOG_LINES)  # counts the lines it leaves out
            pe.logs.add(trig.database, trig.name, level, text)

        def note(text: str) -> None:
            log("INFO", text)  # the engine's own start/finish lines, as InfluxDB writes them

        api = PluginApi(
            host=pe.engine,
            loop=pe.loop,
            database=trig.database,
            trigger=trig.name,
            cache=pe.caches.trigger_cache(trig.database, trig.name),
            log=log,
        )
        rt.apis.add(api)
        s = trig.settings
        running = Running(
            thread_id=threading.get_ident(),
            cpu_clock=_cpu_clock(),
            deadline=s.deadline_seconds,
            cpu_limit=s.cpu_limit_seconds,
            memory_limit=s.memory_limit_bytes,
        )

        def written_off(r: Running) -> None:
            # The thread is stuck in C code: record the timeout now and move on without it.
            self.pool.retire(r.thread_id)
            rec.status = "timeout"
            rec.error = (
                f"activation exceeded its {s.deadline_seconds:g}s deadline and did not stop "
                "(stuck outside Python code); its worker thread was written off"
            )
            rec.run_time = time.perf_counter() - started
            rec.finished_at = time.time()
            rec.memory_peak = r.peak
            api.cancelled = True
            done(job, Outcome(rec))

        running.on_written_off = written_off
        response: PluginResponse | None = None
        status, error, tb = "ok", None, None
        if job.kind == "wal":
            note("starting execution of wal plugin.")
        elif job.kind == "schedule":
            when = dt.datetime.fromtimestamp(job.payload / 1e9, dt.timezone.utc).replace(tzinfo=None)
            note(f"starting execution with scheduled time {when} UTC")
        else:
            note("starting execution of request plugin.")
        try:
            self.watchdog.register(running)
            try:
                result = self._call(trig, job, api)
                if job.kind == "request":
                    response = to_response(result)
            finally:
                self.watchdog.unregister(running)
        except ActivationInterrupted as e:
            status = e.status
            error = _limit_message(e.status, s)
        except (UnsupportedReturn, PluginError) as e:  # engine-made messages: no class-name prefix
            status, error = "error", str(e)
        except BaseException as e:  # plugins may raise anything, SystemExit included
            status = "error"
            error = f"{type(e).__name__}: {e}"
            tb = traceback.format_exc(limit=20)
        finally:
            rt.apis.discard(api)
        if running.written_off:
            return  # already reported; whatever it did is discarded
        rec.run_time = time.perf_counter() - started
        rec.finished_at = time.time()
        rec.cpu_time = running.cpu_time()
        rec.memory_peak = running.peak
        rec.status = status
        rec.error = error
        rec.traceback = tb
        note(f"finished execution in {format_duration(rec.run_time)}")
        outcome = Outcome(rec, response)
        if status == "ok":
            outcome.queued_writes = api.take_queued()
            rec.lines_out = api.lines_written + sum(
                text.count("\n") + 1 for lines in outcome.queued_writes.values() for text in lines
            )
        done(job, outcome)

    def _call(self, trig, job: Job, api: PluginApi) -> Any:
        loaded = self.pe.registry.current(trig.plugin_filename)
        ns = instantiate(loaded)
        spec = trig.spec
        fn = entry_point(ns, spec.entry_point, spec.plugin_type)
        args = dict(trig.arguments) if trig.arguments else None
        if job.kind == "wal":
            batches = [TableBatch(name, batch) for name, batch in job.payload.tables.items()]
            return fn(api, batches, args)
        if job.kind == "schedule":
            call_time = dt.datetime.fromtimestamp(job.payload // 1_000_000_000)
            return fn(api, call_time, args)
        req: RequestInput = job.payload
        return fn(api, req.query_parameters, req.headers, req.body, args)


def _limit_message(status: str, s) -> str:
    if status == "timeout":
        return f"activation exceeded its deadline of {s.deadline_seconds:g}s and was interrupted"
    if status == "memory_limit":
        return f"activation exceeded its memory limit of {s.memory_limit_bytes} bytes and was stopped"
    if status == "cpu_limit":
        return f"activation exceeded its CPU-time limit of {s.cpu_limit_seconds:g}s and was stopped"
    return "activation was interrupted"
