"""History growth: does a last-hour query slow down as history piles up?

Two `pe serve` processes on fresh data dirs, written the same way, one after the other:

- A: 1 day of history ending now;
- B: 30 days of history ending now (the last day is line for line the same as A's).

Both get 10 hosts of cpu lines (benchmarks/lpgen.py, 3 tags, 5 fields), one point per
host every --interval seconds, written in time order as one HTTP body per 2.4 h of data
(`/api/v3/write_lp`, default durability, `--wal-flush-interval 10ms`, so one body = one
WAL flush) with `--snapshot-every-flushes 2` (a Parquet snapshot every 4.8 h of data).
`--full` is the issue's scale: a point per host per second, 25.9 M rows over 30 days.

Then, with both servers up, ABBA-interleaved rounds (A B B A) of

    SELECT host, avg(usage_user) FROM cpu WHERE time >= now() - interval '1 hour' GROUP BY host
    SELECT count(*) FROM cpu WHERE time >= now() - interval '1 hour'

over `/api/v3/query_sql` (JSON), min and median per server, and the 30d / 1d ratio
(aim <= 1.2). It also counts, from each Parquet file's own time statistics, how many
files overlap each UTC day after the compaction wait (aim <= 1 file per partition-day),
and samples the servers' RSS (psutil) against `--parquet-mem-cache-size` when pe has it.

What pe does not have yet is printed as MISSING and the run goes on without it
(e.g. no `--parquet-mem-cache-size` flag: no budget, RSS is still reported).

    python benchmarks/history_growth.py --quick      # 5 min points: 86 k rows, ~1 min
    python benchmarks/history_growth.py              # 10 s points: 2.6 M rows, a few minutes
    python benchmarks/history_growth.py --full       # 1 s points: 25.9 M rows (the issue's)
    python benchmarks/history_growth.py --cache-size 256MiB --rounds 20

Ends with RESULT lines history_lasthour_{groupby,count}_{1d,30d}_ms, ..._ratio,
history_files_per_partition_day_max, history_rss_{1d,30d}_mb, history_cache_budget_mb.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lpgen  # noqa: E402
import peers  # noqa: E402
from _harness import fail, log, run_main

DB = "bench"
HOSTS = 10
DAY_NS = 86_400 * 10**9
BATCH_NS = int(2.4 * 3600) * 10**9  # 2.4 h of data per body
GROUPBY_SQL = ("SELECT host, avg(usage_user) AS u FROM cpu WHERE time >= now() - interval '1 hour' "
               "GROUP BY host")
COUNT_SQL = "SELECT count(*) AS n FROM cpu WHERE time >= now() - interval '1 hour'"


# --------------------------------------------------------------------------- what pe has
_HELP: str | None = None


def serve_help() -> str:
    global _HELP
    if _HELP is None:
        r = subprocess.run([sys.executable, "-m", "pe_engine.cli", "serve", "--help"], cwd=peers.REPO_ROOT,
                           capture_output=True, text=True, timeout=120)
        _HELP = r.stdout + r.stderr
    return _HELP


def has_flag(flag: str) -> bool:
    return flag in serve_help()


def parse_size(text: str) -> int:
    import re
    m = re.match(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", text, re.I)
    if not m:
        raise ValueError(f"bad size {text!r}")
    return int(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b")[0].lower())


# --------------------------------------------------------------------------- memory
class RssSampler:
    """Samples a process's RSS every `period` s in a daemon thread (peak and last)."""

    def __init__(self, pid: int, period: float = 0.5):
        import psutil
        self.proc = psutil.Process(pid)
        self.period = period
        self.peak = 0
        self.last = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def sample(self) -> int:
        try:
            self.last = self.proc.memory_info().rss
        except Exception:
            return self.last
        self.peak = max(self.peak, self.last)
        return self.last

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._t.join(5)


