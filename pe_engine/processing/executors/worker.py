"""A plugin worker process: runs activations the engine sends, one at a time, until told to stop.

Started by `workers.py` (`python -c "...worker import main; main()"`) with only
its end of the channel open (no data-dir lock, no listening socket), in its own session
(a terminal's Ctrl-C goes to the server, not here), dying with the engine
(PR_SET_PDEATHSIG, and end of stream on the channel). Everything that can crash, spin or
allocate without bound happens here, so the engine only ever loses this process.

`influxdb3_local` here is a proxy: logs are sent one way, queries, synchronous writes and
cache calls are round trips answered by the engine's own `PluginApi` (the same checks and
messages as in thread mode), queued writes go back with the outcome. WAL batches and query
results arrive as Arrow IPC in shared memory and are used in place.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

ENV_FD = "PE_WORKER_FD"
ENV_PATH = "PE_WORKER_SYS_PATH"
MAX_CODES = 64  # compiled single-file plugins kept (the engine mirrors this to know what to resend)

__all__ = ["RunFile", "RunDirectory", "Run", "Done", "ENV_FD", "ENV_PATH", "MAX_CODES", "main"]


class RunFile(NamedTuple):  # NamedTuples: a quarter of a slotted dataclass's pickling time
    filename: str
    path: str
    content_hash: str
    code: bytes | None  # marshal of the compiled code; None when this worker already has it


class RunDirectory(NamedTuple):
    filename: str
    path: str
    content_hash: str
    package_name: str
    source: str


class Run(NamedTuple):
    """One activation: the plugin, its call, and the limits the worker enforces itself."""

    database: str
    trigger: str
    plugin: RunFile | RunDirectory
    kind: str  # TriggerKind
    call: tuple[Any, ...]  # wal: (seq, database, [(table, size), ...]) + fds; schedule: (fire_ns,); request: (params, headers, body)
    arguments: dict[str, str] | None
    memory_limit: int | None
    cpu_limit: float | None
    notes_only_when_called: bool
    generation: int


@dataclass  # not slotted: a slotted dataclass pickles several times slower
class Done:
    status: str
    error: str | None = None
    traceback: str | None = None
    response: Any = None  # PluginResponse
    queued: dict[str, list[str]] = field(default_factory=dict)
    cpu_time: float = 0.0
    memory_peak: int = 0
    exit_after: bool = False  # the worker leaves after this (e.g. after hitting its memory limit)
    copied_bytes: int = 0  # Arrow bytes the worker had to copy to give the plugin its batches


# ----------------------------------------------------------------------------- process set-up
def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() == 1:  # the engine is already gone
        os._exit(0)


def _no_core_files() -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


def _orphan(chan: Any) -> None:
    """In a process a plugin forked: the channel is the worker's alone. Closed here, the child's
    `influxdb3_local` calls fail (EOFError) and, should it return from the entry point, it exits
    instead of sending a `done` the engine would take for the next activation's."""
    import threading

    chan._send_lock = threading.Lock()  # another thread may have held them at the fork
    chan.conversation = threading.RLock()
    chan.close()


def main() -> None:
    fd = int(os.environ.pop(ENV_FD))
    path = json.loads(os.environ.pop(ENV_PATH, "[]"))
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _no_core_files()
    import faulthandler

    faulthandler.enable()  # a segfault leaves its Python stack on stderr, which the engine logs
    for p in path:  # the engine's sys.path, plugin environments included, before pyarrow looks for numpy
        if p not in sys.path:
            sys.path.append(p)
    import socket

    from .wire import Channel

    chan = Channel(socket.socket(fileno=fd))
    os.register_at_fork(after_in_child=lambda: _orphan(chan))
    worker = _Worker(chan)
    chan.send(("ready", os.getpid()))
    worker.serve()


