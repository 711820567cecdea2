"""What the value caches cost on the write path.

The same line protocol (default 500,000 cpu rows, 1,000 hosts x 10 regions, bodies of 10,000
lines, each acknowledged after its own WAL flush) is written into fresh in-process engines:
one without caches, one with an LVC on `host` (count 1), and one with that LVC plus an LVC on
`host` with count 5 and a DVC on (region, host). The time spent inside `ValueCaches.apply` (called by every WAL flush) is
measured directly, and the wall time of both ingests is compared (best of 3 runs each).

    python benchmarks/value_cache_ingest.py [--rows N]

Ends with:
    RESULT value_cache_apply_us_per_row <us> us                (three caches)
    RESULT value_cache_apply_ms_per_10k_batch <ms> ms          (three caches)
    RESULT value_cache_apply_one_lvc_us_per_row <us> us
    RESULT value_cache_ingest_overhead_one_lvc_pct <pct> %
    RESULT value_cache_ingest_overhead_pct <pct> %             (three caches)
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pe_engine.config import EngineConfig  # noqa: E402
from pe_engine.engine import Engine  # noqa: E402

BODY = 10_000
HOSTS = 1_000


def bodies(rows: int) -> list[str]:
    rnd = random.Random(3)
    start = time.time_ns() - rows * 1_000_000
    out = []
    for base in range(0, rows, BODY):
        out.append("\n".join(
            f"cpu,host=host-{h:04d},region=r{h % 10} usage_user={rnd.random() * 100:.3f},"
            f"usage_idle={rnd.random() * 100:.3f},n={rnd.randrange(100)}i {start + (base + i) * 1_000_000}"
            for i, h in ((i, rnd.randrange(HOSTS)) for i in range(min(BODY, rows - base)))
        ))
    return out


async def ingest(data: list[str], caches: str) -> tuple[float, float, int]:
    tmp = Path(tempfile.mkdtemp(prefix="pe-vc-ingest-"))
    try:
        e = Engine(EngineConfig(data_dir=tmp, wal_flush_interval=0.002, snapshot_max_buffer_rows=10**8))
        await e.start()
        spent = [0.0, 0]
        try:
            await e.write_lp("bench", "cpu,host=h,region=r usage_user=0,usage_idle=0,n=0i 1")
            if caches in ("one", "three"):
                await e.value_caches.create_last_cache("bench", "cpu", key_columns=["host"])
            if caches == "three":
                await e.value_caches.create_last_cache("bench", "cpu", name="five", key_columns=["host"], count=5)
                await e.value_caches.create_distinct_cache("bench", "cpu", columns=["region", "host"])
            inner = e.value_caches.apply

            def timed(per_db):
                t = time.perf_counter()
                inner(per_db)
                spent[0] += time.perf_counter() - t
                spent[1] += 1

            e.value_caches.apply = timed  # the writer calls value_caches.on_flush, which calls apply(per_db)
            t0 = time.perf_counter()
            for body in data:
                r = await e.write_lp("bench", body)
                if r.errors:
                    raise SystemExit(f"FAIL: rejected lines: {r.errors[:2]}")
            wall = time.perf_counter() - t0
            if caches == "three":
                n = e.query_sync("bench", "SELECT count(*) AS n FROM last_cache('cpu', 'five')").column("n")[0].as_py()
                if n != HOSTS * 5:
                    raise SystemExit(f"FAIL: LVC(count=5) holds {n} rows, expected {HOSTS * 5}")
        finally:
            await e.stop()
        return wall, spent[0], spent[1]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def main(rows: int) -> int:
    data = bodies(rows)
    plain = min([await ingest(data, "none") for _ in range(3)], key=lambda r: r[0])
    one = min([await ingest(data, "one") for _ in range(3)], key=lambda r: r[0])
    cached = min([await ingest(data, "three") for _ in range(3)], key=lambda r: r[0])
    print(f"without caches: {plain[0]:.2f} s for {rows:,} rows ({rows / plain[0]:,.0f} rows/s)")
    print(f"with 1 LVC (host, count 1): {one[0]:.2f} s ({rows / one[0]:,.0f} rows/s); "
          f"{one[1] * 1000:.1f} ms inside ValueCaches.apply over {one[2]} flushes")
    print(f"with 2 LVC + 1 DVC: {cached[0]:.2f} s ({rows / cached[0]:,.0f} rows/s); "
          f"{cached[1] * 1000:.1f} ms inside ValueCaches.apply over {cached[2]} flushes")
    per_row_us = cached[1] / rows * 1e6
    per_batch_ms = cached[1] / max(1, cached[2]) * 1000
    overhead = (cached[0] - plain[0]) / plain[0] * 100
    print(f"RESULT value_cache_apply_us_per_row {per_row_us:.2f} us")
    print(f"RESULT value_cache_apply_ms_per_10k_batch {per_batch_ms:.2f} ms")
    print(f"RESULT value_cache_apply_one_lvc_us_per_row {one[1] / rows * 1e6:.2f} us")
    print(f"RESULT value_cache_ingest_overhead_one_lvc_pct {(one[0] - plain[0]) / plain[0] * 100:.1f} %")
    print(f"RESULT value_cache_ingest_overhead_pct {overhead:.1f} %")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=500_000)
    sys.exit(asyncio.run(main(ap.parse_args().rows)))
