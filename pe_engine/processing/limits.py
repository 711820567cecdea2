"""Per-activation limits: wall-clock deadline, thread CPU time and memory.

A watchdog thread looks at every running activation each tick. Pure-Python
code that overruns is interrupted by raising an exception in its thread
(PyThreadState_SetAsyncExc). Code stuck inside one C call cannot be
interrupted that way: after a grace period the activation is recorded as timed
out and its thread is written off (the pool replaces it), so the engine goes on.

Memory is the process RSS growth while the activation runs plus Arrow's
allocator growth — cheap (one /proc read per tick) and it sees C allocations
that tracemalloc misses. With several activations running at once the growth
is charged to each of them, which errs on the safe side.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ActivationInterrupted(BaseException):
    """Raised inside a plugin thread. A BaseException so `except Exception` in plugins can't swallow it."""

    status = "error"


class ActivationTimeout(ActivationInterrupted):
    status = "timeout"


class MemoryLimitExceeded(ActivationInterrupted):
    status = "memory_limit"


class CpuLimitExceeded(ActivationInterrupted):
    status = "cpu_limit"


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def _async_raise(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


@dataclass(eq=False)
class Running:
    """One activation as the watchdog sees it."""

    thread_id: int
    cpu_clock: int | None
    deadline: float | None  # seconds of wall time allowed
    cpu_limit: float | None
    memory_limit: int | None
    on_written_off: Callable[["Running"], None] | None = None
    started: float = field(default_factory=time.perf_counter)
    cpu_start: float = 0.0
    rss_start: int = 0
    arrow_start: int = 0
    peak: int = 0
    interrupted: str | None = None
    interrupted_at: float = 0.0
    unwinding: float = 0.0  # seconds of unwinding time granted since the interrupt (see Watchdog.grace)
    written_off: bool = False

    def cpu_time(self) -> float:
        if self.cpu_clock is None:
            return 0.0
        try:
            return time.clock_gettime(self.cpu_clock) - self.cpu_start
        except OSError:
            return 0.0


class Watchdog:
    """`grace` is how long an interrupted activation may take to unwind before it is written
    off. It is counted in watchdog ticks, each worth at most `4 * tick`: when the process is
    starved of CPU or a C extension holds the GIL, the watchdog's own ticks stretch too, and the
    plugin thread, which had no chance to run either, is not charged for the wait. A thread
    really stuck in C is still written off after about `grace` of healthy time."""

    def __init__(self, tick: float = 0.005, grace: float = 1.0, idle_tick: float = 0.05):
        self.tick = tick
        self.grace = grace
        self.idle_tick = idle_tick  # how often an idle watchdog looks for new activations
        self._running: set[Running] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = False
        self._sample = (0.0, 0, 0)  # (monotonic time, rss, arrow bytes): shared by register/unregister
        self._thread = threading.Thread(target=self._loop, name="pe-watchdog", daemon=True)
        self._thread.start()

    def memory_sample(self) -> tuple[int, int]:
        """(RSS, Arrow bytes), at most one tick old. Reading /proc for every activation was a
        large share of dispatch latency when hundreds of activations start at once."""
        now = time.monotonic()
        t, rss, arrow = self._sample
        if now - t > 2 * self.tick:
            rss, arrow = rss_bytes(), pa.total_allocated_bytes()
            self._sample = (now, rss, arrow)
        return rss, arrow

    def register(self, r: Running) -> None:
        r.cpu_start = time.clock_gettime(r.cpu_clock) if r.cpu_clock is not None else 0.0
        r.rss_start, r.arrow_start = self.memory_sample()
        with self._lock:
            # No notify: waking the watchdog here made it take the GIL from the activation
            # that just started (~200 us of every prelude); it finds the newcomer within
            # `idle_tick` instead, and deadlines are far longer than that.
            self._running.add(r)

    def unregister(self, r: Running) -> None:
        """Called by the activation's own thread; also cancels an interrupt not yet delivered."""
        with self._lock:
            self._running.discard(r)
            if r.interrupted and not r.written_off:
                _async_raise(r.thread_id, None)
        rss, arrow = self.memory_sample()
        r.peak = max(r.peak, max(0, rss - r.rss_start) + max(0, arrow - r.arrow_start))

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._wake.notify()

    def _loop(self) -> None:
        last = time.perf_counter()
        while True:
            with self._lock:
                while not self._running and not self._stop:
                    last = 0.0
                    self._wake.wait(self.idle_tick)
                if self._stop:
                    return
                running = list(self._running)
            now = time.perf_counter()
            step = min(now - last, 4 * self.tick) if last else self.tick
            last = now
            sample = None
            for r in running:
                if r.written_off:
                    continue
                if r.interrupted:
                    r.unwinding += step
                    if r.unwinding > self.grace:
                        self._write_off(r)
                    continue
                exc: type[ActivationInterrupted] | None = None
                if r.deadline is not None and now - r.started > r.deadline:
                    exc = ActivationTimeout
                elif r.cpu_limit is not None and r.cpu_time() > r.cpu_limit:
                    exc = CpuLimitExceeded
                else:
                    if sample is None:
                        sample = (rss_bytes(), pa.total_allocated_bytes())
                        self._sample = (time.monotonic(), *sample)
                    mem = max(0, sample[0] - r.rss_start) + max(0, sample[1] - r.arrow_start)
                    r.peak = max(r.peak, mem)
                    if r.memory_limit is not None and mem > r.memory_limit:
                        exc = MemoryLimitExceeded
                if exc is not None:
                    with self._lock:
                        if r in self._running:
                            r.interrupted = exc.status
                            r.interrupted_at = now
                            _async_raise(r.thread_id, exc)
            time.sleep(self.tick)

    def _write_off(self, r: Running) -> None:
        with self._lock:
            if r not in self._running:
                return
            r.written_off = True
            self._running.discard(r)
        if r.on_written_off is not None:
            try:
                r.on_written_off(r)
            except Exception:  # the watchdog must survive anything
                pass


class WorkerPool:
    """Fixed-size pool whose threads can be written off and replaced.

    `concurrent.futures` pools can't replace a stuck thread; this one can: a
    written-off worker finishes its stuck call whenever it returns, notices it
    was replaced, and exits.
    """

    def __init__(self, size: int, name: str = "pe-plugin"):
        import queue

        self._q: "queue.SimpleQueue[Callable[[], None] | None]" = queue.SimpleQueue()
        self._name = name
        self._lock = threading.Lock()
        self._count = 0
        self.size = size
        self.written_off = 0
        self._retired: set[int] = set()
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            self._count += 1
            n = self._count
        t = threading.Thread(target=self._work, name=f"{self._name}-{n}", daemon=True)
        t.start()

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            job = self._q.get()
            if job is None:
                return
            try:
                job()
            except BaseException:  # a job must never kill its worker
                pass
            if me in self._retired:
                self._retired.discard(me)
                return

    def submit(self, job: Callable[[], None]) -> None:
        self._q.put(job)

    def retire(self, thread_id: int) -> None:
        """The thread is stuck: stop counting on it and start a replacement now."""
        self._retired.add(thread_id)
        self.written_off += 1
        self._spawn()

    def shutdown(self) -> None:
        for _ in range(self.size):
            self._q.put(None)


def thread_cpu_clock() -> int | None:
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None