# ----------------------------------------------------------------------------- the worker
class _Worker:
    def __init__(self, chan: Any):
        import builtins

        import pyarrow as pa

        pa.total_allocated_bytes()  # loaded once, before any plugin

        from ...lineprotocol.builder import LineBuilder
        from .. import plugin_warnings

        self.chan = chan
        self.codes: OrderedDict[str, Any] = OrderedDict()
        self.generation = -1
        self.probe = _Probe()
        builtins.LineBuilder = LineBuilder  # type: ignore[attr-defined]  # plugins use it without importing
        plugin_warnings.install()
        self._enable_numpy()

    def _enable_numpy(self) -> None:
        try:
            from ..numpy_bridge import enable_numpy
        except ImportError:
            return
        enable_numpy()

    def serve(self) -> None:
        from .wire import ChannelClosed

        while True:
            try:
                msg, fds = self.chan.recv()
            except ChannelClosed:
                os._exit(0)
            op = msg[0]
            if op == "run":
                done = self.run(msg[1], fds)
                try:
                    self.chan.send(("done", done))
                except ChannelClosed:
                    os._exit(0)
                if done.exit_after:
                    os._exit(0)
            elif op == "exit":
                os._exit(0)

    # -- plugin code -------------------------------------------------------------
    def _loaded(self, ref: RunFile | RunDirectory) -> Any:
        import marshal
        from pathlib import Path

        from ..plugins.model import LoadedPlugin, PluginVersion

        version = PluginVersion(ref.filename, ref.content_hash, 0.0, "local", None, 0)
        if isinstance(ref, RunDirectory):
            return LoadedPlugin(ref.filename, version, "directory", None, ref.package_name, Path(ref.path))
        code = self.codes.get(ref.content_hash)
        if code is None:
            if ref.code is None:  # cannot happen while both ends evict alike; never run stale code
                raise RuntimeError(f"plugin worker lost the code of {ref.filename}")
            code = marshal.loads(ref.code)
            self.codes[ref.content_hash] = code
            while len(self.codes) > MAX_CODES:
                self.codes.popitem(last=False)
        return LoadedPlugin(ref.filename, version, "file", code, None, Path(ref.path))

    def _invocation(self, run: Run, fds: list[int]) -> Any:
        from ..enums import TriggerKind
        from ..invocations import RequestCall, ScheduleCall, WalCall
        from .shm import read_batch

        if run.kind == TriggerKind.WAL:
            seq, database, tables = run.call
            batches = {}
            for (name, size), fd in zip(tables, fds):
                batches[name] = read_batch(fd, size)
            return WalCall(seq, database, batches)
        for fd in fds:
            os.close(fd)
        if run.kind == TriggerKind.SCHEDULE:
            return ScheduleCall(run.call[0])
        params, headers, body = run.call
        return RequestCall(params, headers, body)

    def run(self, run: Run, fds: list[int]) -> Done:
        import pyarrow as pa

        from ..enums import ActivationStatus, TriggerKind
        from ..plugin_warnings import routed_to
        from ..plugins.loading import entry_point, instantiate
        from ..plugins.model import PluginError
        from ..responses import UnsupportedReturn, to_response

        if run.generation != self.generation:
            self.generation = run.generation
            self._enable_numpy()  # packages may have been installed since
        api = WorkerApi(self.chan, run.database)
        done = Done(ActivationStatus.OK)
        limits = _Limits(self.probe, run.memory_limit, run.cpu_limit)
        try:
            try:
                loaded = self._loaded(run.plugin)  # first: the engine counts on this worker having the code now
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise
            allocated = pa.total_allocated_bytes()
            inv = self._invocation(run, fds)
            done.copied_bytes = max(0, pa.total_allocated_bytes() - allocated)  # 0 when the batches are views
            limits.apply()
            try:
                with routed_to(api.log_line):
                    ns = instantiate(loaded)
                    fn = entry_point(ns, inv.entry_point, inv.plugin_type)
                    # The plugin is about to run: the engine starts the deadline now, as a thread
                    # would, so a slow start of the call (a loaded machine) is not charged to it.
                    self.chan.send(("found",))
                    args = dict(run.arguments) if run.arguments else None
                    result = fn(*inv.arguments(api, args))
                    if inv.kind == TriggerKind.REQUEST:
                        done.response = to_response(result)
            finally:
                limits.release()
        except (MemoryError, pa.ArrowMemoryError) as e:
            if limits.memory_limit is not None:
                done.status = ActivationStatus.MEMORY_LIMIT
                done.error = (
                    f"activation exceeded its memory limit of {limits.memory_limit} bytes "
                    f"({type(e).__name__}); its worker process was replaced"
                )
                done.exit_after = True
            else:
                done.status, done.error = ActivationStatus.ERROR, f"{type(e).__name__}: {e}"
                done.traceback = traceback.format_exc(limit=20)
        except (UnsupportedReturn, PluginError) as e:
            done.status, done.error = ActivationStatus.ERROR, str(e)
        except BaseException as e:  # plugins may raise anything, SystemExit included
            done.status, done.error = ActivationStatus.ERROR, f"{type(e).__name__}: {e}"
            done.traceback = traceback.format_exc(limit=20)
        done.cpu_time = limits.cpu_time
        done.memory_peak = limits.peak
        if done.status == ActivationStatus.OK:
            done.queued = api.queued
        return done


