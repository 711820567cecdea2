"""Benchmark plugin: sums usage_user with pyarrow.compute over each batch's Arrow data (pe extension)."""
from time import perf_counter

import pyarrow.compute as pc

import bench_probe


def process_writes(influxdb3_local, table_batches, args=None):
    t0 = perf_counter()
    total = 0.0
    n = 0
    for tb in table_batches:
        batch = tb["arrow"]
        total += pc.sum(batch.column("usage_user")).as_py() or 0.0
        n += batch.num_rows
    bench_probe.record("sums", ("arrow", t0, perf_counter(), total, n))
