"""Shared probe for the benchmark plugins (not a plugin itself).

The benchmark scripts put this directory on sys.path and import the module; the plugins
import it too. In thread isolation plugins run in the engine's process, so both see the
same module object and plugins append plain tuples (list.append is atomic under the GIL).

In process isolation a plugin runs in a worker process, which has its own copy of this
module. The script calls `listen()` before it starts the engine: that binds a Unix datagram
socket and names it in the environment, which workers inherit. `record()` in any other
process then sends the tuple there, and the script's `collect()` (non-blocking) appends it
to the same lists. The plugin reads its clock before `record()`, so the send is outside the
measured time; `time.perf_counter()` is CLOCK_MONOTONIC, one clock for every process.
"""
from __future__ import annotations

import os
import pickle
import socket
import tempfile

# (trigger_index: str, perf_counter_at_entry: float, flush_marker: int | None)
wal_entries: list = []
# (trigger_index: str, time_time_at_entry: float, perf_counter_at_entry: float, call_time_epoch: float)
schedule_entries: list = []
# (plugin: str, perf_counter_at_entry: float, perf_counter_at_exit: float, result: float | None, rows: int)
sums: list = []
# free-form tuples (worker-side traces, crash markers, ...)
extra: list = []

_ENV_SOCK = "PE_BENCH_PROBE_SOCK"
_ENV_PID = "PE_BENCH_PROBE_PID"
_LISTS = {"wal": wal_entries, "schedule": schedule_entries, "sums": sums, "extra": extra}
_out: socket.socket | None = None
_in: socket.socket | None = None


def reset() -> None:
    collect()
    for v in _LISTS.values():
        v.clear()


def record(kind: str, entry: tuple) -> None:
    """Append `entry` to list `kind`, in this process or (from a worker) in the script's."""
    global _out
    path = os.environ.get(_ENV_SOCK)
    if path and os.environ.get(_ENV_PID) != str(os.getpid()):
        if _out is None:
            _out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _out.sendto(pickle.dumps((kind, entry), protocol=5), path)
    else:
        _LISTS[kind].append(entry)


def listen() -> str:
    """Receive what plugins in worker processes record (call before the engine starts)."""
    global _in
    if _in is None:
        d = tempfile.mkdtemp(prefix="pe-bench-probe-")
        path = os.path.join(d, "probe.sock")
        _in = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _in.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        _in.bind(path)
        _in.setblocking(False)
        os.environ[_ENV_SOCK] = path
        os.environ[_ENV_PID] = str(os.getpid())
    return os.environ[_ENV_SOCK]


def collect() -> int:
    """Move whatever workers sent into the lists; returns how many entries arrived."""
    if _in is None:
        return 0
    n = 0
    while True:
        try:
            data = _in.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return n
        kind, entry = pickle.loads(data)
        _LISTS[kind].append(entry)
        n += 1