class _Limits:
    """The kernel-enforced half of the limits: address space and CPU seconds (soft rlimits,
    raised back after the call; the engine enforces the deadline and exact CPU time).
    Also measures the call: CPU time, and peak RSS growth (VmHWM reset before the call)."""

    def __init__(self, probe: "_Probe", memory_limit: int | None, cpu_limit: float | None):
        self.probe = probe
        self.memory_limit = memory_limit
        self.cpu_limit = cpu_limit
        self.cpu_time = 0.0
        self.peak = 0
        self._cpu0 = 0.0
        self._rss0 = 0

    def apply(self) -> None:
        import resource as r

        vm, self._rss0 = self.probe.vm_rss()
        self.probe.reset_peak()
        self._cpu0 = time.process_time()
        if self.memory_limit is not None:
            _soft, hard = r.getrlimit(r.RLIMIT_AS)
            want = vm + self.memory_limit
            if hard == r.RLIM_INFINITY or want < hard:
                r.setrlimit(r.RLIMIT_AS, (want, hard))
        if self.cpu_limit is not None:
            _soft, hard = r.getrlimit(r.RLIMIT_CPU)
            used = r.getrusage(r.RUSAGE_SELF)
            want_s = int(used.ru_utime + used.ru_stime + self.cpu_limit) + 1  # SIGXCPU: the backstop
            if hard == r.RLIM_INFINITY or want_s < hard:
                r.setrlimit(r.RLIMIT_CPU, (want_s, hard))

    def release(self) -> None:
        import resource as r

        self.cpu_time = time.process_time() - self._cpu0
        self.peak = max(0, self.probe.peak_rss() - self._rss0)  # VmHWM, reset in apply()
        for which, wanted in ((r.RLIMIT_AS, self.memory_limit), (r.RLIMIT_CPU, self.cpu_limit)):
            if wanted is not None:
                _soft, hard = r.getrlimit(which)
                r.setrlimit(which, (hard, hard))