# --------------------------------------------------------------------------- Parquet layout
def files_per_day(data_dir: Path) -> tuple[dict[str, int], int, list[str]]:
    """{UTC day: files whose time range overlaps it}, total files, problems.

    Read from each file's own statistics (the `time` column's min/max), so it does not
    depend on how pe lays out its directories."""
    import pyarrow.parquet as pq
    days: dict[str, int] = defaultdict(int)
    problems: list[str] = []
    files = sorted((data_dir / "parquet").rglob("*.parquet"))
    for f in files:
        try:
            md = pq.ParquetFile(f).metadata
            idx = md.schema.names.index("time")
            lo = hi = None
            for g in range(md.num_row_groups):
                st = md.row_group(g).column(idx).statistics
                if st is None or not st.has_min_max:
                    continue
                mn, mx = st.min, st.max
                if isinstance(mn, dt.datetime):
                    mn, mx = mn.timestamp(), mx.timestamp()
                else:  # int64 ns
                    mn, mx = mn / 1e9, mx / 1e9
                lo = mn if lo is None else min(lo, mn)
                hi = mx if hi is None else max(hi, mx)
            if lo is None:
                problems.append(f"{f.name}: no time statistics")
                continue
            d = dt.datetime.fromtimestamp(lo, dt.timezone.utc).date()
            end = dt.datetime.fromtimestamp(hi, dt.timezone.utc).date()
            while d <= end:
                days[d.isoformat()] += 1
                d += dt.timedelta(days=1)
        except FileNotFoundError:
            continue  # compacted away while we looked
        except Exception as e:
            problems.append(f"{f.name}: {e}")
    return dict(days), len(files), problems


def wait_compaction(data_dir: Path, max_wait: float, stable_for: float = 15.0) -> tuple[dict, int]:
    """Poll until every day has <= 1 file, or the layout stops changing for `stable_for` s,
    or `max_wait` s pass. Returns the last (files per day, total files)."""
    t0 = time.monotonic()
    last, since = None, time.monotonic()
    while True:
        days, total, _ = files_per_day(data_dir)
        key = (total, tuple(sorted(days.items())))
        if key != last:
            last, since = key, time.monotonic()
        if days and max(days.values()) <= 1:
            return days, total
        if time.monotonic() - since >= stable_for or time.monotonic() - t0 >= max_wait:
            return days, total
        time.sleep(2.0)


# --------------------------------------------------------------------------- load
def write_history(peer, end_ns: int, origin_ns: int, days: int, interval_s: float, hosts: int) -> dict:
    """Write `days` days ending at end_ns, one body per 2.4 h, in time order.

    Line i of the global stream (from origin_ns) is host i % hosts at origin + i*step, so
    two servers that write the same time range get the same lines."""
    step = int(interval_s * 10**9) // hosts
    url = f"{peer.base_url}/api/v3/write_lp?db={DB}&precision=nanosecond"
    first = (end_ns - days * DAY_NS - origin_ns) // step
    last = (end_ns - origin_ns) // step  # exclusive
    per_batch = BATCH_NS // step
    gen_s = post_s = 0.0
    n_rows = n_bodies = 0
    i = first
    t_all = time.perf_counter()
    while i < last:
        n = min(per_batch, last - i)
        t0 = time.perf_counter()
        body = ("\n".join(lpgen.cpu_lines(n, origin_ns, hosts, 0, step, first_index=i)) + "\n").encode()
        t1 = time.perf_counter()
        status, _, text = peers.http("POST", url, body, timeout=300)
        t2 = time.perf_counter()
        if status not in (200, 204):
            fail(f"write of lines {i}..{i + n} answered HTTP {status}: {text[:300]!r}")
        gen_s += t1 - t0
        post_s += t2 - t1
        n_rows += n
        n_bodies += 1
        i += n
    return {"rows": n_rows, "bodies": n_bodies, "gen_s": gen_s, "post_s": post_s,
            "wall_s": time.perf_counter() - t_all}


