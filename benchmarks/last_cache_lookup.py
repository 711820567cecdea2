"""Last Values Cache vs plain SQL: the latest row of each of 1,000 hosts over 1,000,000 rows.

An in-process Engine ingests 1,000,000 cpu rows (1,000 hosts, 3 float fields, timestamps within
the last ~17 minutes so the 4 h TTL keeps them) through the real write path (line protocol ->
WAL -> buffers), with an LVC keyed on `host` that every WAL flush updates. Then, in the same
run and through the same QueryEngine.execute:

- cache:  SELECT * FROM last_cache('cpu')
- plain:  the fastest of three SQL forms of the same question (DISTINCT ON, row_number() window,
          GROUP BY max(time) joined back), all over the table in memory;

and the single-host lookup (`WHERE host = 'host-0042'` vs `ORDER BY time DESC LIMIT 1`). Each
query: one warm-up, best of 7. Results are checked to be the same rows.

    python benchmarks/last_cache_lookup.py [--rows N] [--hosts N]

Ends with:
    RESULT last_cache_all_hosts_ms <ms> ms
    RESULT plain_sql_all_hosts_ms <ms> ms
    RESULT last_cache_speedup <x> ratio          (target >= 20)
    RESULT last_cache_one_host_ms <ms> ms
    RESULT last_cache_one_host_speedup <x> ratio
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

PLAIN = {
    "distinct_on": "SELECT DISTINCT ON (host) * FROM cpu ORDER BY host, time DESC",
    "row_number": ("SELECT host, usage_user, usage_system, usage_idle, time FROM (SELECT *, row_number() "
                   "OVER (PARTITION BY host ORDER BY time DESC) AS rn FROM cpu) WHERE rn = 1"),
    "group_join": ("SELECT c.host, c.usage_user, c.usage_system, c.usage_idle, c.time FROM cpu c JOIN "
                   "(SELECT host, max(time) AS t FROM cpu GROUP BY host) m ON c.host = m.host AND c.time = m.t"),
}
CACHE = "SELECT * FROM last_cache('cpu')"
ONE_CACHE = "SELECT * FROM last_cache('cpu') WHERE host = 'host-0042'"
ONE_PLAIN = "SELECT * FROM cpu WHERE host = 'host-0042' ORDER BY time DESC LIMIT 1"
BODY_LINES = 20_000


def best_of(engine: Engine, sql: str, n: int = 7) -> tuple[float, object]:
    result = engine.query_sync("bench", sql)  # warm-up (registration, first decode)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        result = engine.query_sync("bench", sql)
        times.append((time.perf_counter() - t) * 1000)
    return min(times), result


def canon(table) -> list[tuple]:
    cols = ["host", "usage_user", "usage_system", "usage_idle", "time"]
    t = table.select(cols)
    t = t.set_column(4, "time", t.column("time").cast("int64"))
    return sorted(zip(*(t.column(c).to_pylist() for c in cols)))


async def main(rows: int, hosts: int) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pe-lvc-bench-"))
    try:
        engine = Engine(EngineConfig(data_dir=tmp, wal_flush_interval=0.01, snapshot_max_buffer_rows=10 * rows))
        await engine.start()
        try:
            await engine.write_lp("bench", "cpu,host=host-0000 usage_user=0,usage_system=0,usage_idle=0 1")
            await engine.value_caches.create_last_cache("bench", "cpu", key_columns=["host"])
            rnd = random.Random(7)
            start = time.time_ns() - rows * 1_000_000
            t0 = time.perf_counter()
            for base in range(0, rows, BODY_LINES):
                lines = [
                    f"cpu,host=host-{rnd.randrange(hosts):04d} usage_user={rnd.random() * 100:.3f},"
                    f"usage_system={rnd.random() * 100:.3f},usage_idle={rnd.random() * 100:.3f} "
                    f"{start + (base + i) * 1_000_000}"
                    for i in range(min(BODY_LINES, rows - base))
                ]
                r = await engine.write_lp("bench", "\n".join(lines))
                if r.errors:
                    print(f"FAIL: write rejected lines: {r.errors[:3]}")
                    return 1
            ingest = time.perf_counter() - t0
            print(f"ingested {rows:,} rows ({hosts} hosts) in {ingest:.1f} s through the write path, LVC on host")

            cache_ms, cached = best_of(engine, CACHE)
            print(f"{'last_cache':<14} {cache_ms:9.2f} ms  ({cached.num_rows} rows)")
            plain: dict[str, float] = {}
            expected = canon(cached)
            for name, sql in PLAIN.items():
                ms, result = best_of(engine, sql, n=5)
                plain[name] = ms
                same = canon(result) == expected
                print(f"{name:<14} {ms:9.2f} ms  ({result.num_rows} rows){'' if same else '  MISMATCH'}")
                if not same:
                    print(f"FAIL: plain SQL form {name} disagrees with the cache")
                    return 1
            if cached.num_rows != hosts:
                print(f"FAIL: expected {hosts} rows from the cache, got {cached.num_rows}")
                return 1
            best_name = min(plain, key=plain.get)
            plain_ms = plain[best_name]
            one_cache_ms, one_c = best_of(engine, ONE_CACHE)
            one_plain_ms, one_p = best_of(engine, ONE_PLAIN, n=5)
            if canon(one_c) != canon(one_p):
                print("FAIL: single-host lookup differs between cache and SQL")
                return 1
            print(f"one host: last_cache {one_cache_ms:.2f} ms, plain SQL {one_plain_ms:.2f} ms")
        finally:
            await engine.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    speedup = plain_ms / cache_ms
    print(f"fastest plain SQL: {best_name}; speedup {speedup:.1f}x (target >= 20x)")
    print(f"RESULT last_cache_all_hosts_ms {cache_ms:.2f} ms")
    print(f"RESULT plain_sql_all_hosts_ms {plain_ms:.2f} ms")
    print(f"RESULT last_cache_speedup {speedup:.1f} ratio")
    print(f"RESULT last_cache_one_host_ms {one_cache_ms:.2f} ms")
    print(f"RESULT last_cache_one_host_speedup {one_plain_ms / one_cache_ms:.1f} ratio")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--hosts", type=int, default=1_000)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.rows, a.hosts)))
