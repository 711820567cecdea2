"""Start-up over a long history: 30 days of Parquet + 1 M rows in the WAL, and catalog rebuild.

Builds one data dir with `pe serve` (all on 127.0.0.1, temp dirs):

1. 30 days of cpu history ending now, 10 hosts, one point per host every --interval s,
   one HTTP body per 2.4 h of data, a snapshot every 2 flushes (as history_growth.py),
   then waits for compaction to settle (files per UTC day);
2. a restart without snapshots (`--snapshot-every-flushes 1e9`) that takes 1,000,000 more
   rows (200 bodies x 5,000 lines, 1,000 hosts, the last hour) into the WAL, then SIGKILL.

Then, best of --repeat, each on its own copy of that dir:

- start-up: a fresh `pe serve` (snapshots still off, so every run replays the same WAL)
  until it prints `pe serving on ...`, then the first `SELECT count(*) FROM cpu`
  (must be history + 1 M); and the same on an empty dir (interpreter + imports);
- catalog rebuild: the same after deleting `pe.sqlite` (and its -wal/-shm): start-up
  must rebuild the catalog from the Parquet metadata + WAL and answer the same count.
  If it does not (rows missing, files removed), that is printed as MISSING/LOST, not timed.

    python benchmarks/recovery_history.py --quick   # 5 min points (86 k rows of history) + 200 k WAL rows
    python benchmarks/recovery_history.py           # 10 s points (2.6 M rows) + 1 M WAL rows
    python benchmarks/recovery_history.py --full    # 1 s points (25.9 M rows) + 1 M WAL rows

Ends with RESULT recovery_history_start_s, recovery_history_first_count_s,
recovery_history_rebuild_start_s, recovery_history_rebuild_first_count_s, recovery_empty_start_s.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import history_growth as hg  # noqa: E402
import lpgen  # noqa: E402
import peers  # noqa: E402
from _harness import fail, log, run_main

DB = "bench"
LINES_PER_BODY = 5_000
NO_SNAPSHOT_ARGS = ["--snapshot-every-flushes", str(10**9), "--snapshot-max-buffer-rows", str(10**12)]
COUNT_SQL = "SELECT count(*) AS n FROM cpu"


def serve_env() -> dict:
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = str(peers.REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for k in ("PE_TOKEN", "PE_DATA_DIR", "PE_HTTP_BIND"):
        env.pop(k, None)
    return env


def start_and_count(data_dir: Path, timeout: float = 300.0) -> dict:
    """Start `pe serve` on data_dir; seconds to the ready line, then to the first count(*).

    Returns {ready, query, count, rc, log} (ready None if it never got ready)."""
    port = peers.free_port()
    cmd = [sys.executable, "-m", "pe_engine.cli", "serve", "--data-dir", str(data_dir),
           "--http-bind", f"127.0.0.1:{port}", "--without-auth", "--wal-flush-interval", "50ms",
           *NO_SNAPSHOT_ARGS]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=peers.REPO_ROOT, env=serve_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=peers._die_with_parent)
    ready = threading.Event()
    seen: list[str] = []
    at: dict = {}

    def drain() -> None:
        for line in proc.stderr:
            if peers.PE_READY in line and not ready.is_set():
                at["ready"] = time.perf_counter()
                ready.set()
            seen.append(line)
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    out = {"ready": None, "query": None, "count": None, "rc": None}
    try:
        ready.wait(timeout)
        if "ready" in at:
            out["ready"] = at["ready"] - t0
            q = urllib.parse.urlencode({"db": DB, "q": COUNT_SQL, "format": "json"})
            t1 = time.perf_counter()
            status, _, text = peers.http("GET", f"http://127.0.0.1:{port}/api/v3/query_sql?{q}", timeout=300)
            out["query"] = time.perf_counter() - t1
            if status == 200:
                rows = json.loads(text)
                out["count"] = int(rows[0]["n"]) if rows else 0
            else:
                out["error"] = f"HTTP {status} {text[:300]!r}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out["rc"] = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out["rc"] = proc.wait()
        time.sleep(0.2)
        out["log"] = "".join(seen)
    return out


def summary(data_dir: Path) -> str:
    wal = list((data_dir / "wal").glob("*"))
    pq = list((data_dir / "parquet").rglob("*.parquet"))
    size = sum(p.stat().st_size for p in pq) / 2**20
    return f"{len(pq)} Parquet file(s) ({size:.0f} MiB), {len(wal)} WAL segment(s)"


def build(tmp: Path, args, interval: float) -> tuple[Path, int]:
    pe_args = ["--wal-flush-interval", "10ms", "--snapshot-every-flushes", "2",
               "--snapshot-max-buffer-rows", str(10**9)]
    peer = peers.start_pe(tmp / "build", pe_args)
    data_dir = Path(peer.info["data_dir"])
    end_ns = time.time_ns() // 10**9 * 10**9 - 3600 * 10**9  # history ends an hour ago; the WAL rows follow
    origin_ns = end_ns - (args.days + 1) * hg.DAY_NS
    origin_ns -= origin_ns % (3600 * 10**9)
    ld = hg.write_history(peer, end_ns, origin_ns, args.days, interval, args.hosts)
    log(f"history: {ld['rows']:,} rows in {ld['bodies']} bodies in {ld['wall_s']:.1f}s")
    days, total = hg.wait_compaction(data_dir, args.compaction_wait)
    log(f"  after compaction wait: {total} Parquet file(s), max {max(days.values()) if days else 0} per UTC day")
    peer.stop()
    peer.log_path.rename(peer.log_path.with_suffix(".1.log"))  # start_pe waits for a ready line in a fresh log

    peer = peers.start_pe(tmp / "build", ["--wal-flush-interval", "50ms", *NO_SNAPSHOT_ARGS])
    url = f"{peer.base_url}/api/v3/write_lp?db={DB}&precision=nanosecond"
    bodies = lpgen.bodies(args.wal_rows // LINES_PER_BODY, LINES_PER_BODY, start_ns=end_ns + 10**9, hosts=1000)

    def post(body: bytes) -> None:
        status, _, text = peers.http("POST", url, body, timeout=300)
        if status != 204:
            fail(f"WAL load: HTTP {status} {text[:300]!r}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(post, bodies))
    log(f"WAL: {args.wal_rows:,} rows in {time.perf_counter() - t0:.1f}s, then SIGKILL")
    q = urllib.parse.urlencode({"db": DB, "q": COUNT_SQL, "format": "json"})
    status, _, text = peers.http("GET", f"{peer.base_url}/api/v3/query_sql?{q}", timeout=300)
    expect = int(json.loads(text)[0]["n"]) if status == 200 else None
    if expect != ld["rows"] + args.wal_rows:
        fail(f"count(*) before the kill = {expect}, expected {ld['rows'] + args.wal_rows}")
    peer.proc.send_signal(signal.SIGKILL)
    peer.proc.wait(30)
    peer.stop()
    return data_dir, expect


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--interval", type=float, default=None)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--wal-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compaction-wait", type=float, default=120.0)
    args = ap.parse_args(argv)
    interval = args.interval or (300.0 if args.quick else 1.0 if args.full else 10.0)
    if args.quick:
        args.wal_rows = min(args.wal_rows, 200_000)
        args.repeat = min(args.repeat, 2)
        args.compaction_wait = min(args.compaction_wait, 60.0)
    if args.wal_rows % LINES_PER_BODY:
        fail(f"--wal-rows must be a multiple of {LINES_PER_BODY}")
    from ingest import busy_check
    log(f"recovery over history: {args.days} days, {args.hosts} hosts every {interval:g}s + {args.wal_rows:,} "
        f"WAL rows; machine shared with other work; {busy_check()}")
    tmp = peers.make_tmpdir("pe-bench-recovery-history-")
    src, expect = build(tmp, args, interval)
    log(f"data dir: {summary(src)}; expected count(*) {expect:,}")

    empty = [start_and_count(tmp / f"empty{i}") for i in range(args.repeat)]
    base = min(r["ready"] for r in empty if r["ready"] is not None)
    log(f"empty data dir: ready after {base:.3f}s (best of {args.repeat})")

    results = {}
    missing = []
    for case in ("start", "rebuild"):
        runs = []
        for i in range(args.repeat):
            d = tmp / f"{case}{i}" / "data"
            shutil.copytree(src, d)
            (d / "LOCK").unlink(missing_ok=True)
            n_files = len(list((d / "parquet").rglob("*.parquet")))
            if case == "rebuild":
                for name in ("pe.sqlite", "pe.sqlite-wal", "pe.sqlite-shm"):
                    (d / name).unlink(missing_ok=True)
            r = start_and_count(d)
            left = len(list((d / "parquet").rglob("*.parquet")))
            moved = len(list(d.rglob("*.parquet"))) - left
            log(f"  {case} run {i + 1}: ready {r['ready'] if r['ready'] is None else round(r['ready'], 3)}s, "
                f"first count(*) {r['query'] if r['query'] is None else round(r['query'], 3)}s = "
                f"{r['count'] if r['count'] is None else format(r['count'], ',')}; exit {r['rc']}; "
                f"Parquet files {n_files} -> {left} under parquet/ ({moved} elsewhere)")
            for ln in r["log"].splitlines():
                if "WAL replay:" in ln:
                    log(f"    log: {ln.strip()[:200]}")
            if case == "rebuild" and i == 0:
                loud = [ln.rstrip() for ln in r["log"].splitlines()
                        if any(w in ln for w in ("WARN", "ERROR", "rebuil", "orphan", "recover"))]
                for ln in loud[:8]:
                    log(f"    log: {ln[:200]}")
            if r["count"] != expect:
                what = (f"count(*) = {r['count']} instead of {expect}" if r["ready"] is not None
                        else f"never got ready (exit {r['rc']}): {r['log'][-500:]}")
                if case == "start":
                    fail(f"start-up: {what}")
                missing.append(f"catalog rebuild: after deleting pe.sqlite, {what}; "
                               f"{n_files - left} Parquet file(s) gone from parquet/")
                break
            runs.append(r)
            shutil.rmtree(d.parent, ignore_errors=True)
        if runs:
            results[case] = (min(r["ready"] for r in runs), min(r["query"] for r in runs))
            log(f"{case}: best ready {results[case][0]:.3f}s ({results[case][0] - base:+.3f}s vs empty), "
                f"best first count(*) {results[case][1]:.3f}s")
    for m in missing:
        log(f"MISSING/LOST: {m}")
    log(f"RESULT recovery_empty_start_s {base:.3f} s")
    if "start" in results:
        log(f"RESULT recovery_history_start_s {results['start'][0]:.3f} s")
        log(f"RESULT recovery_history_first_count_s {results['start'][1]:.3f} s")
    if "rebuild" in results:
        log(f"RESULT recovery_history_rebuild_start_s {results['rebuild'][0]:.3f} s")
        log(f"RESULT recovery_history_rebuild_first_count_s {results['rebuild'][1]:.3f} s")
    return 0


if __name__ == "__main__":
    run_main(main)
