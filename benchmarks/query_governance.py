"""How fast a stopped query gives its cores back.

An in-process QueryEngine over one table of 2,000 rows runs a three-way cross join (minutes of
work on every core). Each round lets it run for `--run` seconds, then stops it one way —
`QueryHandle.cancel()` from another thread (an HTTP client that hung up, a Flight cancel), or
its own `timeout` (`--query-timeout`) — and samples, every 2 ms, the run time of the DataFusion
runtime's threads (tokio workers, from /proc/self/task/*/schedstat, nanoseconds; the sampler's
own thread is not counted). The release time is how long after the stop those threads keep
running: from the stop to the last sample in which they ran more than 1 ms. Median and worst of
`--rounds` rounds per way.

Before this change the answer was "never": the 504 was sent, the query ran to its end.

    python benchmarks/query_governance.py [--rounds 5] [--run 0.5]

Ends with:
    RESULT query_cancel_release_ms <median> ms
    RESULT query_timeout_release_ms <median> ms
    RESULT query_cancel_release_worst_ms <worst> ms
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pe_engine.errors import QueryError  # noqa: E402
from pe_engine.lineprotocol.types import FieldType, ParsedTable  # noqa: E402
from pe_engine.storage.batch import to_record_batch  # noqa: E402
from pe_engine.storage.buffer import BufferStore  # noqa: E402
from pe_engine.storage.catalog import Catalog  # noqa: E402
from pe_engine.storage.query import QueryEngine  # noqa: E402
from pe_engine.storage.system_tables import SystemTables  # noqa: E402

SLOW = "SELECT count(*) AS n FROM t a CROSS JOIN t b CROSS JOIN t c WHERE a.v + b.v + c.v = -1"
BUSY_NS = 1_000_000  # a sample in which the runtime ran longer than this counts as busy
SAMPLE = 0.002


def runtime_ns() -> dict[str, int]:
    """Nanoseconds each of the process's tokio threads (DataFusion's work) has run so far."""
    out: dict[str, int] = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                if not f.read().startswith("tokio"):
                    continue
            with open(f"/proc/self/task/{task}/schedstat") as f:
                out[task] = int(f.read().split()[0])
        except (OSError, ValueError):
            continue  # a thread that just ended
    return out


def ran(before: dict[str, int], after: dict[str, int]) -> int:
    """Run time between two samples, over the threads in both (threads come and go)."""
    return sum(after[t] - before[t] for t in after.keys() & before.keys())


def engine(rows: int = 2000) -> QueryEngine:
    catalog, buffers = Catalog(), BufferStore()
    dbdef = catalog.create_db("db")
    pt = ParsedTable("t", rows, list(range(1, rows + 1)), list(range(1, rows + 1)),
                     {"k": [f"k{i % 7}" for i in range(rows)]}, {"v": (FieldType.INT, list(range(rows)))})
    plan = catalog.plan_write(dbdef, {"t": pt})
    catalog.apply_plan(dbdef, plan)
    buffers.table("db", "t").append(to_record_batch(dbdef.tables["t"], pt), 1)
    return QueryEngine(catalog, buffers, SystemTables())


def release_after(samples: list[tuple[float, dict[str, int]]], stop_at: float) -> float:
    """Seconds from `stop_at` to the last sample in which the runtime was busy."""
    last = stop_at
    for (_, c0), (t1, c1) in zip(samples, samples[1:]):
        if t1 > stop_at and ran(c0, c1) > BUSY_NS:
            last = t1
    return last - stop_at


def one_round(qe: QueryEngine, how: str, run: float) -> tuple[float, float]:
    """(release seconds, cores used while running) for one stopped query."""
    h = qe.governor.open("db", SLOW, timeout=run if how == "timeout" else None)
    errors: list[BaseException] = []

    def go() -> None:
        try:
            qe.execute("db", SLOW, handle=h)
        except QueryError as e:
            errors.append(e)

    t = threading.Thread(target=go)
    samples: list[tuple[float, dict[str, int]]] = []
    t0 = time.monotonic()
    t.start()
    stop_at = h.record.started + run
    stopped = False
    while time.monotonic() < stop_at + 1.5:
        now = time.monotonic()
        samples.append((now, runtime_ns()))
        if how == "cancel" and not stopped and now >= stop_at:
            h.cancel()
            stopped, stop_at = True, now
        time.sleep(SAMPLE)
    t.join(30)
    if t.is_alive() or not errors:
        raise SystemExit(f"FAIL: the {how} did not stop the query")
    busy = [(t1, c1) for t1, c1 in samples if t0 + 0.1 <= t1 <= stop_at]
    share = ran(busy[0][1], busy[-1][1]) / 1e9 / (busy[-1][0] - busy[0][0]) if len(busy) > 1 else 0.0
    return release_after(samples, stop_at), share


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--run", type=float, default=0.5, help="seconds a query runs before it is stopped")
    args = ap.parse_args()
    qe = engine()
    qe.execute("db", "SELECT count(*) FROM t")  # warm up
    results: dict[str, list[float]] = {"cancel": [], "timeout": []}
    for r in range(args.rounds):
        for how in ("cancel", "timeout"):
            release, share = one_round(qe, how, args.run)
            results[how].append(release * 1000)
            print(f"round {r + 1} {how:7}: {share:.2f} cores while running, released after {release * 1000:.1f} ms",
                  flush=True)
    for how in ("cancel", "timeout"):
        print(f"RESULT query_{how}_release_ms {statistics.median(results[how]):.1f} ms")
    print(f"RESULT query_cancel_release_worst_ms {max(results['cancel'] + results['timeout']):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
