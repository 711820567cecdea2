"""The process executor: plugins run in a pool of worker processes, so a crash, a segfault,
an `os._exit`, a runaway allocation or a loop that swallows every exception ends only a
worker; the activation is recorded (`crashed`, `timeout`, `memory_limit`, `cpu_limit`), the
worker is replaced, and the server goes on.

Each activation is a conversation held by one engine thread: send the `Run`, answer the
worker's calls (queries, synchronous writes, cache) with the engine's own `PluginApi`,
collect its log lines, and wait for `Done`, the worker's death or the deadline — whichever
comes first. The deadline and the CPU limit are enforced here by killing the worker; the
memory limit by the kernel, in the worker (an address-space rlimit).
"""
from __future__ import annotations

import asyncio
import marshal
import os
import pickle
import signal
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa

from ..enums import ActivationStatus
from ..executor import ActivationRequest, Executor, Limits, Outcome
from ..invocations import RequestCall, ScheduleCall, WalCall
from ..limits import WorkerPool as ThreadPool
from ..plugins.model import LoadedPlugin, PluginError
from ..ports import PluginHost
from ..py_api.local import SHUTDOWN_MESSAGE, PluginApi
from ..responses import PluginResponse
from .common import open_activation
from .shm import Segment, write_arrow
from .thread import PluginSource, limit_message
from .wire import ChannelClosed
from .worker import MAX_CODES, Done, Run, RunDirectory, RunFile
from .workers import PoolClosed, PoolSettings, ProcessPool, WorkerProcess, WorkerStartError, exit_text

__all__ = ["ProcessExecutor", "PoolSettings", "TransferStats", "SegmentCache"]

_MISSING = object()
_CPU_POLL = 0.02  # seconds between CPU-time checks of a worker under a CPU limit
_CANCEL_POLL = 0.25  # a stopped trigger's running activation is noticed within this


class _Built:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def build(self) -> str:
        return self.text


@dataclass
class TransferStats:
    """What crossed the process boundary (the zero-copy claim, measured)."""

    activations: int = 0
    shm_bytes_written: int = 0  # Arrow IPC written into shared memory by the engine
    shm_segments: int = 0
    worker_copied_bytes: int = 0  # Arrow bytes workers allocated to hand batches to plugins
    channel_bytes: int = 0  # pickled messages, both ways

    def to_json(self) -> dict[str, Any]:
        n = max(1, self.activations)
        return {
            "activations": self.activations,
            "shm_bytes_written": self.shm_bytes_written,
            "shm_segments": self.shm_segments,
            "worker_copied_bytes": self.worker_copied_bytes,
            "channel_bytes": self.channel_bytes,
            "channel_bytes_per_activation": self.channel_bytes / n,
            "shm_bytes_per_activation": self.shm_bytes_written / n,
        }


@dataclass(eq=False)
class _Shared:
    batch: pa.RecordBatch
    segment: Segment
    refs: int = 0
    evicted: bool = False


class SegmentCache:
    """One shared-memory copy of each recent WAL batch, whatever the number of triggers reading it."""

    def __init__(self, stats: TransferStats, max_bytes: int = 256 << 20, max_entries: int = 64):
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, _Shared] = OrderedDict()
        self._bytes = 0
        self._stats = stats
        self.max_bytes = max_bytes
        self.max_entries = max_entries

    def lease(self, batch: pa.RecordBatch) -> _Shared:
        key = id(batch)
        with self._lock:
            e = self._entries.get(key)
            if e is not None and e.batch is batch:
                e.refs += 1
                return e
        segment = write_arrow(batch)  # outside the lock: this is the one copy
        with self._lock:
            self._stats.shm_bytes_written += segment.size
            self._stats.shm_segments += 1
            e = _Shared(batch, segment, refs=1)
            old = self._entries.pop(key, None)
            if old is not None:
                self._evict_locked(old)
            self._entries[key] = e
            self._bytes += segment.size
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                _k, victim = self._entries.popitem(last=False)
                self._evict_locked(victim)
            return e

    def release(self, e: _Shared) -> None:
        with self._lock:
            e.refs -= 1
            if e.evicted and e.refs == 0:
                e.segment.close()

    def _evict_locked(self, e: _Shared) -> None:
        if e.evicted:
            return
        e.evicted = True
        self._bytes -= e.segment.size
        if e.refs == 0:
            e.segment.close()

    def clear(self) -> None:
        with self._lock:
            for e in self._entries.values():
                self._evict_locked(e)
            self._entries.clear()


