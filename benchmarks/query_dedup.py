"""Query cost of duplicates: GROUP BY host over 1 M points, with and without overlapping files.

Two in-process Engines on fresh data dirs, both written with the same 1,000,000 cpu
points (benchmarks/lpgen.py: 1,000 hosts, 3 tags, 5 fields, distinct timestamps):

- once:  the points written once, then a Parquet snapshot (1 file);
- twice: the same points written, snapshotted, then written again with every field
         changed (another random seed, same series and timestamps), snapshotted again:
         two Parquet files that overlap point for point, so the query has to merge them
         and keep the later value of each field.

Then ABBA-interleaved rounds of

    SELECT host, avg(usage_user) FROM cpu GROUP BY host

(and `count(*)`) through Engine.query, min and median each, and twice/once (the cost of
dedup at query time). Checks: `count(*)` must be 1,000,000 on both (pe keeping both copies
shows as MISSING: dedup), and the twice engine's averages must be those of the second write.
If background compaction merges the two files before the timing, the script says so
(then "twice" measures compacted data); `--engine-option NAME=VALUE` passes EngineConfig
fields (e.g. a compaction switch, once pe has one).

    python benchmarks/query_dedup.py            # 1 M points, 10 rounds
    python benchmarks/query_dedup.py --quick    # 200 k points, 5 rounds

Ends with RESULT query_dedup_groupby_{once,twice}_ms, query_dedup_groupby_ratio,
query_dedup_count_{once,twice}_ms, query_dedup_count_ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import lpgen  # noqa: E402
import peers  # noqa: E402

from pe_engine.config import EngineConfig  # noqa: E402
from pe_engine.engine import Engine  # noqa: E402
from _harness import fail, log

DB = "bench"
LINES_PER_BODY = 5_000
HOSTS = 1_000
GROUPBY_SQL = "SELECT host, avg(usage_user) AS u FROM cpu GROUP BY host ORDER BY host"
COUNT_SQL = "SELECT count(*) AS n FROM cpu"


def parse_option(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(EngineConfig)}
    if name not in fields:
        raise argparse.ArgumentTypeError(f"EngineConfig has no field {name!r} (has: {', '.join(fields)})")
    v: object = value
    for conv in (int, float):
        try:
            v = conv(value)
            break
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        v = value.lower() == "true"
    return name, v


def served_files(eng) -> int:
    """Files queries read (compaction's replaced files may wait on disk for their deletion)."""
    return sum(len(td.files) for td in eng.buffers.dbs.get(DB, {}).values())


def parquet_files(data_dir: Path) -> int:
    return len(list((data_dir / "parquet").rglob("*.parquet")))


async def write(eng: Engine, bodies: list[bytes]) -> None:
    sem = asyncio.Semaphore(4)

    async def one(b: bytes) -> None:
        async with sem:
            r = await eng.write_lp(DB, b, precision="ns")
            if r.errors:
                fail(f"write rejected lines: {r.errors[:3]}")

    await asyncio.gather(*(one(b) for b in bodies))
    await eng.flush()
    await eng.snapshot()


async def timed(eng: Engine, sql: str):
    t0 = time.perf_counter()
    t = await eng.query(DB, sql)
    return (time.perf_counter() - t0) * 1000, t


async def run(args) -> int:
    n_bodies = args.rows // LINES_PER_BODY
    start_ns = lpgen.default_start_ns()
    t0 = time.perf_counter()
    first = lpgen.bodies(n_bodies, LINES_PER_BODY, start_ns=start_ns, hosts=HOSTS, seed=0)
    second = lpgen.bodies(n_bodies, LINES_PER_BODY, start_ns=start_ns, hosts=HOSTS, seed=1)
    log(f"generated 2 x {args.rows:,} lines (same series and timestamps, other field values) "
        f"in {time.perf_counter() - t0:.1f}s")
    tmp = peers.make_tmpdir("pe-bench-query-dedup-")
    opts = dict(args.engine_option or [])
    engines: dict[str, Engine] = {}
    dirs: dict[str, Path] = {}
    try:
        for label in ("once", "twice"):
            dirs[label] = tmp / label
            cfg = EngineConfig(data_dir=dirs[label], wal_flush_interval=0.01, snapshot_every_flushes=10**9,
                               snapshot_max_buffer_rows=10**12, **opts)
            eng = Engine(cfg)
            await eng.start()
            engines[label] = eng
            t0 = time.perf_counter()
            await write(eng, first)
            if label == "twice":
                await write(eng, second)
            log(f"{label}: written and snapshotted in {time.perf_counter() - t0:.1f}s; "
                f"{parquet_files(dirs[label])} Parquet file(s), {eng.buffers.rows_in_memory()} rows in memory")

        missing = []
        n_once = (await engines["once"].query(DB, COUNT_SQL)).column("n")[0].as_py()
        n_twice = (await engines["twice"].query(DB, COUNT_SQL)).column("n")[0].as_py()
        log(f"count(*): once {n_once:,}, twice {n_twice:,} (expected {args.rows:,} each)")
        if n_once != args.rows:
            fail(f"once: count(*) = {n_once}, expected {args.rows}")
        if n_twice == 2 * args.rows:
            missing.append("dedup: the twice engine keeps both copies of every point (count(*) = 2x)")
        elif n_twice != args.rows:
            fail(f"twice: count(*) = {n_twice}, expected {args.rows}")
        else:
            # the later write must win: averages per host from the second write's values
            expect: dict[str, list[float]] = {}
            for body in second:
                for line in body.decode().splitlines():
                    key, fields, _ = line.split(" ")
                    host = key.split(",")[1].split("=")[1]
                    u = float(fields.split(",")[0].split("=")[1])
                    expect.setdefault(host, []).append(u)
            got = (await engines["twice"].query(DB, GROUPBY_SQL)).to_pydict()
            bad = [h for h, u in zip(got["host"], got["u"])
                   if abs(u - statistics.fmean(expect[h])) > 1e-6 * max(1.0, abs(u))]
            if bad:
                fail(f"twice: avg(usage_user) is not the later write's for {len(bad)} host(s), e.g. {bad[:3]}")
            log("twice: every host's avg(usage_user) is the second write's (later write wins)")

        files_before = {lb: parquet_files(d) for lb, d in dirs.items()}
        served_before = {lb: served_files(eng) for lb, eng in engines.items()}
        times = {(lb, q): [] for lb in engines for q in ("groupby", "count")}
        for lb, eng in engines.items():  # warm-up
            for q, sql in (("groupby", GROUPBY_SQL), ("count", COUNT_SQL)):
                ms, _ = await timed(eng, sql)
                log(f"  first {q} on {lb}: {ms:.1f} ms")
        deadline = time.monotonic() + 600
        for r in range(args.rounds):
            for lb in ("once", "twice", "twice", "once"):
                for q, sql in (("groupby", GROUPBY_SQL), ("count", COUNT_SQL)):
                    ms, t = await timed(engines[lb], sql)
                    if q == "groupby" and t.num_rows != HOSTS:
                        fail(f"{lb}: GROUP BY host gave {t.num_rows} rows")
                    times[(lb, q)].append(ms)
            if time.monotonic() > deadline:
                log(f"  (stopping after {r + 1} rounds: 10 min bound)")
                break
        files_after = {lb: parquet_files(d) for lb, d in dirs.items()}
        served_after = {lb: served_files(eng) for lb, eng in engines.items()}
        log(f"Parquet files on disk before/after the timing: {files_before} / {files_after}; "
            f"served (queries read): {served_before} / {served_after}")
        if served_after["twice"] < 2 or served_before["twice"] < 2:
            log("  note: the twice engine had fewer than 2 files during the timing (compacted?): "
                "'twice' then measures compacted data, not overlapping files")
        res = {}
        for q in ("groupby", "count"):
            for lb in engines:
                ts = times[(lb, q)]
                res[(lb, q)] = (min(ts), statistics.median(ts))
                log(f"  {q:8s} {lb:>5s}: min {min(ts):7.1f} ms  median {statistics.median(ts):7.1f} ms  "
                    f"max {max(ts):7.1f} ms  (n={len(ts)})")
        for m in missing:
            log(f"MISSING: {m}")
        for q in ("groupby", "count"):
            for lb in engines:
                log(f"RESULT query_dedup_{q}_{lb}_ms {res[(lb, q)][1]:.1f} ms")
            log(f"RESULT query_dedup_{q}_ratio {res[('twice', q)][1] / res[('once', q)][1]:.3f} ratio")
        return 0
    finally:
        for eng in engines.values():
            await eng.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="points (multiple of 5,000)")
    ap.add_argument("--rounds", type=int, default=10, help="ABBA rounds (default 10)")
    ap.add_argument("--quick", action="store_true", help="200 k points, 5 rounds")
    ap.add_argument("--engine-option", type=parse_option, action="append", metavar="NAME=VALUE",
                    help="an EngineConfig field for both engines (repeatable)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows = min(args.rows, 200_000)
        args.rounds = min(args.rounds, 5)
    if args.rows % LINES_PER_BODY:
        fail(f"--rows must be a multiple of {LINES_PER_BODY}")
    from ingest import busy_check
    log(f"query dedup: {args.rows:,} points, GROUP BY host, once vs written twice (two overlapping "
        f"Parquet files); machine shared with other work; {busy_check()}")
    return asyncio.run(run(args))


if __name__ == "__main__":
    import os
    import traceback
    try:
        rc = main()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        rc = 130
    except Exception:  # an engine that fails to start can leave threads behind: do not hang on them
        traceback.print_exc()
        print("\nFAIL: see the traceback above", file=sys.stderr, flush=True)
        rc = 1
    sys.stdout.flush()
    peers._stop_all()
    os._exit(rc)
