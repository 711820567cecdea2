"""Shared probe for the benchmark plugins (not a plugin itself).

The benchmark scripts put this directory on sys.path and import the module; the plugins
import it too. In thread isolation plugins run in the engine's process, so both see the
same module object and plugins append plain tuples (list.append is atomic under the GIL).

In process isolation a plugin runs in a worker process, which has its own copy of this
module. The script calls `listen()` before it starts the engine: that makes a directory and
names it in the environment, which workers inherit. `record()` in any other process appends
the pickled tuple to that process's own file there (one O_APPEND write, which never blocks on
the reader), and the script's `collect()` reads what is new in each file into the same lists.
The plugin reads its clock before `record()`, so the write is outside the measured time;
`time.perf_counter()` is CLOCK_MONOTONIC, one clock for every process.
"""
from __future__ import annotations

import atexit
import os
import pickle
import shutil
import struct
import tempfile

# (trigger_index: str, perf_counter_at_entry: float, flush_marker: int | None)
wal_entries: list = []
# (trigger_index: str, time_time_at_entry: float, perf_counter_at_entry: float, call_time_epoch: float)
schedule_entries: list = []
# (plugin: str, perf_counter_at_entry: float, perf_counter_at_exit: float, result: float | None, rows: int)
sums: list = []
# free-form tuples (worker-side traces, crash markers, ...)
extra: list = []

_ENV_DIR = "PE_BENCH_PROBE_DIR"
_ENV_PID = "PE_BENCH_PROBE_PID"
_LISTS = {"wal": wal_entries, "schedule": schedule_entries, "sums": sums, "extra": extra}
_HEAD = struct.Struct("<I")
_out: int | None = None
_dir: str | None = None
_offsets: dict[str, int] = {}
_partial: dict[str, bytes] = {}


def reset() -> None:
    collect()
    for v in _LISTS.values():
        v.clear()


def record(kind: str, entry: tuple) -> None:
    """Append `entry` to list `kind`, in this process or (from a worker) in the script's."""
    global _out
    d = os.environ.get(_ENV_DIR)
    if d and os.environ.get(_ENV_PID) != str(os.getpid()):
        if _out is None:
            _out = os.open(os.path.join(d, f"{os.getpid()}.probe"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        blob = pickle.dumps((kind, entry), protocol=5)
        os.write(_out, _HEAD.pack(len(blob)) + blob)
    else:
        _LISTS[kind].append(entry)


def listen() -> str:
    """Receive what plugins in worker processes record (call before the engine starts)."""
    global _dir
    if _dir is None:
        _dir = tempfile.mkdtemp(prefix="pe-bench-probe-")
        atexit.register(shutil.rmtree, _dir, True)
        os.environ[_ENV_DIR] = _dir
        os.environ[_ENV_PID] = str(os.getpid())
    return _dir


def collect() -> int:
    """Move whatever workers recorded into the lists; returns how many entries arrived."""
    if _dir is None:
        return 0
    n = 0
    for ent in os.scandir(_dir):
        off = _offsets.get(ent.name, 0)
        try:
            size = ent.stat().st_size
        except FileNotFoundError:
            continue
        if size <= off:
            continue
        with open(ent.path, "rb") as f:
            f.seek(off)
            data = _partial.pop(ent.name, b"") + f.read(size - off)
        _offsets[ent.name] = size
        pos = 0
        while pos + 4 <= len(data):
            (k,) = _HEAD.unpack_from(data, pos)
            if pos + 4 + k > len(data):
                break
            kind, entry = pickle.loads(data[pos + 4:pos + 4 + k])
            _LISTS[kind].append(entry)
            pos += 4 + k
            n += 1
        if pos < len(data):
            _partial[ent.name] = data[pos:]
    return n
