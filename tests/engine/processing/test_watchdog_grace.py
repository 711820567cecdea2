"""The watchdog's unwinding grace is not spent while the process cannot run the plugin thread.

Under load (CI's two cores, other tests, a C extension holding the GIL) an interrupted
activation may get no chance to unwind for a while; writing it off then reported a memory-limit
stop as "stuck outside Python code". A ctypes call through `PyDLL` keeps the GIL for its whole
duration, which stalls every Python thread deterministically.
"""
from __future__ import annotations

import ctypes
import threading
import time

from pe_engine.processing.limits import (
    ActivationInterrupted,
    Running,
    Watchdog,
    thread_cpu_clock,
)

_libc_holding_gil = ctypes.PyDLL(None)  # calls keep the GIL, unlike ctypes.CDLL


def _hold_gil(seconds: float) -> None:
    _libc_holding_gil.usleep(int(seconds * 1_000_000))


def _plugin(r: Running, wd: Watchdog, out: dict[str, object]) -> None:
    r.thread_id = threading.get_ident()
    r.cpu_clock = thread_cpu_clock()
    wd.register(r)
    try:
        try:
            while True:
                pass
        finally:
            # unwinding takes some Python time (a plugin's own finally, freeing big objects)
            end = time.perf_counter() + 0.1
            while time.perf_counter() < end:
                pass
    except ActivationInterrupted as e:
        out["status"] = e.status
    finally:
        wd.unregister(r)


def test_a_stall_of_the_whole_process_is_not_charged_to_the_unwinding_plugin() -> None:
    wd = Watchdog(tick=0.005, grace=0.3)
    try:
        r = Running(thread_id=0, cpu_clock=None, deadline=0.05, cpu_limit=None, memory_limit=None)
        out: dict[str, object] = {}
        t = threading.Thread(target=_plugin, args=(r, wd, out), daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while r.interrupted is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert r.interrupted == "timeout"
        _hold_gil(1.0)  # three graces of wall time in which no Python thread can run
        t.join(10)
        assert not t.is_alive()
        assert out.get("status") == "timeout"  # the plugin unwound through its own code
        assert not r.written_off
    finally:
        wd.stop()


def test_a_thread_stuck_in_c_is_still_written_off_after_the_grace() -> None:
    wd = Watchdog(tick=0.005, grace=0.2)
    written_off = threading.Event()
    release = threading.Event()
    try:
        r = Running(thread_id=0, cpu_clock=None, deadline=0.05, cpu_limit=None, memory_limit=None,
                    on_written_off=lambda _r: written_off.set())

        def stuck() -> None:
            r.thread_id = threading.get_ident()
            wd.register(r)
            try:
                release.wait(30)  # a C wait: the interrupt cannot be delivered
            except ActivationInterrupted:
                pass
            finally:
                wd.unregister(r)

        t = threading.Thread(target=stuck, daemon=True)
        t.start()
        assert written_off.wait(10)
        assert r.written_off and r.interrupted == "timeout"
        assert r.unwinding > 0.2
    finally:
        release.set()
        wd.stop()
