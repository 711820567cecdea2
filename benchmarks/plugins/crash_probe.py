"""Benchmark plugin (process isolation only): records its entry like noop_probe.py and, when the
batch's first row has a true `crash` field and the trigger argument `may_crash` is "1", holds
for `hold` seconds (so the next flush queues behind it), records the moment, and segfaults
with `ctypes.string_at(0)`.
"""
import ctypes
import os
from time import perf_counter, sleep

import bench_probe


def process_writes(influxdb3_local, table_batches, args=None):
    t = perf_counter()
    args = args or {}
    k, crash = None, False
    for tb in table_batches:
        arrow = tb["arrow"]
        if arrow.num_rows and "k" in arrow.schema.names:
            k = arrow.column("k")[0].as_py()
            crash = "crash" in arrow.schema.names and bool(arrow.column("crash")[0].as_py())
            break
    i = args.get("i")
    bench_probe.record("wal", (i, t, k))
    if crash and args.get("may_crash") == "1":
        sleep(float(args.get("hold", "0.1")))
        bench_probe.record("extra", ("crash", i, k, perf_counter(), os.getpid()))
        ctypes.string_at(0)
