"""Benchmark plugin: sums usage_user over the Python rows of each table batch (InfluxDB 3 style)."""
from time import perf_counter

import bench_probe


def process_writes(influxdb3_local, table_batches, args=None):
    t0 = perf_counter()
    total = 0.0
    n = 0
    for tb in table_batches:
        rows = tb["rows"]
        total += sum(r["usage_user"] for r in rows)
        n += len(rows)
    bench_probe.record("sums", ("rows", t0, perf_counter(), total, n))
