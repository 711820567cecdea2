"""Benchmark plugin: records the moment it is entered, does nothing else.

WAL trigger: appends (args["i"], perf_counter at entry, value of the `k` field of the first
row) to bench_probe.wal_entries. Schedule trigger: appends (args["i"], time.time() and
perf_counter() at entry, the call time as epoch seconds) to bench_probe.schedule_entries.
The clock is read first thing; everything after it is outside the measured latency.
"""
from time import perf_counter, time

import bench_probe


def process_writes(influxdb3_local, table_batches, args=None):
    t = perf_counter()
    k = None
    for tb in table_batches:
        arrow = tb["arrow"]
        if "k" in arrow.schema.names and arrow.num_rows:
            k = arrow.column("k")[0].as_py()
            break
    bench_probe.record("wal", (args.get("i") if args else None, t, k))


def process_scheduled_call(influxdb3_local, call_time, args=None):
    w, t = time(), perf_counter()
    bench_probe.record("schedule", (args.get("i") if args else None, w, t, call_time.timestamp()))