def query(peer, sql: str) -> tuple[float, list]:
    q = urllib.parse.urlencode({"db": DB, "q": sql, "format": "json"})
    t0 = time.perf_counter()
    status, _, body = peers.http("GET", f"{peer.base_url}/api/v3/query_sql?{q}", timeout=300)
    ms = (time.perf_counter() - t0) * 1000
    if status != 200:
        fail(f"query failed: HTTP {status}: {body[:300]!r}\n{sql}")
    return ms, json.loads(body)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a point per host every 300 s (86 k rows at 30 d)")
    ap.add_argument("--full", action="store_true", help="a point per host every second (25.9 M rows at 30 d)")
    ap.add_argument("--interval", type=float, default=None, help="seconds between a host's points (default 10)")
    ap.add_argument("--hosts", type=int, default=HOSTS)
    ap.add_argument("--days", type=int, default=30, help="long history, days (default 30)")
    ap.add_argument("--rounds", type=int, default=10, help="ABBA rounds per query (default 10)")
    ap.add_argument("--cache-size", default="256MiB",
                    help="--parquet-mem-cache-size for both servers when pe has the flag (default 256MiB)")
    ap.add_argument("--compaction-wait", type=float, default=120.0,
                    help="longest wait for compaction to settle, s (default 120)")
    ap.add_argument("--pe-args", default="", help="extra `pe serve` args for both servers")
    args = ap.parse_args(argv)
    interval = args.interval or (300.0 if args.quick else 1.0 if args.full else 10.0)
    if args.quick:
        args.rounds = min(args.rounds, 5)
        args.compaction_wait = min(args.compaction_wait, 60.0)

    log(f"history growth: {args.hosts} hosts, a point per host every {interval:g}s, 1 day vs {args.days} days "
        f"ending now; 2.4 h bodies, snapshot every 2 flushes; {args.rounds} ABBA rounds")
    from ingest import busy_check
    log(f"machine: shared with other work; {busy_check()}")
    pe_args = ["--wal-flush-interval", "10ms", "--snapshot-every-flushes", "2",
               "--snapshot-max-buffer-rows", str(10**9)] + shlex.split(args.pe_args)
    missing = []
    budget = None
    if has_flag("--parquet-mem-cache-size"):
        budget = parse_size(args.cache_size)
        pe_args += ["--parquet-mem-cache-size", args.cache_size]
        log(f"  --parquet-mem-cache-size {args.cache_size} ({budget / 2**20:.0f} MiB)")
    else:
        missing.append("--parquet-mem-cache-size (not in `pe serve --help`): RSS reported without a budget")
    for flag in ("--compaction", "--retention"):
        if any(flag in ln for ln in serve_help().splitlines()):
            log(f"  pe serve has {flag}* options: "
                + "; ".join(ln.strip() for ln in serve_help().splitlines() if flag in ln))
    for m in missing:
        log(f"  MISSING: {m}")

    hour = 3600 * 10**9
    end_ns = time.time_ns() // 10**9 * 10**9  # everything is in the past when we query
    origin_ns = end_ns - (args.days + 1) * DAY_NS
    origin_ns -= origin_ns % hour
    tmp = peers.make_tmpdir("pe-bench-history-")
    servers = {}
    samplers = {}
    loads = {}
    try:
        for label, days in (("1d", 1), (f"{args.days}d", args.days)):
            peer = peers.start_pe(tmp / label, pe_args)
            servers[label] = peer
            samplers[label] = RssSampler(peer.proc.pid)
            log(f"\n== {label}: writing {days} day(s) of history ==")
            ld = write_history(peer, end_ns, origin_ns, days, interval, args.hosts)
            loads[label] = ld
            log(f"  {ld['rows']:,} rows in {ld['bodies']} bodies in {ld['wall_s']:.1f}s "
                f"(generating {ld['gen_s']:.1f}s, HTTP {ld['post_s']:.1f}s: "
                f"{ld['rows'] / ld['post_s'] if ld['post_s'] else 0:,.0f} rows/s on the server side); "
                f"RSS now {samplers[label].sample() / 2**20:.0f} MiB, peak {samplers[label].peak / 2**20:.0f} MiB")

        layout = {}
        for label, peer in servers.items():
            data_dir = Path(peer.info["data_dir"])
            t0 = time.monotonic()
            days, total = wait_compaction(data_dir, args.compaction_wait)
            _, _, problems = files_per_day(data_dir)
            layout[label] = (days, total)
            worst = max(days.values()) if days else 0
            mean = statistics.mean(days.values()) if days else 0
            log(f"\n{label}: {total} Parquet file(s) after {time.monotonic() - t0:.0f}s of compaction wait; "
                f"files overlapping a UTC day: max {worst}, mean {mean:.1f} over {len(days)} day(s)")
            for p in problems[:5]:
                log(f"  problem: {p}")
            if worst > 1 and total:
                spans = sum(1 for v in days.values() if v == total)
                if spans == len(days):
                    log("  MISSING: time partitioning (every file spans every day: files are not per partition-day)")
                else:
                    log("  compaction did not bring every day to one file within the wait")

        log("\n== last-hour queries, ABBA ==")
        labels = list(servers)
        a, b = labels[0], labels[1]
        times = {(lb, q): [] for lb in labels for q in ("groupby", "count")}
        counts = {}
        for lb in labels:  # warm-up (first query registers tables, reads footers)
            for q, sql in (("groupby", GROUPBY_SQL), ("count", COUNT_SQL)):
                ms, rows = query(servers[lb], sql)
                log(f"  first {q} on {lb}: {ms:.1f} ms")
        t_deadline = time.monotonic() + 600
        for r in range(args.rounds):
            for lb in (a, b, b, a):
                for q, sql in (("groupby", GROUPBY_SQL), ("count", COUNT_SQL)):
                    ms, rows = query(servers[lb], sql)
                    times[(lb, q)].append(ms)
                    if q == "count":
                        counts[lb] = int(rows[0]["n"]) if rows else 0
                    elif len(rows) != args.hosts:
                        fail(f"{lb}: GROUP BY host gave {len(rows)} rows, expected {args.hosts}")
            if time.monotonic() > t_deadline:
                log(f"  (stopping after {r + 1} rounds: 10 min bound)")
                break
        for lb in labels:
            samplers[lb].sample()
        log(f"  last-hour count(*): {a} {counts[a]:,}, {b} {counts[b]:,}"
            + ("" if counts[a] == counts[b] else "  (differ: now() moved between queries)"))
        if not counts[a]:
            fail("the last hour holds no rows: the history does not end at now")
        res = {}
        for q in ("groupby", "count"):
            for lb in labels:
                ts = times[(lb, q)]
                res[(lb, q)] = (min(ts), statistics.median(ts))
                log(f"  {q:8s} {lb:>4s}: min {min(ts):7.1f} ms  median {statistics.median(ts):7.1f} ms  "
                    f"max {max(ts):7.1f} ms  (n={len(ts)})")

        log("")
        for lb in labels:
            s = samplers[lb]
            log(f"{lb}: RSS {s.last / 2**20:.0f} MiB now, peak {s.peak / 2**20:.0f} MiB"
                + (f"; budget (--parquet-mem-cache-size) {budget / 2**20:.0f} MiB" if budget else ""))
        rss_growth = samplers[b].last - samplers[a].last
        log(f"RSS growth for {args.days}x the history: {rss_growth / 2**20:+.0f} MiB"
            + (f" ({'within' if rss_growth <= budget else 'ABOVE'} the cache budget)" if budget else ""))
        for m in missing:
            log(f"MISSING: {m}")

        for q in ("groupby", "count"):
            for lb in labels:
                log(f"RESULT history_lasthour_{q}_{lb}_ms {res[(lb, q)][1]:.1f} ms")
            log(f"RESULT history_lasthour_{q}_ratio {res[(b, q)][1] / res[(a, q)][1]:.3f} ratio")
            log(f"RESULT history_lasthour_{q}_ratio_min {res[(b, q)][0] / res[(a, q)][0]:.3f} ratio")
        days_b, total_b = layout[b]
        log(f"RESULT history_files_per_partition_day_max {max(days_b.values()) if days_b else 0} files")
        log(f"RESULT history_parquet_files_{b} {total_b} files")
        log(f"RESULT history_write_{b}_rows_per_s {loads[b]['rows'] / loads[b]['post_s']:.0f} rows/s")
        for lb in labels:
            log(f"RESULT history_rss_{lb}_mb {samplers[lb].last / 2**20:.0f} MiB")
        log(f"RESULT history_rss_peak_{b}_mb {samplers[b].peak / 2**20:.0f} MiB")
        if budget:
            log(f"RESULT history_cache_budget_mb {budget / 2**20:.0f} MiB")
        return 0
    finally:
        for s in samplers.values():
            s.stop()
        peers.stop_peers_under(tmp)


if __name__ == "__main__":
    run_main(main)
