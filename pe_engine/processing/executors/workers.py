"""The pool of plugin worker processes: started clean, grown on demand, shrunk when idle, replaced when they die.

Workers are spawned (never forked from the server) with only their end of the channel
open, so no worker — and no process a plugin forks — ever holds the data-dir lock or a
listening socket. One spawner thread starts them all: PR_SET_PDEATHSIG fires when the
thread that created a child exits, so that thread lives as long as the pool.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .wire import Channel, ChannelClosed
from .worker import ENV_FD, ENV_PATH

__all__ = ["PoolSettings", "WorkerProcess", "ProcessPool", "WorkerStartError", "PoolClosed", "exit_text"]

log = logging.getLogger("pe.processing")
plugin_output = logging.getLogger("pe.plugin")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class WorkerStartError(RuntimeError):
    """No worker process could be started (the message says why)."""


class PoolClosed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class PoolSettings:
    max_workers: int = 4
    min_workers: int = 1  # kept warm, so the first activation does not wait for a start
    idle_timeout: float = 60.0  # workers above min_workers leave after this long unused
    start_timeout: float = 60.0
    # Lending: when every worker is busy but none is using the CPU (each waits on I/O, e.g. a
    # plugin's HTTP call to a request trigger of this same server, which needs a worker itself),
    # an activation that has waited `lend_after` seconds gets an extra worker, up to `max_lent`
    # above max_workers. A lent worker leaves when its activation ends. Without it such chains
    # wait until a plugin's own HTTP timeout fires.
    lend_after: float = 0.5
    max_lent: int = 4
    blocked_cpu_share: float = 0.05  # a busy worker using less of one core than this is waiting


class WorkerProcess:
    """One worker as the engine sees it."""

    def __init__(self, proc: subprocess.Popen[bytes], chan: Channel, pidfd: int, generation: int):
        self.proc = proc
        self.chan = chan
        self.pidfd = pidfd
        self.pid = proc.pid
        self.generation = generation
        self.known_codes: OrderedDict[str, None] = OrderedDict()  # mirrors the worker's code cache
        self.last_trigger: tuple[str, str] | None = None
        self.idle_since = time.monotonic()
        self.activations = 0
        self.killed_for: str | None = None  # why the engine killed it (a status), if it did

    def cpu_seconds(self) -> float:
        """utime + stime of the worker, from /proc (what its CPU limit is measured against)."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLK_TCK
        except (OSError, ValueError, IndexError):
            return 0.0

    def exited(self) -> bool:
        """The process has ended (its pidfd is readable); it may not be reaped yet."""
        try:
            ready, _, _ = select.select([self.pidfd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(ready)

    def kill(self, reason: str | None = None) -> None:
        """SIGKILL to the worker's whole process group (it leads its own session), so processes
        a plugin started go with it; the group id cannot be reused while the worker is unreaped."""
        if reason is not None and self.killed_for is None:
            self.killed_for = reason
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self, timeout: float = 5.0) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None

    def close(self) -> None:
        self.chan.close()
        try:
            os.close(self.pidfd)
        except OSError:
            pass

    def stop(self) -> None:
        """Ask it to leave; kill it if it does not."""
        try:
            self.chan.send(("exit",))
        except ChannelClosed:
            pass
        try:
            self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self.kill()
            self.reap()
        self.close()


def exit_text(returncode: int | None) -> str:
    if returncode is None:
        return "did not exit"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by signal {-returncode} ({name})"
    return f"exited with code {returncode}"


def _forward_output(proc: subprocess.Popen[bytes]) -> None:
    """A plugin's print() and a crash's faulthandler dump end up in the server log."""
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            plugin_output.info("plugin worker %d: %s", proc.pid, raw.decode("utf-8", "replace").rstrip())
    except (OSError, ValueError):
        pass


def spawn_worker(generation: int, start_timeout: float) -> WorkerProcess:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(os.environ)
    env[ENV_FD] = str(child.fileno())
    env[ENV_PATH] = json.dumps([p for p in sys.path if p])
    try:
        proc = subprocess.Popen(
            # -c, not -m: the worker's classes must pickle under their module's name, not __main__
            [sys.executable, "-c", "from pe_engine.processing.executors.worker import main; main()"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(child.fileno(),),
            close_fds=True,  # nothing else of the server's: not its lock, not its sockets
            start_new_session=True,
            env=env,
        )
    except OSError as e:
        parent.close()
        raise WorkerStartError(f"could not start a plugin worker process: {e}") from None
    finally:
        child.close()
    chan = Channel(parent)
    pidfd = os.pidfd_open(proc.pid)
    w = WorkerProcess(proc, chan, pidfd, generation)
    threading.Thread(target=_forward_output, args=(proc,), name=f"pe-worker-{proc.pid}-out", daemon=True).start()
    readable, _died = chan.wait(start_timeout, pidfd)
    try:
        if not readable:
            raise ChannelClosed("no answer")
        msg, fds = chan.recv()
        for fd in fds:
            os.close(fd)
        if msg[0] != "ready":
            raise ChannelClosed(f"unexpected first message {msg[0]!r}")
    except ChannelClosed:
        w.kill()
        code = w.reap()
        w.close()
        raise WorkerStartError(
            f"a plugin worker process did not start ({exit_text(code)}); see the server log for its output"
        ) from None
    return w


@dataclass
class _CpuProbe:
    """The busy workers' CPU time at one moment, to tell waiting workers from working ones."""

    workers: set[WorkerProcess]
    at: float
    cpu: dict[WorkerProcess, float]

    @classmethod
    def take(cls, busy: set[WorkerProcess]) -> "_CpuProbe":
        return cls(set(busy), time.monotonic(), {w: w.cpu_seconds() for w in busy})

    def all_waiting(self, settings: PoolSettings) -> bool:
        """True once `lend_after` has passed and no worker used `blocked_cpu_share` of a core."""
        elapsed = time.monotonic() - self.at
        if elapsed < settings.lend_after:
            return False
        return all(w.cpu_seconds() - c < settings.blocked_cpu_share * elapsed for w, c in self.cpu.items())


class ProcessPool:
    def __init__(self, settings: PoolSettings):
        self.settings = settings
        self._cond = threading.Condition()
        self._idle: list[WorkerProcess] = []
        self._busy: set[WorkerProcess] = set()
        self._starting = 0
        self._closed = False
        self._spawns: "queue.SimpleQueue[bool | None]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.generation = 0
        self.started = 0
        self.replaced = 0  # workers that died or were killed mid-activation
        self.lent = 0  # workers started above max_workers because every busy one was waiting
        self.start_failures = 0
        self.last_start_error: str | None = None
        self._failed_in_a_row = 0

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._spawner, name="pe-worker-spawner", daemon=True)
            self._thread.start()
            while self._total_locked() < self.settings.min_workers:
                self._spawn_locked()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
            self._cond.notify_all()
        self._spawns.put(None)
        for w in busy:
            w.kill()
        for w in idle:
            w.stop()

    def recycle(self) -> None:
        """New packages: workers started before now are replaced as soon as they are free."""
        with self._cond:
            self.generation += 1
            old, self._idle = self._idle, []
            while self._total_locked() < self.settings.min_workers:
                self._spawn_locked()
        for w in old:
            w.stop()

    @property
    def size(self) -> int:
        with self._cond:
            return len(self._idle) + len(self._busy)

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in (*self._idle, *self._busy)]

    # -- use -----------------------------------------------------------------------
    def acquire(self, prefer: tuple[str, str] | None = None) -> WorkerProcess:
        """A free worker (the one that last ran `prefer`, when free: its module state is warm)."""
        probe: _CpuProbe | None = None
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._spawner, name="pe-worker-spawner", daemon=True)
                self._thread.start()
            while True:
                if self._closed:
                    raise PoolClosed("the plugin worker pool is shut down")
                self._drop_exited_locked()
                if self._idle:
                    w = next((x for x in self._idle if x.last_trigger == prefer), None) if prefer else None
                    if w is None:
                        w = self._idle[-1]
                    self._idle.remove(w)
                    self._busy.add(w)
                    if not self._idle and self._starting == 0 and self._total_locked() < self.settings.max_workers:
                        self._spawn_locked()  # a spare, so the next burst does not wait for a start
                    return w
                wait = 1.0
                if self._starting == 0:
                    if self._failed_in_a_row and not self._busy:
                        self._failed_in_a_row = 0  # let the next call try again
                        raise WorkerStartError(self.last_start_error or "no plugin worker process could be started")
                    if self._total_locked() < self.settings.max_workers:
                        self._spawn_locked()
                    else:
                        if probe is None or probe.workers != self._busy:
                            probe = _CpuProbe.take(self._busy)
                        elif probe.all_waiting(self.settings):
                            if self._total_locked() < self.settings.max_workers + self.settings.max_lent:
                                self.lent += 1
                                log.info("every plugin worker is busy waiting (for I/O or another trigger); "
                                         "lending one more (%d running)", len(self._busy))
                                self._spawn_locked()
                            probe = None
                        wait = self.settings.lend_after
                self._cond.wait(wait)

    def _drop_exited_locked(self) -> None:
        """Idle workers that died since their last activation (a plugin's background thread, the
        OOM killer, an operator's kill) leave the pool here, so the next activation is not sent
        to them and recorded as their crash."""
        for w in [x for x in self._idle if x.exited()]:
            self._idle.remove(w)
            self.replaced += 1
            log.warning("plugin worker process %d %s while idle; it is replaced", w.pid, exit_text(w.reap()))
            w.close()
        if not self._closed and self._total_locked() < self.settings.min_workers:
            self._spawn_locked()

    def release(self, w: WorkerProcess, healthy: bool) -> None:
        retire = False
        with self._cond:
            self._busy.discard(w)
            lent = self._total_locked() >= self.settings.max_workers  # w itself is not counted now
            if healthy and not self._closed and w.generation == self.generation and not lent:
                w.idle_since = time.monotonic()
                self._idle.append(w)
            else:
                retire = True
                if not healthy:
                    self.replaced += 1
                if not self._closed and self._total_locked() < self.settings.min_workers:
                    self._spawn_locked()
            self._cond.notify()
        if retire:
            if healthy:
                w.stop()
            else:
                w.kill()
                w.reap()
                w.close()

    # -- the spawner thread ------------------------------------------------------------
    def _total_locked(self) -> int:
        return len(self._idle) + len(self._busy) + self._starting

    def _spawn_locked(self) -> None:
        self._starting += 1
        self._spawns.put(True)

    def _spawner(self) -> None:
        while True:
            try:
                item = self._spawns.get(timeout=max(1.0, self.settings.idle_timeout / 4))
            except queue.Empty:
                self._shrink()
                continue
            if item is None:
                return
            with self._cond:
                generation = self.generation
            try:
                w = spawn_worker(generation, self.settings.start_timeout)
            except Exception as e:
                log.error("%s", e)
                with self._cond:
                    self._starting -= 1
                    self.start_failures += 1
                    self._failed_in_a_row += 1
                    self.last_start_error = str(e)
                    self._cond.notify_all()
                continue
            with self._cond:
                self._starting -= 1
                self.started += 1
                self._failed_in_a_row = 0
                closed = self._closed
                if not closed:
                    self._idle.append(w)
                    self._cond.notify()
            if closed:
                w.stop()

    def _shrink(self) -> None:
        now = time.monotonic()
        leave: list[WorkerProcess] = []
        with self._cond:
            for w in list(self._idle):
                if self._total_locked() <= self.settings.min_workers:
                    break
                if now - w.idle_since > self.settings.idle_timeout:
                    self._idle.remove(w)
                    leave.append(w)
        for w in leave:
            w.stop()
