"""The thread executor: one shared interpreter, a pool of worker threads and a watchdog
(InfluxDB's model, lowest latency). A plugin stuck in C code cannot be interrupted; its
thread is written off and replaced, and the activation is reported with the limit it broke."""
from __future__ import annotations

import asyncio
import threading
import time
import traceback
from typing import Any, Callable, Protocol

from ..enums import ActivationStatus, TriggerKind
from ..executor import ActivationRequest, Executor, Limits, Outcome
from .common import MAX_ACTIVATION_LOG_LINES, open_activation
from ..limits import ActivationInterrupted, Running, Watchdog, WorkerPool, thread_cpu_clock
from ..plugins.loading import entry_point, instantiate
from ..plugin_warnings import install as install_warning_hook
from ..plugin_warnings import routed_to
from ..plugins.model import LoadedPlugin, PluginError
from ..ports import PluginHost
from ..py_api.local import PluginApi
from ..responses import PluginResponse, UnsupportedReturn, to_response

__all__ = ["MAX_ACTIVATION_LOG_LINES", "PluginSource", "ThreadExecutor", "limit_message"]


class PluginSource(Protocol):
    """The registry as the executor sees it: what the next activation should run."""

    def current(self, filename: str) -> LoadedPlugin: ...


_thread_clock = threading.local()


def _cpu_clock() -> int | None:
    clk = getattr(_thread_clock, "clk", False)
    if clk is False:
        clk = _thread_clock.clk = thread_cpu_clock()
    return clk


class ThreadExecutor(Executor):
    def __init__(
        self,
        *,
        host: PluginHost,
        plugins: PluginSource,
        pool: WorkerPool,
        watchdog: Watchdog,
        new_id: Callable[[], int],
        loop: asyncio.AbstractEventLoop | None = None,
    ):
        self.host = host
        self.plugins = plugins
        self.pool = pool
        self.watchdog = watchdog
        self.new_id = new_id
        self.loop = loop
        install_warning_hook()  # plugins' `warnings` go to their trigger's log

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The engine loop, where plugins' synchronous writes are run."""
        self.loop = loop

    def submit(self, request: ActivationRequest, done: Callable[[Outcome], None]) -> None:
        loop = self.loop if self.loop is not None else asyncio.get_running_loop()
        self.pool.submit(lambda: self._run(request, done, loop))

    def shutdown(self) -> None:
        self.pool.shutdown()
        self.watchdog.stop()

    def describe(self) -> dict[str, Any]:
        return {"kind": "thread", "threads": self.pool.size, "written_off": self.pool.written_off}

    # ---------------------------------------------------------------- worker side
    def _run(self, req: ActivationRequest, done: Callable[[Outcome], None], loop: asyncio.AbstractEventLoop) -> None:
        act = open_activation(req, self.new_id, self.host, loop)
        rec, api = act.rec, act.api
        inv = req.job.invocation
        lim = req.limits
        running = Running(
            thread_id=threading.get_ident(),
            cpu_clock=_cpu_clock(),
            deadline=lim.deadline,
            cpu_limit=lim.cpu_limit,
            memory_limit=lim.memory_limit,
        )

        def written_off(r: Running) -> None:
            # The thread is stuck in C code: record the outcome now and move on without it.
            self.pool.retire(r.thread_id)
            rec.status = ActivationStatus(r.interrupted or ActivationStatus.TIMEOUT)
            rec.error = written_off_message(rec.status, lim)
            rec.run_time = time.perf_counter() - act.started
            rec.finished_at = time.time()
            rec.memory_peak = r.peak
            api.cancelled = True
            done(Outcome(rec, captured_writes=api.captured_writes() if req.capture_writes else None))

        running.on_written_off = written_off
        response: PluginResponse | None = None
        status, error, tb = ActivationStatus.OK, None, None
        try:
            self.watchdog.register(running)
            try:
                with routed_to(act.log):
                    result = self._call(req, api, act.start_note_if_called)
                if inv.kind == TriggerKind.REQUEST:
                    response = to_response(result)
            finally:
                self.watchdog.unregister(running)
        except ActivationInterrupted as e:
            status = ActivationStatus(e.status)
            error = limit_message(e.status, lim)
        except (UnsupportedReturn, PluginError) as e:  # engine-made messages: no class-name prefix
            status, error = ActivationStatus.ERROR, str(e)
        except BaseException as e:  # plugins may raise anything, SystemExit included
            status = ActivationStatus.ERROR
            error = f"{type(e).__name__}: {e}"
            tb = traceback.format_exc(limit=20)
        finally:
            act.release_api()
        if running.written_off:
            return  # already reported; whatever it did is discarded
        done(act.finish(status, error, tb, cpu_time=running.cpu_time(), memory_peak=running.peak, response=response))

    def _call(self, req: ActivationRequest, api: PluginApi, found: Callable[[], None]) -> Any:
        loaded = req.loaded if req.loaded is not None else self.plugins.current(req.plugin)
        ns = instantiate(loaded)
        inv = req.job.invocation
        fn = entry_point(ns, inv.entry_point, inv.plugin_type)
        args = dict(req.arguments) if req.arguments else None
        found()
        return fn(*inv.arguments(api, args))


def written_off_message(status: ActivationStatus, lim: Limits) -> str:
    """The interrupt could not be delivered: the thread is in C code (or a plugin swallows it)."""
    what = {
        ActivationStatus.MEMORY_LIMIT: f"its memory limit of {lim.memory_limit} bytes",
        ActivationStatus.CPU_LIMIT: f"its CPU-time limit of {lim.cpu_limit or 0:g}s",
    }.get(status, f"its {lim.deadline or 0:g}s deadline")
    return (
        f"activation exceeded {what} and did not stop (stuck outside Python code); "
        "its worker thread was written off"
    )


def limit_message(status: str, lim: Limits) -> str:
    if status == ActivationStatus.TIMEOUT:
        return f"activation exceeded its deadline of {lim.deadline:g}s and was interrupted"
    if status == ActivationStatus.MEMORY_LIMIT:
        return f"activation exceeded its memory limit of {lim.memory_limit} bytes and was stopped"
    if status == ActivationStatus.CPU_LIMIT:
        return f"activation exceeded its CPU-time limit of {lim.cpu_limit:g}s and was stopped"
    return "activation was interrupted"
