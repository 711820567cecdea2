"""WAL microbenchmark: is append dominated by the disk, and is replay cheap?

Prints append time split into encode / write / fsync for a ~300k-row record, and
replay time for 1M rows (50 records x 20k rows; 3 dictionary tags, 5 fields, time).
Run: PYTHONPATH=. python benchmarks/wal_append.py [--dir DIR]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from pe_engine.storage import wal as walmod
from pe_engine.storage.wal import Wal, WalEntry, WalRecord

TAG = pa.dictionary(pa.int32(), pa.string())


def make_batch(rows: int, seed: int) -> pa.RecordBatch:
    rng = random.Random(seed)
    hosts = [f"host{i}" for i in range(100)]
    regions = ["us-east", "us-west", "eu-central", "ap-south"]
    cpus = [f"cpu{i}" for i in range(16)]
    cols = {
        "host": pa.array([rng.choice(hosts) for _ in range(rows)]).dictionary_encode(),
        "region": pa.array([rng.choice(regions) for _ in range(rows)]).dictionary_encode(),
        "cpu": pa.array([rng.choice(cpus) for _ in range(rows)]).dictionary_encode(),
        "usage_user": pa.array([rng.random() for _ in range(rows)], pa.float64()),
        "usage_system": pa.array([rng.random() for _ in range(rows)], pa.float64()),
        "count": pa.array([rng.randrange(1 << 40) for _ in range(rows)], pa.int64()),
        "bytes": pa.array([rng.randrange(1 << 60) for _ in range(rows)], pa.uint64()),
        "ok": pa.array([rng.random() < 0.5 for _ in range(rows)], pa.bool_()),
        "time": pa.array(range(1_700_000_000_000_000_000, 1_700_000_000_000_000_000 + rows), pa.timestamp("ns")),
    }
    return pa.RecordBatch.from_pydict(cols)


def bench(directory: Path) -> None:
    wal = Wal(directory / "append")
    wal.open_for_append()
    tables = [make_batch(100_000, s) for s in range(3)]  # 300k rows in one record
    nbytes = sum(b.nbytes for b in tables)
    for seq in range(1, 4):
        entries = [WalEntry("1", "db", f"t{i}", b) for i, b in enumerate(tables)]
        t0 = time.perf_counter()
        frame = walmod._encode(WalRecord(seq, entries), b"")
        t1 = time.perf_counter()
        n = wal.append(WalRecord(seq, entries))
        t2 = time.perf_counter()
        print(
            f"append 300k rows ({nbytes / 2**20:.1f} MiB arrow, {n / 2**20:.1f} MiB frame): "
            f"encode {1e3 * (t1 - t0):.1f} ms, encode+write+fsync {1e3 * (t2 - t1):.1f} ms"
        )
        del frame
    wal.close()

    wal = Wal(directory / "replay")
    wal.open_for_append()
    batch = make_batch(20_000, 7)
    for seq in range(1, 51):
        wal.append(WalRecord(seq, [WalEntry("1", "db", "cpu", batch)]), sync=False)
    wal.close()
    for _ in range(3):
        t0 = time.perf_counter()
        w2 = Wal(directory / "replay")
        rows = sum(e.batch.num_rows for r in w2.replay() for e in r.entries)
        dt = time.perf_counter() - t0
        print(f"replay {rows} rows from {w2.size_bytes / 2**20:.1f} MiB: {1e3 * dt:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", help="directory on the disk to measure (default: a temp dir)")
    args = ap.parse_args()
    if args.dir:
        bench(Path(args.dir))
    else:
        with tempfile.TemporaryDirectory() as d:
            bench(Path(d))


if __name__ == "__main__":
    main()