class _Probe:
    """/proc/self files kept open: reading them costs ~1 µs instead of ~50 µs per open."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._statm = _open("/proc/self/statm", os.O_RDONLY)
        self._clear = _open("/proc/self/clear_refs", os.O_WRONLY)
        self._status = _open("/proc/self/status", os.O_RDONLY)

    def vm_rss(self) -> tuple[int, int]:
        if self._statm is None:
            return 0, 0
        try:
            fields = os.pread(self._statm, 128, 0).split()
            return int(fields[0]) * self._page, int(fields[1]) * self._page
        except (OSError, ValueError, IndexError):
            return 0, 0

    def peak_rss(self) -> int:
        """VmHWM, the peak RSS since the last reset_peak(). (getrusage's ru_maxrss is not reset by
        clear_refs once a thread of the process has exited: it kept the worker's lifetime peak.)"""
        if self._status is None:
            return 0
        try:
            text = os.pread(self._status, 8192, 0)
            at = text.index(b"VmHWM:")
            return int(text[at + 6:text.index(b"kB", at)]) * 1024
        except (OSError, ValueError):
            return 0

    def reset_peak(self) -> None:
        """Reset the peak RSS, so the peak measured is this activation's, not the worker's lifetime's."""
        if self._clear is not None:
            try:
                os.write(self._clear, b"5")
            except OSError:
                pass


def _open(path: str, flags: int) -> int | None:
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except OSError:
        return None


# ----------------------------------------------------------------------------- influxdb3_local
_ERRORS: dict[str, type[BaseException]] = {
    "TypeError": TypeError,
    "ValueError": ValueError,
    "KeyError": KeyError,
    "KeyboardInterrupt": KeyboardInterrupt,
    "RuntimeError": RuntimeError,
}


def _raise(kind: str, message: str) -> None:
    if kind == "QueryError":
        from ..py_api.local import QueryError

        raise QueryError(message)
    raise _ERRORS.get(kind, Exception)(message)


class _Built:
    """A line already built in the worker, handed to the engine's `PluginApi` as a LineBuilder."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def build(self) -> str:
        return self.text


class WorkerCache:
    """`influxdb3_local.cache`: the engine's one cache store, values pickled across."""

    def __init__(self, api: "WorkerApi"):
        self._api = api

    def put(self, key: str, value: Any, ttl: float | None = None, use_global: bool | None = None) -> None:
        import pickle

        try:
            blob = pickle.dumps(value, protocol=5)
        except Exception as e:
            raise TypeError(
                f"cache value for {key!r} cannot be stored from an isolated plugin: it must be picklable ({e})"
            ) from None
        self._api._call("cache_put", key, blob, ttl, use_global)

    def get(self, key: str, default: Any = None, use_global: bool | None = None) -> Any:
        import pickle

        found, blob = self._api._call("cache_get", key, use_global)
        return pickle.loads(blob) if found else default

    def delete(self, key: str, use_global: bool | None = None) -> bool:
        return bool(self._api._call("cache_delete", key, use_global))


class WorkerApi:
    """`influxdb3_local` inside a worker process."""

    def __init__(self, chan: Any, database: str):
        self._chan = chan
        self._db = database
        self.queued: dict[str, list[str]] = {}
        self._cache = WorkerCache(self)

    def _call(self, op: str, *args: Any) -> Any:
        from .shm import read_table

        with self._chan.conversation:
            self._chan.send(("call", op, args))
            msg, fds = self._chan.recv()
        if msg[0] == "err":
            _raise(msg[1], msg[2])
        if msg[0] == "arrow":
            return read_table(fds[0], msg[1])
        return msg[1]

    def log_line(self, level: str, text: str) -> None:
        self._chan.send(("log", level, text))

    def info(self, *args: Any) -> None:
        self.log_line("INFO", " ".join(str(a) for a in args))

    def warn(self, *args: Any) -> None:
        self.log_line("WARN", " ".join(str(a) for a in args))

    def error(self, *args: Any) -> None:
        self.log_line("ERROR", " ".join(str(a) for a in args))

    def query(self, query: str, args: dict[str, str] | None = None, database: str | None = None) -> list[dict]:
        from ..py_api.batches import table_to_rows

        return table_to_rows(self._call("query", query, args, database))

    def query_arrow(self, query: str, args: dict[str, str] | None = None, database: str | None = None) -> Any:
        return self._call("query", query, args, database)

    def write(self, line: Any) -> None:
        from ..py_api.local import build_line

        self.queued.setdefault(self._db, []).append(build_line(line))

    def write_to_db(self, db_name: str, line: Any) -> None:
        from ..py_api.local import build_line, target_database

        self.queued.setdefault(target_database(db_name), []).append(build_line(line))

    def write_sync(self, line: Any, no_sync: bool) -> None:
        from ..py_api.local import build_line

        self._call("write_sync", None, build_line(line), no_sync)

    def write_sync_to_db(self, db_name: str, line: Any, no_sync: bool) -> None:
        from ..py_api.local import build_line

        self._call("write_sync", db_name, build_line(line), no_sync)

    @property
    def cache(self) -> WorkerCache:
        return self._cache

