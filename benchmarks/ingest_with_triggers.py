"""HTTP ingest rate of `pe serve` with a no-op `all_tables` WAL trigger vs without one.

Same machine, same run, same settings: `pe serve --plugin-dir <dir> --without-auth
--wal-flush-interval <i>` on a fresh temp dir each time, database `bench` created over HTTP;
the "with" runs also create a trigger over HTTP (`POST /api/v3/configure/processing_engine_trigger`,
plugin `plugins/noop.py`, `all_tables`). The load is ingest.py's (its run_wrk,
`wrk_post.lua`): 5,000-line cpu bodies (lpgen.py) POSTed to `/api/v3/write_lp` with default
durability (each request answered after its group commit), but with 256 connections instead
of ingest.py's 4: with a 1 s flush, 4 connections cap the rate at 4 x 5,000 lines/s whatever
the server does, so a trigger's cost could not show; 256 keep pe CPU-bound. If wrk is not installed, an in-process
writer (threads with http.client, one connection each) produces the same load; the
script says which one it used.

Runs go in ABBA order (without, with, with, without, ...) to cancel drift on a shared
machine; the ratio is mean(with) / mean(without). After each run the row count is checked
against the acknowledged lines, and for "with" runs the trigger's statistics (activations,
errors) are read back over HTTP.

    python benchmarks/ingest_with_triggers.py                # 1s (pe's default) and 100ms flush, 2 ABBA rounds of 30 s
    python benchmarks/ingest_with_triggers.py --intervals 1s --rounds 1 --duration 5
    python benchmarks/ingest_with_triggers.py --writer python       # force the in-process writer

Ends with:
    RESULT ingest_with_triggers_lines_per_s_without <v> lines/s     (first interval)
    RESULT ingest_with_triggers_lines_per_s_with <v> lines/s
    RESULT ingest_with_triggers_ratio <with/without> ratio          (first interval; target >= 0.9)
    RESULT ingest_with_triggers_ratio_<interval> <with/without> ratio  (each interval)
    RESULT ingest_with_triggers_cpu_per_line_ratio_<interval> <with/without> ratio  (server CPU s per line)
Prerequisites: apt-get install -y wrk (optional; see above)
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ingest  # noqa: E402  (run_wrk, busy_check, proc_cpu_seconds, pe_count, _flush_interval_s)
import lpgen  # noqa: E402
import peers  # noqa: E402
from _harness import fail, run_main

PLUGIN = HERE / "plugins" / "noop.py"
TARGET = 0.9


def log(msg: str = "") -> None:
    print(msg, flush=True)


def api(peer, method: str, path: str, obj=None) -> tuple[int, bytes]:
    body = json.dumps(obj).encode() if obj is not None else None
    status, _, data = peers.http(method, peer.base_url + path, body, headers={"Content-Type": "application/json"})
    return status, data


# --------------------------------------------------------------------------- in-process writer (no wrk)
def python_writer(url: str, body_dir: Path, n_bodies: int, connections: int, duration: float) -> dict:
    """`connections` threads, one keep-alive HTTP/1.1 connection each, cycling through their
    share of the bodies for `duration` s; returns counts like ingest.run_wrk's."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    bodies = [(body_dir / f"body_{k:05d}.lp").read_bytes() for k in range(n_bodies)]
    stop_at = time.monotonic() + duration
    threads_out: list[dict] = [{"sent": 0, "ok": 0, "non2xx": 0, "wrapped": 0, "lat": [], "err": None}
                               for _ in range(connections)]

    def work(t: int) -> None:
        st = threads_out[t]
        mine = bodies[t::connections]
        st["share"] = len(mine)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        i = 0
        try:
            while time.monotonic() < stop_at:
                if i and i % len(mine) == 0:
                    st["wrapped"] = 1
                b = mine[i % len(mine)]
                i += 1
                st["sent"] += 1
                t0 = time.perf_counter()
                conn.request("POST", path, b, {"Content-Type": "text/plain; charset=utf-8"})
                r = conn.getresponse()
                data = r.read()
                st["lat"].append(time.perf_counter() - t0)
                if 200 <= r.status < 300:
                    st["ok"] += 1
                else:
                    st["non2xx"] += 1
                    st["err"] = st["err"] or f"{r.status} {data[:200]!r}"
        except Exception as e:  # noqa: BLE001 -- reported as a socket error
            st["err"] = st["err"] or f"{type(e).__name__}: {e}"
            st["sock"] = 1
        finally:
            conn.close()

    t0 = time.monotonic()
    ths = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(connections)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(duration + 120)
    elapsed = time.monotonic() - t0
    lat = sorted(x for st in threads_out for x in st["lat"])

    def q(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6 if lat else 0.0
    ok = sum(st["ok"] for st in threads_out)
    return {
        "summary": {"requests": ok + sum(st["non2xx"] for st in threads_out), "duration_us": elapsed * 1e6,
                    "connect": 0, "read": sum(st.get("sock", 0) for st in threads_out), "write": 0, "timeout": 0},
        "latency_us": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": lat[-1] * 1e6 if lat else 0.0,
                       "mean": statistics.fmean(lat) * 1e6 if lat else 0.0},
        "threads": [{k: st.get(k, 0) for k in ("sent", "ok", "non2xx", "wrapped", "share")} for st in threads_out],
        "errors": [st["err"] for st in threads_out if st["err"]],
    }