@dataclass
class _Result:
    status: ActivationStatus = ActivationStatus.OK
    error: str | None = None
    traceback: str | None = None
    response: PluginResponse | None = None
    queued: dict[str, list[str]] = field(default_factory=dict)
    cpu_time: float = 0.0
    memory_peak: int = 0
    healthy: bool = True  # the worker can take the next activation


class ProcessExecutor(Executor):
    def __init__(
        self,
        *,
        host: PluginHost,
        plugins: PluginSource,
        new_id: Callable[[], int],
        settings: PoolSettings | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ):
        self.host = host
        self.plugins = plugins
        self.new_id = new_id
        self.settings = settings or PoolSettings()
        self.loop = loop
        self.pool = ProcessPool(self.settings)
        # One engine thread per conversation; never runs plugin code, so it never gets stuck.
        # As many as there can be workers, lent ones included (workers.py, PoolSettings).
        self.threads = ThreadPool(self.settings.max_workers + self.settings.max_lent, name="pe-plugin-proc")
        self.stats = TransferStats()
        self._stats_lock = threading.Lock()
        self.segments = SegmentCache(self.stats)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def start(self) -> None:
        """Start the warm workers now rather than at the first activation."""
        self.pool.start()

    def recycle(self) -> None:
        """Packages changed: replace every worker as soon as it is free."""
        self.pool.recycle()

    def submit(self, request: ActivationRequest, done: Callable[[Outcome], None]) -> None:
        loop = self.loop if self.loop is not None else asyncio.get_running_loop()
        self.threads.submit(lambda: self._run(request, done, loop))

    def shutdown(self) -> None:
        self.threads.shutdown()
        self.pool.close()
        self.segments.clear()

    def describe(self) -> dict[str, Any]:
        p = self.pool
        return {
            "kind": "process",
            "workers": p.size,
            "max_workers": self.settings.max_workers,
            "started": p.started,
            "replaced": p.replaced,
            "lent": p.lent,
            "start_failures": p.start_failures,
            "pids": p.pids(),
            "transfer": self.stats.to_json(),
        }

    # ------------------------------------------------------------------ one activation
    def _run(self, req: ActivationRequest, done: Callable[[Outcome], None], loop: asyncio.AbstractEventLoop) -> None:
        act = open_activation(req, self.new_id, self.host, loop)
        api = act.api
        result = _Result()
        try:
            loaded = req.loaded if req.loaded is not None else self.plugins.current(req.plugin)
            w = self.pool.acquire(prefer=(req.database, req.trigger))
            try:
                result = self._converse(w, req, loaded, api, act.log, act.note)
            finally:
                w.last_trigger = (req.database, req.trigger)
                w.activations += 1
                self.pool.release(w, result.healthy)
        except PluginError as e:
            result = _Result(ActivationStatus.ERROR, str(e))
        except (WorkerStartError, PoolClosed) as e:
            result = _Result(ActivationStatus.ERROR, str(e))
        except BaseException as e:  # the conversation itself failed: never lose the activation
            result = _Result(ActivationStatus.ERROR, f"plugin worker failure: {type(e).__name__}: {e}")
        finally:
            act.release_api()
        if result.status == ActivationStatus.OK:
            api.queue_texts(result.queued)
        done(act.finish(result.status, result.error, result.traceback, cpu_time=result.cpu_time,
                        memory_peak=result.memory_peak, response=result.response))

    def _message(self, w: WorkerProcess, req: ActivationRequest, loaded: LoadedPlugin) -> tuple[Run, list[_Shared]]:
        ref: RunFile | RunDirectory
        h = loaded.version.content_hash
        if loaded.kind == "directory":
            assert loaded.package_name is not None
            ref = RunDirectory(loaded.filename, str(loaded.path), h, loaded.package_name, loaded.version.source)
        else:
            code = None
            if h not in w.known_codes:
                code = marshal.dumps(loaded.code)
                w.known_codes[h] = None
                while len(w.known_codes) > MAX_CODES:
                    w.known_codes.popitem(last=False)
            ref = RunFile(loaded.filename, str(loaded.path), h, code)
        inv = req.job.invocation
        leases: list[_Shared] = []
        call: tuple[Any, ...]
        if isinstance(inv, WalCall):
            tables = []
            for name, batch in inv.tables.items():
                e = self.segments.lease(batch)
                leases.append(e)
                tables.append((name, e.segment.size))
            call = (inv.seq, inv.database, tables)
        elif isinstance(inv, ScheduleCall):
            call = (inv.fire_ns,)
        else:
            assert isinstance(inv, RequestCall)
            call = (inv.query_parameters, inv.headers, inv.body)
        lim = req.limits
        run = Run(
            database=req.database,
            trigger=req.trigger,
            plugin=ref,
            kind=str(inv.kind),
            call=call,
            arguments=req.arguments,
            memory_limit=lim.memory_limit,
            cpu_limit=lim.cpu_limit,
            notes_only_when_called=req.notes_only_when_called,
            generation=w.generation,
        )
        return run, leases

    def _converse(
        self,
        w: WorkerProcess,
        req: ActivationRequest,
        loaded: LoadedPlugin,
        api: PluginApi,
        log: Callable[[str, str], None],
        note: Callable[[str], None],
    ) -> _Result:
        lim = req.limits
        run, leases = self._message(w, req, loaded)
        sent0, got0 = w.chan.bytes_sent, w.chan.bytes_received
        started = time.perf_counter()
        deadline_at = started + lim.deadline if lim.deadline is not None else None
        cpu0 = w.cpu_seconds() if lim.cpu_limit is not None else 0.0
        try:
            try:
                w.chan.send(("run", run), [e.segment.fd for e in leases])
            finally:
                for e in leases:
                    self.segments.release(e)
            while True:
                timeout: float | None = None
                if deadline_at is not None:
                    timeout = max(0.0, deadline_at - time.perf_counter())
                if lim.cpu_limit is not None:
                    timeout = _CPU_POLL if timeout is None else min(timeout, _CPU_POLL)
                timeout = _CANCEL_POLL if timeout is None else min(timeout, _CANCEL_POLL)
                readable, died = w.chan.wait(timeout, w.pidfd)
                if readable:
                    try:
                        msg, fds = w.chan.recv()
                    except ChannelClosed:
                        return self._died(w, lim)
                    op = msg[0]
                    if op == "log":
                        log(msg[1], msg[2])
                    elif op == "found":
                        if lim.deadline is not None:
                            deadline_at = time.perf_counter() + lim.deadline
                        if req.notes_only_when_called:
                            note(req.job.invocation.start_note())
                    elif op == "call":
                        _close(fds)
                        self._answer(w, api, msg[1], msg[2])
                    elif op == "done":
                        return self._finished(w, msg[1])
                elif died:
                    return self._died(w, lim)
                if api.cancelled:  # the trigger was disabled or deleted, or the server stops
                    w.kill(ActivationStatus.ERROR)
                    w.reap()
                    return _Result(
                        ActivationStatus.ERROR,
                        f"KeyboardInterrupt: {SHUTDOWN_MESSAGE} (the trigger was stopped; its worker process was stopped)",
                        healthy=False,
                    )
                now = time.perf_counter()
                if deadline_at is not None and now >= deadline_at:
                    w.kill(ActivationStatus.TIMEOUT)
                    w.reap()
                    return _Result(
                        ActivationStatus.TIMEOUT,
                        f"{limit_message(ActivationStatus.TIMEOUT, lim)}: its worker process was stopped",
                        healthy=False,
                    )
                if lim.cpu_limit is not None and w.cpu_seconds() - cpu0 > lim.cpu_limit:
                    w.kill(ActivationStatus.CPU_LIMIT)
                    w.reap()
                    return _Result(
                        ActivationStatus.CPU_LIMIT,
                        f"{limit_message(ActivationStatus.CPU_LIMIT, lim)}: its worker process was stopped",
                        cpu_time=lim.cpu_limit,
                        healthy=False,
                    )
        except ChannelClosed:
            return self._died(w, lim)
        finally:
            with self._stats_lock:
                self.stats.activations += 1
                self.stats.channel_bytes += (w.chan.bytes_sent - sent0) + (w.chan.bytes_received - got0)

    def _finished(self, w: WorkerProcess, d: Done) -> _Result:
        with self._stats_lock:
            self.stats.worker_copied_bytes += d.copied_bytes
        return _Result(
            ActivationStatus(d.status),
            d.error,
            d.traceback,
            d.response,
            d.queued,
            d.cpu_time,
            d.memory_peak,
            healthy=not d.exit_after,
        )

    def _died(self, w: WorkerProcess, lim: Limits) -> _Result:
        code = w.reap()
        how = exit_text(code)
        if w.killed_for:
            status = ActivationStatus(w.killed_for)
            return _Result(status, limit_message(status, lim), healthy=False)
        if code is not None and code == -signal.SIGXCPU and lim.cpu_limit is not None:
            return _Result(
                ActivationStatus.CPU_LIMIT,
                f"{limit_message(ActivationStatus.CPU_LIMIT, lim)}: its worker process {how}",
                healthy=False,
            )
        extra = ""
        if lim.memory_limit is not None:
            extra = f" while under its memory limit of {lim.memory_limit} bytes"
        return _Result(
            ActivationStatus.CRASHED,
            f"plugin worker process {w.pid} {how}{extra}; the worker was replaced",
            healthy=False,
        )

    def _answer(self, w: WorkerProcess, api: PluginApi, op: str, args: tuple[Any, ...]) -> None:
        """One `influxdb3_local` call from the worker, answered by the engine's PluginApi."""
        try:
            if op == "query":
                query, qargs, database = args
                table = api.query_arrow(query, qargs, database)
                segment = write_arrow(table)
                try:
                    with self._stats_lock:
                        self.stats.shm_bytes_written += segment.size
                        self.stats.shm_segments += 1
                    w.chan.send(("arrow", segment.size), [segment.fd])
                finally:
                    segment.close()
                return
            result: Any = None
            if op == "write_sync":
                db, text, no_sync = args
                if db is None:
                    api.write_sync(_Built(text), no_sync)
                else:
                    api.write_sync_to_db(db, _Built(text), no_sync)
            elif op == "cache_put":
                key, blob, ttl, use_global = args
                api.cache.put(key, pickle.loads(blob), ttl, use_global)
            elif op == "cache_get":
                key, use_global = args
                value = api.cache.get(key, _MISSING, use_global)
                if value is _MISSING:
                    result = (False, None)
                else:
                    try:
                        result = (True, pickle.dumps(value, protocol=5))
                    except Exception as e:
                        raise TypeError(f"cache value for {key!r} cannot be handed to an isolated plugin: {e}") from None
            elif op == "cache_delete":
                key, use_global = args
                result = api.cache.delete(key, use_global)
            else:
                raise RuntimeError(f"unknown call {op!r} from a plugin worker")
            w.chan.send(("ok", result))
        except ChannelClosed:
            raise
        except BaseException as e:
            w.chan.send(("err", type(e).__name__, str(e)))


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass

