"""Ingest benchmark: the same wrk HTTP load against `pe serve`, InfluxDB 1.x and VictoriaMetrics.

5,000-line bodies of cpu-like lines (3 tags, 5 fields), 4 connections, 10 s, both
systems with WAL fsync on before the answer (pe: no_sync=false; InfluxDB 1.x:
wal-fsync-delay=0s). The systems run one after the other, each on a fresh temp dir,
with the same pre-generated bodies.

pe acknowledges a write only after the WAL record of its flush interval is fsync'd.
At InfluxDB 3's default interval (1 s) each request therefore waits up to a second,
and 4 connections can never exceed 4 x 5,000 lines/s whatever the CPU does. The
headline run uses `--wal-flush-interval 10ms` (still fsync before every answer);
a second, informational run shows the 1 s default (`--skip-default-interval` skips it).

    python benchmarks/ingest.py                 # full run (10 s each)
    python benchmarks/ingest.py --quick         # 3 s smoke run
    python benchmarks/ingest.py --only influx   # just InfluxDB 1.x (or --only pe)
    python benchmarks/ingest.py --pe-args "--wal-flush-interval 100ms"
    python benchmarks/ingest.py --profile       # pe under py-spy -> benchmarks/results/
    python benchmarks/ingest.py --rounds 2      # ABBA: pe,influx,vm then vm,influx,pe; median/min
    python benchmarks/ingest.py --pe-before REV # also pe at an older commit (git worktree)

VictoriaMetrics (`victoria-metrics`, Debian package) gets the same bodies on its
line-protocol endpoint `POST /write` (HTTP port); it does not fsync per write (it
buffers rows in memory and answers once they are parsed), so it is the no-fsync
reference. Its count is checked after `/internal/force_flush`.

`--pe-before REV` runs `pe serve` from `git worktree add /tmp/pe-before-<rev> REV`
(the compiled parser `pe_engine/lineprotocol/_lpparse*.so` copied in), interleaved with
the current tree, to see what a change (dedup) costs: RESULT ingest_pe_vs_before.

Ends with:
    RESULT ingest_pe_lines_per_s <v> lines/s
    RESULT ingest_influxdb1_lines_per_s <v> lines/s
    RESULT ingest_ratio_vs_influxdb1 <pe/influx> ratio
    RESULT ingest_vm_lines_per_s <v> lines/s
    RESULT ingest_ratio_vs_vm <pe/vm> ratio
    RESULT ingest_pe_vs_before, ingest_pe_cpu_per_line_vs_before   (with --pe-before)

Prerequisites: apt-get install -y influxdb victoria-metrics wrk
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import shlex
import statistics
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lpgen  # noqa: E402
import peers  # noqa: E402
from _harness import fail, log, read_collapsed, run_main

RESULTS_DIR = HERE / "results"
LUA = HERE / "wrk_post.lua"


# --------------------------------------------------------------------------- wrk
def run_wrk(url: str, body_dir: Path, n_bodies: int, threads: int, connections: int,
            duration: float, timeout_s: int) -> dict:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s",
           "--timeout", f"{timeout_s}s", "-s", str(LUA), url, "--", str(body_dir), str(n_bodies), str(threads)]
    log(f"  $ {' '.join(cmd)}")
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout_s + 120,
                       stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        fail(f"wrk exited with {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    out = {"raw": r.stdout, "wall_s": wall, "threads": [], "errors": []}
    for line in r.stdout.splitlines():
        if not line.startswith("WRK "):
            continue
        parts = line.split()
        kind = parts[1]
        if kind == "error":
            out["errors"].append(line[len("WRK error "):])
            continue
        kv = {k: float(v) for k, v in (p.split("=", 1) for p in parts[2:])}
        if kind == "thread":
            out["threads"].append({k: int(v) for k, v in kv.items()})
        else:
            out[kind] = kv
    if "summary" not in out or "latency_us" not in out:
        fail(f"could not parse wrk's output:\n{r.stdout}\n{r.stderr}")
    return out


# --------------------------------------------------------------------------- machine
def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals), idle


def busy_check(seconds: float = 1.0) -> str:
    """How busy the machine is before a run (other processes skew the numbers)."""
    try:
        t0, i0 = _cpu_times()
        time.sleep(seconds)
        t1, i1 = _cpu_times()
        used = 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))
        load = os.getloadavg()[0]
    except OSError:
        return "machine load: unknown"
    msg = f"machine before the run: {used:.0f}% CPU busy over {seconds:g}s, load average {load:.2f}"
    if used > 15:
        msg += "  WARNING: other processes are using the CPU; numbers will be noisy"
    return msg


def proc_cpu_seconds(pid: int) -> float | None:
    """user+system CPU seconds of a process (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------- counts
def pe_count(peer) -> int:
    q = urllib.parse.urlencode({"db": "bench", "q": "SELECT count(*) AS n FROM cpu", "format": "json"})
    status, _, body = peers.http("GET", f"{peer.base_url}/api/v3/query_sql?{q}", timeout=300)
    if status != 200:
        fail(f"pe count query failed: HTTP {status}: {body[:500]!r}")
    rows = json.loads(body)
    return int(rows[0]["n"])


def influx_count(peer) -> int:
    q = urllib.parse.urlencode({"db": "bench", "q": "SELECT count(usage_user) FROM cpu", "epoch": "ns"})
    status, _, body = peers.http("GET", f"{peer.base_url}/query?{q}", timeout=300)
    if status != 200:
        fail(f"InfluxDB count query failed: HTTP {status}: {body[:500]!r}")
    res = json.loads(body)["results"][0]
    if "error" in res:
        fail(f"InfluxDB count query error: {res['error']}")
    if not res.get("series"):
        return 0
    return int(res["series"][0]["values"][0][1])


def vm_count(peer) -> int:
    """Samples of cpu_usage_user in VictoriaMetrics (one per acknowledged line)."""
    peers.http("GET", f"{peer.base_url}/internal/force_flush", timeout=60)
    q = urllib.parse.urlencode({"query": "sum(count_over_time(cpu_usage_user[2d]))",
                                "time": f"{time.time() + 60:.0f}", "nocache": "1"})
    status, _, body = peers.http("GET", f"{peer.base_url}/api/v1/query?{q}", timeout=300)
    if status != 200:
        fail(f"VictoriaMetrics count query failed: HTTP {status}: {body[:500]!r}")
    res = json.loads(body)["data"]["result"]
    return int(float(res[0]["value"][1])) if res else 0


# --------------------------------------------------------------------------- one system
def bench_system(name: str, args, body_dir: Path, n_bodies: int, lines_per_body: int,
                 repo_root=None) -> dict:
    """name: pe, influx or vm; repo_root: run pe from another checkout (--pe-before)."""
    tmp = peers.make_tmpdir(f"pe-bench-ingest-{name}-")
    profiler = None
    kind = name
    try:
        if kind == "pe":
            extra = shlex.split(args.pe_args or "")
            peer = peers.start_pe(tmp, extra, repo_root=repo_root)
            url = f"{peer.base_url}/api/v3/write_lp?db=bench&precision=nanosecond"
            flush_wait = _flush_interval_s(peer.info["cmd"]) * 2 + 1.0
        elif kind == "vm":
            peer = peers.start_victoria_metrics(tmp)
            log(f"  victoria-metrics {peer.version}; no fsync per write (rows buffered in memory)")
            url = f"{peer.base_url}/write?db=bench&precision=ns"
            flush_wait = 1.0
        else:
            peer = peers.start_influxdb1(tmp)
            log(f"  influxd version: {peer.version} (server {peer.info.get('server_version')}); "
                f"WAL fsync on every write (wal-fsync-delay = \"0s\")")
            url = f"{peer.base_url}/write?db=bench&precision=ns"
            flush_wait = 1.0
        log("  " + busy_check())
        if kind == "pe" and args.profile and repo_root is None:
            profiler = start_profiler(peer, args)

        cpu0 = proc_cpu_seconds(peer.proc.pid)
        w = run_wrk(url, body_dir, n_bodies, args.threads, args.connections, args.duration, args.timeout)
        cpu1 = proc_cpu_seconds(peer.proc.pid)
        if profiler is not None:
            finish_profiler(profiler)
            profiler = None

        s, lat = w["summary"], w["latency_us"]
        ok = sum(t["ok"] for t in w["threads"])
        sent = sum(t["sent"] for t in w["threads"])
        non2xx = sum(t["non2xx"] for t in w["threads"])
        sock_err = int(s["connect"] + s["read"] + s["write"] + s["timeout"])
        wrapped = any(t["wrapped"] for t in w["threads"])
        elapsed = s["duration_us"] / 1e6
        lines_per_s = ok * lines_per_body / elapsed if elapsed > 0 else 0.0
        log(f"  {name}: requests={int(s['requests'])} ok(2xx)={ok} non2xx={non2xx} socket_errors={sock_err} "
            f"sent={sent} elapsed={elapsed:.2f}s")
        log(f"  {name}: {lines_per_s:,.0f} lines/s  ({ok / elapsed if elapsed else 0:.1f} req/s, "
            f"{ok * args.avg_body_bytes / elapsed / 1e6 if elapsed else 0:.1f} MB/s of line protocol)")
        if cpu0 is not None and cpu1 is not None and elapsed > 0 and ok:
            log(f"  {name}: server CPU {cpu1 - cpu0:.2f}s during the run ({100 * (cpu1 - cpu0) / elapsed:.0f}% of one core; "
                f"{1000 * (cpu1 - cpu0) / ok:.1f} ms per request, "
                f"{ok * lines_per_body / (cpu1 - cpu0) if cpu1 > cpu0 else 0:,.0f} lines per CPU-second)")
        log(f"  {name}: latency p50={lat['p50'] / 1000:.1f} ms p90={lat['p90'] / 1000:.1f} ms "
            f"p99={lat['p99'] / 1000:.1f} ms max={lat['max'] / 1000:.1f} ms mean={lat['mean'] / 1000:.1f} ms")
        if kind == "pe":
            fi = _flush_interval_s(peer.info["cmd"])
            bound = args.connections * lines_per_body / fi
            log(f"  {name}: ceiling from the group commit alone: {args.connections} connections x {lines_per_body} lines "
                f"/ {fi:g}s flush interval = {bound:,.0f} lines/s (each request waits for the next WAL flush)")
        if non2xx or sock_err or ok != int(s["requests"]):
            for e in w["errors"]:
                log(f"  {name}: first error: {e}")
            fail(f"{name}: {non2xx} non-2xx responses and {sock_err} socket errors "
                 f"(wrk counted {int(s['requests'])} responses, {ok} were 2xx)")
        if ok == 0:
            fail(f"{name}: no request succeeded")

        # Acknowledged lines must all be there. Requests still in flight when wrk stopped
        # (at most one per connection) may also have been applied by the server.
        time.sleep(flush_wait)
        count = {"pe": pe_count, "influx": influx_count, "vm": vm_count}[kind](peer)
        in_flight = sent - ok
        if kind in ("pe", "vm"):  # distinct bodies (no wrap) or every row kept
            lo, hi = ok * lines_per_body, sent * lines_per_body
        else:  # InfluxDB overwrites a repeated series+timestamp: count distinct bodies
            lo = sum(min(t["ok"], t["share"]) for t in w["threads"]) * lines_per_body
            hi = sum(min(t["sent"], t["share"]) for t in w["threads"]) * lines_per_body
        what = {"pe": "SELECT count(*) FROM cpu", "influx": "SELECT count(usage_user) FROM cpu",
                "vm": "sum(count_over_time(cpu_usage_user[2d]))"}[kind]
        extra = count - lo
        log(f"  {name}: {what} = {count:,}; acknowledged lines = {ok * lines_per_body:,}"
            + ("" if extra == 0 else f" (+{extra:,} = {extra / lines_per_body:g} bodies from the "
                                     f"{in_flight} request(s) in flight when wrk stopped)"))
        if wrapped:
            log(f"  {name}: note: bodies were re-sent (threads wrapped around their share of {n_bodies} bodies);"
                " use --bodies to make more")
        if kind == "pe" and wrapped and count < lo:
            # pe with dedup keeps one row per point: re-sent bodies are not new rows
            lo = sum(min(t["ok"], t["share"]) for t in w["threads"]) * lines_per_body
        if kind == "vm" and wrapped:
            lo = 0  # VictoriaMetrics keeps repeated samples (no dedup configured); only a smoke check
        if not lo <= count <= hi:
            fail(f"{name}: count {count} outside [{lo}, {hi}] (acknowledged .. sent lines)")
        if count % lines_per_body:
            fail(f"{name}: count {count} is not a whole number of {lines_per_body}-line bodies")
        cpu_s = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
        return {"name": name, "kind": kind, "lines_per_s": lines_per_s, "ok": ok, "elapsed": elapsed, "lat": lat,
                "lines_per_cpu_s": ok * lines_per_body / cpu_s if cpu_s else None,
                "count": count, "wrapped": wrapped, "version": peer.version}
    finally:
        if profiler is not None:
            finish_profiler(profiler)
        peers.stop_peers_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _flush_interval_s(cmd: list[str]) -> float:
    val = "1s"
    for i, a in enumerate(cmd):
        if a == "--wal-flush-interval" and i + 1 < len(cmd):
            val = cmd[i + 1]
        elif a.startswith("--wal-flush-interval="):
            val = a.split("=", 1)[1]
    m = re.fullmatch(r"([0-9.]+)\s*(ms|s|m)?", val.strip())
    if not m:
        return 1.0
    n = float(m.group(1))
    return {"ms": n / 1000, "s": n, "m": n * 60, None: n}[m.group(2)]


# --------------------------------------------------------------------------- profiling
def start_profiler(peer, args) -> dict:
    spy = shutil.which("py-spy") or (str(Path(sys.executable).parent / "py-spy")
                                      if (Path(sys.executable).parent / "py-spy").exists() else None)
    if not spy:
        fail("--profile needs py-spy: /work/venv/bin/pip install py-spy (local use only; not a project dependency)")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = RESULTS_DIR / f"ingest-pe-{stamp}.collapsed.txt"
    cmd = [spy, "record", "--pid", str(peer.proc.pid), "--format", "raw", "--rate", str(args.profile_rate),
           "--threads", "--nonblocking", "--output", str(raw), "--duration", str(int(math.ceil(args.duration)) + 1)]
    log(f"  profiling pe (pid {peer.proc.pid}): {' '.join(cmd)}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    time.sleep(0.5)
    return {"proc": proc, "raw": raw, "stamp": stamp}


def finish_profiler(prof: dict) -> None:
    proc = prof["proc"]
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    raw: Path = prof["raw"]
    if not raw.exists() or raw.stat().st_size == 0:
        log(f"  py-spy wrote no profile:\n{out.decode(errors='replace')[-2000:]}")
        return
    speedscope = raw.with_name(raw.name.replace(".collapsed.txt", ".speedscope.json"))
    write_speedscope(raw, speedscope)
    log(f"  profile: {raw} (collapsed stacks) and {speedscope} (open in speedscope)")
    summarize_profile(raw)


def write_speedscope(raw: Path, out: Path) -> None:
    frames, index, samples, weights = [], {}, [], []
    for stack, n in read_collapsed(raw):
        ids = []
        for f in stack:
            if f not in index:
                index[f] = len(frames)
                frames.append({"name": f})
            ids.append(index[f])
        samples.append(ids)
        weights.append(n)
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [{"type": "sampled", "name": "pe serve (ingest)", "unit": "none", "startValue": 0,
                      "endValue": sum(weights), "samples": samples, "weights": weights}],
        "name": out.stem, "exporter": "benchmarks/ingest.py",
    }
    out.write_text(json.dumps(doc))


def _short(frame: str) -> str:
    # py-spy raw frames look like "func (path/to/file.py:123)"; drop the line number and dirs
    m = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    parts = Path(path).parts
    for anchor in ("pe_engine", "site-packages", "asyncio", "concurrent"):
        if anchor in parts:
            path = "/".join(parts[parts.index(anchor):])
            break
    else:
        path = Path(path).name
    return f"{func} ({path})"


def summarize_profile(raw: Path, top: int = 25) -> None:
    total = 0
    self_c, incl_c, thread_c = collections.Counter(), collections.Counter(), collections.Counter()
    for stack, n in read_collapsed(raw):
        total += n
        thread = stack[0] if stack and (stack[0].startswith("thread") or stack[0].startswith("process")) else "?"
        thread_c[thread] += n
        frames = [_short(f) for f in stack if not (f.startswith("thread") or f.startswith("process"))]
        if frames:
            self_c[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n
    if not total:
        log("  profile is empty")
        return
    log(f"\n  py-spy: {total} samples (non-idle)")
    log("  by thread:")
    for t, n in thread_c.most_common(10):
        log(f"    {100 * n / total:5.1f}%  {t}")
    log(f"  top {top} by self time:")
    for f, n in self_c.most_common(top):
        log(f"    {100 * n / total:5.1f}%  {f}")
    log(f"  top {top} by inclusive time:")
    for f, n in incl_c.most_common(top):
        log(f"    {100 * n / total:5.1f}%  {f}")


# --------------------------------------------------------------------------- main
def check_prereqs(systems: list[str], profile: bool) -> None:
    missing = []
    if not shutil.which("wrk"):
        missing.append("wrk")
    if "influx" in systems and not os.access(peers.INFLUXD, os.X_OK):
        missing.append("influxdb (influxd 1.x)")
    if "vm" in systems and not os.access(peers.VICTORIA_METRICS, os.X_OK):
        missing.append("victoria-metrics")
    if missing:
        fail(f"missing {', '.join(missing)}. Install the benchmark prerequisites with:\n    {peers.APT_HINT}")
    if "pe" in systems:
        r = subprocess.run([sys.executable, "-c", "import pe_engine.cli"], cwd=peers.REPO_ROOT,
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"cannot import pe_engine.cli with {sys.executable} (is `pe serve` there yet? "
                 f"run from the project's venv):\n{r.stderr[-1500:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["pe", "influx", "vm"], help="run one system only (no ratio)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load per system (default 10)")
    ap.add_argument("--connections", "-c", type=int, default=4, help="wrk connections (default 4)")
    ap.add_argument("--threads", "-t", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--timeout", type=int, default=30, help="wrk per-request timeout, s (default 30)")
    ap.add_argument("--quick", action="store_true", help="3 s smoke run")
    ap.add_argument("--lines-per-body", type=int, default=5000)
    ap.add_argument("--bodies", type=int, default=None,
                    help="distinct bodies to cycle through (default: enough for 100 req/s, min 20)")
    ap.add_argument("--hosts", type=int, default=1000, help="distinct host tag values (series)")
    ap.add_argument("--pe-args", default="--wal-flush-interval 10ms",
                    help="`pe serve` args for the headline run (default: --wal-flush-interval 10ms)")
    ap.add_argument("--skip-default-interval", action="store_true",
                    help="skip the informational pe run at the default 1 s flush interval")
    ap.add_argument("--profile", action="store_true", help="py-spy the pe run into benchmarks/results/")
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s (default 250)")
    ap.add_argument("--order", default="pe,influx,vm", help="run order (default pe,influx,vm)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the order this many times, every other round reversed (ABBA); "
                         "RESULTs are medians, *_best the best round (default 1)")
    ap.add_argument("--shared-timestamps", action="store_true",
                    help="every host at the same timestamps (1 ms apart) instead of one timestamp per line: "
                         "the batch has repeated times, so pe's per-batch duplicate check does real work")
    ap.add_argument("--pe-before", metavar="REV",
                    help="also run pe from a git worktree of REV (e.g. the commit before dedup), next to pe")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 3.0)
    if args.threads > args.connections:
        args.threads = args.connections
    systems = [s for s in args.order.split(",") if not args.only or s == args.only]
    check_prereqs(systems, args.profile)

    # Enough distinct bodies that a fast system doesn't re-send them within the run
    # (InfluxDB 1.x and pe with dedup overwrite repeats; counts are checked either way): pe
    # does ~130 requests/s of 5,000 lines on a 2-CPU machine, so size for 160/s.
    n_bodies = args.bodies or max(20, int(math.ceil(args.duration * 160)))
    n_bodies = max(n_bodies, args.threads)
    workdir = peers.make_tmpdir("pe-bench-ingest-bodies-")
    t0 = time.monotonic()
    start_ns = lpgen.default_start_ns()
    total_bytes = 0
    gen_kw = {"step_ns": 1_000_000, "shared_times": True} if args.shared_timestamps else {}
    for k, b in enumerate(lpgen.bodies(n_bodies, args.lines_per_body, start_ns=start_ns, hosts=args.hosts,
                                       **gen_kw)):
        (workdir / f"body_{k:05d}.lp").write_bytes(b)
        total_bytes += len(b)
    args.avg_body_bytes = total_bytes / n_bodies
    log(f"ingest benchmark: {n_bodies} bodies x {args.lines_per_body} lines "
        f"({total_bytes / n_bodies / 1e3:.0f} kB each, {total_bytes / 1e6:.0f} MB, generated in "
        f"{time.monotonic() - t0:.1f}s); cpu lines, 3 tags, 5 fields, {args.hosts} hosts; "
        f"wrk -t {args.threads} -c {args.connections} -d {args.duration:g}s --timeout {args.timeout}s")
    log(f"machine: {os.cpu_count()} CPUs; wrk runs on the same machine as the server")

    before_root = None
    if args.pe_before:
        before_root = before_worktree(args.pe_before)
        if "pe" in systems:
            systems.insert(systems.index("pe") + 1, "pe_before")
        else:
            systems.append("pe_before")
    runs: dict[str, list[dict]] = {}
    for rnd in range(max(1, args.rounds)):
        order = systems if rnd % 2 == 0 else list(reversed(systems))
        for name in order:
            kind = "pe" if name == "pe_before" else name
            title = {"pe": f"pe ({args.pe_args or 'defaults'})", "pe_before": f"pe at {args.pe_before} "
                     f"({before_root}; {args.pe_args or 'defaults'})", "vm": "VictoriaMetrics",
                     "influx": "InfluxDB 1.x"}[name]
            log(f"\n== {title}, round {rnd + 1} ==")
            r = bench_system(kind, args, workdir, n_bodies, args.lines_per_body,
                             repo_root=before_root if name == "pe_before" else None)
            r["name"] = name
            runs.setdefault(name, []).append(r)
    results = {}
    for name, rs in runs.items():
        rates = sorted(r["lines_per_s"] for r in rs)
        med = statistics.median(rates)
        per_cpu = [r["lines_per_cpu_s"] for r in rs if r.get("lines_per_cpu_s")]
        results[name] = dict(min(rs, key=lambda r: abs(r["lines_per_s"] - med)), lines_per_s=med,
                             best=rates[-1], worst=rates[0], n=len(rs),
                             lines_per_cpu_s=statistics.median(per_cpu) if per_cpu else None)
    default_run = None
    if "pe" in systems and not args.skip_default_interval and args.pe_args:
        log("\n== pe (default 1s flush interval; informational) ==")
        saved, args.pe_args, profile = args.pe_args, "", args.profile
        args.profile = False
        default_run = bench_system("pe", args, workdir, n_bodies, args.lines_per_body)
        args.pe_args, args.profile = saved, profile

    log("")
    pe, inf, vm, before = (results.get(k) for k in ("pe", "influx", "vm", "pe_before"))
    for r in (pe, before, inf, vm):
        if r:
            label = {"pe": "pe", "pe_before": f"pe@{args.pe_before}", "influx": "InfluxDB 1.x",
                     "vm": "VictoriaMetrics"}[r["name"]]
            log(f"{label:15s} {r['lines_per_s']:>12,.0f} lines/s (median of {r['n']}; "
                f"range {r['worst']:,.0f}..{r['best']:,.0f})  p50 {r['lat']['p50'] / 1000:7.1f} ms  "
                f"p99 {r['lat']['p99'] / 1000:7.1f} ms  (count verified {r['count']:,})")
    if default_run:
        log(f"pe at the 1 s default flush interval: {default_run['lines_per_s']:,.0f} lines/s "
            f"(bounded by connections x lines per body / interval)")
        log(f"RESULT ingest_pe_default_interval_lines_per_s {default_run['lines_per_s']:.0f} lines/s")
    if pe:
        log(f"RESULT ingest_pe_lines_per_s {pe['lines_per_s']:.0f} lines/s")
    if inf:
        log(f"RESULT ingest_influxdb1_lines_per_s {inf['lines_per_s']:.0f} lines/s")
    if pe and inf:
        log(f"RESULT ingest_ratio_vs_influxdb1 {pe['lines_per_s'] / inf['lines_per_s']:.3f} ratio")
    if vm:
        log(f"RESULT ingest_vm_lines_per_s {vm['lines_per_s']:.0f} lines/s")
    if pe and vm:
        log(f"RESULT ingest_ratio_vs_vm {pe['lines_per_s'] / vm['lines_per_s']:.3f} ratio")
    if before:
        log(f"RESULT ingest_pe_before_lines_per_s {before['lines_per_s']:.0f} lines/s")
    if pe and before:
        log(f"RESULT ingest_pe_vs_before {pe['lines_per_s'] / before['lines_per_s']:.3f} ratio")
        if pe["lines_per_cpu_s"] and before["lines_per_cpu_s"]:
            # on a shared machine throughput can be capped by others; server CPU per line is the other view
            log(f"RESULT ingest_pe_cpu_per_line_vs_before {before['lines_per_cpu_s'] / pe['lines_per_cpu_s']:.3f} ratio")
    if max((r["n"] for r in results.values()), default=1) > 1:
        for name, r in results.items():
            log(f"RESULT ingest_{ {'pe': 'pe', 'pe_before': 'pe_before', 'influx': 'influxdb1', 'vm': 'vm'}[name]}"
                f"_best_lines_per_s {r['best']:.0f} lines/s")
    return 0


def before_worktree(rev: str) -> Path:
    """A `git worktree` of rev at /tmp/pe-before-<short rev> (made once, reused), with the
    compiled line-protocol parser copied in (it is not in git)."""
    r = subprocess.run(["git", "rev-parse", "--short", rev], cwd=peers.REPO_ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"--pe-before {rev}: not a revision: {r.stderr.strip()}")
    short = r.stdout.strip()
    path = Path(f"/tmp/pe-before-{short}")
    if not (path / "pe_engine").is_dir():
        r = subprocess.run(["git", "worktree", "add", "--detach", str(path), short], cwd=peers.REPO_ROOT,
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"git worktree add {path} {short} failed: {r.stderr.strip()}")
    lp_here = peers.REPO_ROOT / "pe_engine" / "lineprotocol"
    lp_there = path / "pe_engine" / "lineprotocol"
    if not list(lp_there.glob("_lpparse*.so")):
        same = (lp_there / "_lpparse.c").exists() and \
            (lp_there / "_lpparse.c").read_bytes() == (lp_here / "_lpparse.c").read_bytes()
        if same:  # the same C source: the compiled module of this tree fits
            for so in lp_here.glob("_lpparse*.so"):
                shutil.copy2(so, lp_there / so.name)
        else:  # the parser changed since rev: build rev's own
            log(f"pe before: {rev}'s _lpparse.c differs from this tree's; building it in {path}")
            r = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=path,
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0 or not list(lp_there.glob("_lpparse*.so")):
                fail(f"building the parser of {rev} failed:\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
    log(f"pe before: {rev} = {short} in {path}")
    return path


if __name__ == "__main__":
    run_main(main)