# --------------------------------------------------------------------------- one run
def one_run(with_trigger: bool, interval: str, args, body_dir: Path, n_bodies: int) -> dict:
    label = "with trigger" if with_trigger else "no trigger"
    tmp = peers.make_tmpdir("pe-bench-iwt-")
    try:
        pdir = tmp / "plugins"
        pdir.mkdir()
        shutil.copy(PLUGIN, pdir / "noop.py")
        peer = peers.start_pe(tmp, ["--plugin-dir", str(pdir), "--wal-flush-interval", interval])
        st, data = api(peer, "POST", "/api/v3/configure/database", {"db": "bench"})
        if st not in (200, 204):
            fail(f"create database: HTTP {st} {data[:300]!r}")
        if with_trigger:
            st, data = api(peer, "POST", "/api/v3/configure/processing_engine_trigger", {
                "db": "bench", "trigger_name": "noop_all", "plugin_filename": "noop.py",
                "trigger_specification": "all_tables", "trigger_settings": {"run_async": False, "error_behavior": "log"},
                "disabled": False,
            })
            if st not in (200, 204):
                fail(f"create trigger: HTTP {st} {data[:300]!r}")
        url = f"{peer.base_url}/api/v3/write_lp?db=bench&precision=nanosecond"
        cpu0 = ingest.proc_cpu_seconds(peer.proc.pid)
        if args.writer == "wrk":
            w = ingest.run_wrk(url, body_dir, n_bodies, args.threads, args.connections, args.duration, args.timeout)
        else:
            w = python_writer(url, body_dir, n_bodies, args.connections, args.duration)
        cpu1 = ingest.proc_cpu_seconds(peer.proc.pid)
        s, lat = w["summary"], w["latency_us"]
        ok = sum(t["ok"] for t in w["threads"])
        sent = sum(t["sent"] for t in w["threads"])
        non2xx = sum(t["non2xx"] for t in w["threads"])
        sock = int(s["connect"] + s["read"] + s["write"] + s["timeout"])
        elapsed = s["duration_us"] / 1e6
        if non2xx or sock or ok == 0:
            fail(f"{label}: {non2xx} non-2xx, {sock} socket errors, {ok} ok; first error: {w['errors'][:1]}")
        lps = ok * args.lines_per_body / elapsed
        time.sleep(ingest._flush_interval_s(peer.info["cmd"]) * 2 + 0.5)
        count = ingest.pe_count(peer)
        lo, hi = ok * args.lines_per_body, sent * args.lines_per_body
        if not lo <= count <= hi:
            fail(f"{label}: row count {count} outside [{lo}, {hi}] (acknowledged .. sent lines)")
        trig = None
        if with_trigger:
            st, data = api(peer, "GET", "/api/v3/configure/processing_engine_trigger?db=bench")
            rows = json.loads(data) if st == 200 else []
            trig = next((t for t in rows if t.get("trigger_name", t.get("name")) == "noop_all"), rows[0] if rows else None)
            stats = (trig or {}).get("stats") or {}
            if not stats.get("runs"):
                fail(f"with trigger: the trigger never ran (HTTP {st}: {data[:500]!r})")
            if stats.get("errors"):
                fail(f"with trigger: {stats['errors']} activations failed: {stats.get('last_error')}")
            trig = stats
        cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
        extra = ""
        if trig:
            extra = (f"; trigger: {trig['runs']} activations, {trig.get('rows_in_total', 0):,} rows handed over, "
                     f"run_time p50 {1e3 * (trig.get('run_time_p50') or 0):.2f} ms, "
                     f"dispatch latency p50 {1e3 * (trig.get('latency_p50') or 0):.2f} ms "
                     f"p99 {1e3 * (trig.get('latency_p99') or 0):.2f} ms")
        log(f"  {label:12s} {lps:>11,.0f} lines/s  ({ok} requests in {elapsed:.2f}s; latency p50 {lat['p50'] / 1e3:.1f} ms "
            f"p99 {lat['p99'] / 1e3:.1f} ms; server CPU {cpu if cpu is not None else float('nan'):.1f}s; "
            f"count {count:,} verified){extra}")
        return {"lps": lps, "ok": ok, "cpu": cpu, "trigger": trig}
    finally:
        peers.stop_peers_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--intervals", default="1s,100ms", help="WAL flush intervals to test (default 1s,100ms)")
    ap.add_argument("--rounds", type=int, default=2, help="ABBA rounds per interval (default 2: 4 runs)")
    ap.add_argument("--duration", type=float, default=30.0,
                    help="seconds of load per run (default 30: with a 1 s flush, requests complete in one burst "
                         "per flush, so a short run's rate moves by a whole flush's worth)")
    ap.add_argument("--connections", "-c", type=int, default=256,
                    help="concurrent requests (default 256: enough to keep pe busy even with a 1 s flush, "
                         "where each request waits for its group commit)")
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=30)
    ap.add_argument("--lines-per-body", type=int, default=5000)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--writer", choices=["auto", "wrk", "python"], default="auto")
    args = ap.parse_args(argv)
    if not 1 <= args.rounds <= 10 or not 1 <= args.duration <= 300:
        ap.error("need 1..10 rounds and 1..300 s")
    if args.writer == "auto":
        args.writer = "wrk" if shutil.which("wrk") else "python"
    if args.writer == "wrk" and not shutil.which("wrk"):
        fail("wrk not found; install with: apt-get install -y wrk  (or use --writer python)")
    args.threads = min(args.threads, args.connections)
    intervals = [x.strip() for x in args.intervals.split(",") if x.strip()]

    n_bodies = max(20, int(math.ceil(args.duration * 100)), args.threads)
    body_dir = peers.make_tmpdir("pe-bench-iwt-bodies-")
    for k, b in enumerate(lpgen.bodies(n_bodies, args.lines_per_body, start_ns=lpgen.default_start_ns(), hosts=args.hosts)):
        (body_dir / f"body_{k:05d}.lp").write_bytes(b)
    writer = (f"wrk -t {args.threads} -c {args.connections} -d {args.duration:g}s (wrk_post.lua)" if args.writer == "wrk"
              else f"in-process writer: {args.connections} threads x 1 keep-alive connection, {args.duration:g}s")
    log(f"ingest with triggers: {n_bodies} bodies x {args.lines_per_body} cpu lines; load: {writer}; "
        f"flush intervals {intervals}; {args.rounds} ABBA round(s) each")
    log(f"machine: {os.cpu_count()} CPUs, load generator on the same machine; {ingest.busy_check()}")

    ratios = {}
    rates = {}
    cpu_ratio: dict[str, float | None] = {}
    for iv in intervals:
        log(f"\n== --wal-flush-interval {iv} ==")
        res = {False: [], True: []}
        for rnd in range(args.rounds):
            for with_trigger in (False, True) if rnd % 2 == 0 else (True, False):
                res[with_trigger].append(one_run(with_trigger, iv, args, body_dir, n_bodies))
        wo = statistics.fmean(r["lps"] for r in res[False])
        wi = statistics.fmean(r["lps"] for r in res[True])
        ratios[iv], rates[iv] = wi / wo, (wo, wi)
        cpu_ratio[iv] = None
        cpu_wo = [r["cpu"] / (r["ok"] * args.lines_per_body) * 1e6 for r in res[False] if r["cpu"]]
        cpu_wi = [r["cpu"] / (r["ok"] * args.lines_per_body) * 1e6 for r in res[True] if r["cpu"]]
        log(f"  mean: without {wo:,.0f} lines/s, with {wi:,.0f} lines/s -> ratio {wi / wo:.3f}; "
            f"runs without {[round(r['lps']) for r in res[False]]}, with {[round(r['lps']) for r in res[True]]}")
        if cpu_wo and cpu_wi:
            cpu_ratio[iv] = statistics.fmean(cpu_wi) / statistics.fmean(cpu_wo)
            log(f"  server CPU per line: without {statistics.fmean(cpu_wo):.2f} µs, with {statistics.fmean(cpu_wi):.2f} µs "
                f"-> with/without {cpu_ratio[iv]:.3f} (independent of how many flush bursts fit in a run)")

    first = intervals[0]
    log(f"\ntarget ratio >= {TARGET}: " + ("met" if ratios[first] >= TARGET else "MISSED") + f" (flush interval {first})")
    log(f"RESULT ingest_with_triggers_lines_per_s_without {rates[first][0]:.0f} lines/s")
    log(f"RESULT ingest_with_triggers_lines_per_s_with {rates[first][1]:.0f} lines/s")
    log(f"RESULT ingest_with_triggers_ratio {ratios[first]:.3f} ratio")
    for iv in intervals:
        log(f"RESULT ingest_with_triggers_ratio_{iv} {ratios[iv]:.3f} ratio")
    for iv in intervals:
        if cpu_ratio[iv] is not None:
            log(f"RESULT ingest_with_triggers_cpu_per_line_ratio_{iv} {cpu_ratio[iv]:.3f} ratio")
    return 0


if __name__ == "__main__":
    run_main(main)
