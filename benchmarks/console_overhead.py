"""Console overhead: HTTP ingest rate with the pe console attached vs the same engine headless.

Each run starts a fresh engine (EngineThread, HTTP on a free port, a temp data dir) with the
demo's databases, plugins and triggers (pe_tui.demo: WAL triggers on cpu/mem/disk, schedules,
a request trigger), then drives the same wrk load at `POST /api/v3/write_lp?db=demo` from a
separate process for the same duration:

  headless  nothing else in the process: the main thread only waits for wrk;
  attached  the console (ConsoleApp over an EngineBridge, default refresh 4 Hz, headless
            Textual driver) runs in the main thread of the same process for the whole load,
            showing --pane (default: triggers, the pane it starts on).

Rounds alternate the order (headless, attached / attached, headless, ...) so warm-up and disk
drift do not favour one mode; the ratio is median(attached) / median(headless). Ingest rate =
lines in requests wrk saw acknowledged (2xx) / wrk's own duration; the engine's row count is
checked against it afterwards (every acknowledged line must be stored).

The load is sized to keep the engine busy (CPU-bound, not waiting on WAL flushes): 16
connections, 1,000-line bodies, 100 ms WAL flush. The process CPU use of each run is printed
(~100% means one core: the GIL).

    python benchmarks/console_overhead.py                     # 2 rounds x 10 s per mode
    python benchmarks/console_overhead.py --duration 5 --rounds 1
    python benchmarks/console_overhead.py --pane activations  # the busiest pane on screen
    python benchmarks/console_overhead.py --no-triggers       # the engine only ingests
    python benchmarks/console_overhead.py --quick             # 5 s per run, 1 round, both isolations

Both plugin isolation modes run in the same invocation (`--isolation thread,process`), each
run a fresh engine, the orders alternating; in process mode the worker processes' CPU is
printed beside the engine's.

Ends with (and the same per mode, `console_overhead_<mode>_...`; unprefixed = thread):
    RESULT console_overhead_headless_lines_per_s <n> lines/s
    RESULT console_overhead_attached_lines_per_s <n> lines/s
    RESULT console_overhead_ratio <attached/headless> ratio      (target >= 0.9)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import lpgen  # noqa: E402

TARGET = 0.9
PANES = ("triggers", "activations", "performance", "logs", "caches", "plugins")


def log(msg: str = "") -> None:
    print(msg, flush=True)


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def quiet_logs() -> None:
    """The demo's plugins log warnings and errors on purpose: keep them off the terminal."""
    import logging

    logging.getLogger("pe").addHandler(logging.NullHandler())


def start_engine(root: Path, flush: float, triggers: bool = True, isolation: str = "thread"):
    from pe_engine.config import EngineConfig
    from pe_engine.embedded import EngineThread
    from pe_tui import demo
    from pe_tui.live import SUBSCRIPTION_MAXLEN

    plugins = root / "plugins"
    demo.install_plugins(plugins)
    config = EngineConfig(data_dir=root / "data", plugin_dir=plugins, http_bind="127.0.0.1:0",
                          without_auth=True, wal_flush_interval=flush, plugin_isolation=isolation)
    et = EngineThread(config)
    sub = et.engine.bus.subscribe(SUBSCRIPTION_MAXLEN)  # as pe-tui does: before start
    et.start()
    if triggers:
        et.run(demo.create_triggers(et.engine), timeout=60)
    else:
        et.run(et.engine.create_database("demo"))
    return et, sub


def wrk_load(url: str, body_dir: Path, n_bodies: int, args) -> dict:
    import ingest  # the wrk runner and its output parser (benchmarks/ingest.py)

    return ingest.run_wrk(url, body_dir, n_bodies, args.threads, args.connections, args.duration, 30)


def run_once(mode: str, args, body_dir: Path, n_bodies: int, isolation: str = "thread") -> dict:
    import psutil

    root = Path(tempfile.mkdtemp(prefix=f"pe-console-overhead-{mode}-"))
    et, sub = start_engine(root, args.flush, triggers=not args.no_triggers, isolation=isolation)
    url = f"{et.url}/api/v3/write_lp?db=demo&precision=nanosecond"
    proc = psutil.Process()
    result: dict = {}
    app = None
    try:
        time.sleep(0.5)  # let the start-up settle (first schedule ticks, plugin loads)
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        kids0 = worker_cpu(et)
        if mode == "headless":
            result["wrk"] = wrk_load(url, body_dir, n_bodies, args)
            et.engine.bus.unsubscribe(sub)
        else:
            from pe_tui.app import ConsoleApp
            from pe_tui.live import EngineBridge

            bridge = EngineBridge(et, subscription=sub)
            app = ConsoleApp(bridge)  # default refresh (4 Hz), as `pe-tui` starts

            async def pilot(p) -> None:
                if args.pane != "triggers":
                    app.action_show_pane(args.pane)
                done = threading.Event()

                def load() -> None:
                    try:
                        result["wrk"] = wrk_load(url, body_dir, n_bodies, args)
                    except SystemExit as e:  # ingest.fail() -> report it after the app exits
                        result["error"] = f"wrk failed ({e})"
                    finally:
                        done.set()

                threading.Thread(target=load, name="wrk", daemon=True).start()
                while not done.is_set():
                    await asyncio.sleep(0.1)
                result["ticks"] = app.ticks_applied
                app.exit(0)

            app.run(headless=True, auto_pilot=pilot, size=(160, 46))
            bridge.close()
            if "error" in result:
                fail(result["error"])
        cpu1, t1 = proc.cpu_times(), time.monotonic()
        result["cpu_pct"] = 100.0 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0)
        kids1 = worker_cpu(et)
        result["worker_cpu_pct"] = 100.0 * sum(v - kids0.get(k, 0.0) for k, v in kids1.items()) / (t1 - t0)
        w = result["wrk"]
        ok = sum(t["ok"] for t in w["threads"])
        non2xx = sum(t["non2xx"] for t in w["threads"])
        if non2xx:
            fail(f"{mode}: {non2xx} non-2xx responses: {w['errors'][:3]}")
        secs = w["summary"]["duration_us"] / 1e6
        result["lines"] = ok * args.lines_per_body
        result["rate"] = result["lines"] / secs
        result["p99_ms"] = w["latency_us"]["p99"] / 1e3
        stored = et.run(et.engine.query("demo", "SELECT count(*) AS n FROM cpu")).to_pylist()[0]["n"]
        # wrk cycles through the bodies: past n_bodies requests a body repeats points already stored
        expected = min(result["lines"], n_bodies * args.lines_per_body)
        if stored < expected:
            fail(f"{mode}: {result['lines']} lines acknowledged ({expected} distinct) but only {stored} stored")
        pe = et.engine.processing
        result["activations"] = pe.activations.total_recorded
        px = pe.executor.describe().get("process")
        result["replaced"] = px["replaced"] if px else 0
    finally:
        et.stop()
        shutil.rmtree(root, ignore_errors=True)
    extra = f", {result['ticks']} console ticks applied" if "ticks" in result else ""
    if isolation == "process":
        extra += f", worker processes' CPU {result['worker_cpu_pct']:.0f}%, {result['replaced']} workers replaced"
    log(f"  {isolation:7s} {mode:8s}: {result['rate']:>12,.0f} lines/s  (wrk p99 {result['p99_ms']:.1f} ms, "
        f"process CPU {result['cpu_pct']:.0f}%, {result['activations']:,} activations{extra})")
    return result


def worker_cpu(et) -> dict[int, float]:
    """CPU seconds (user + system) of each live plugin worker process (process isolation)."""
    import psutil

    px = et.engine.processing.executor.describe().get("process")
    out = {}
    for pid in (px or {}).get("pids", []):
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load per run (default 10)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per mode, order alternating (default 2)")
    ap.add_argument("--isolation", default="thread,process", help="comma-separated plugin isolation modes (default both)")
    ap.add_argument("--quick", action="store_true", help="5 s per run, 1 round")
    ap.add_argument("--connections", "-c", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--lines-per-body", type=int, default=1000, help="lines per request (default 1000)")
    ap.add_argument("--flush", type=float, default=0.1, help="WAL flush interval, s (default 0.1)")
    ap.add_argument("--pane", choices=PANES, default="triggers", help="pane on screen while attached")
    ap.add_argument("--no-triggers", action="store_true", help="no demo triggers: the engine only ingests")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = min(args.duration, 5.0), 1
    isolations = [x.strip() for x in args.isolation.split(",") if x.strip()]
    if not isolations or any(m not in ("thread", "process") for m in isolations):
        ap.error("--isolation: thread and/or process")
    quiet_logs()
    if not shutil.which("wrk"):
        fail("wrk is missing: apt-get install -y wrk")
    try:
        import psutil  # noqa: F401
    except ImportError:
        fail("psutil is missing (a dev dependency): pip install psutil")

    n_bodies = 400
    body_dir = Path(tempfile.mkdtemp(prefix="pe-console-overhead-bodies-"))
    try:
        hosts = 20  # the demo's plugins keep per-host state: a demo-sized fleet
        for k, b in enumerate(lpgen.bodies(n_bodies, args.lines_per_body, start_ns=lpgen.default_start_ns(),
                                           hosts=hosts)):
            (body_dir / f"body_{k:05d}.lp").write_bytes(b)
        log(f"machine: {os.cpu_count()} CPUs; wrk (-t {args.threads} -c {args.connections}) runs on the same machine")
        log(f"load: {n_bodies} bodies x {args.lines_per_body} cpu lines ({hosts} hosts), {args.duration:g} s per run, "
            f"WAL flush {args.flush * 1e3:g} ms, demo triggers {'off' if args.no_triggers else 'on'}; "
            f"console pane: {args.pane}")
        rates: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            order = ("headless", "attached") if r % 2 == 0 else ("attached", "headless")
            isos = isolations if r % 2 == 0 else isolations[::-1]
            log(f"round {r + 1}/{args.rounds}")
            for iso in isos:
                for mode in (order if isos.index(iso) % 2 == 0 else order[::-1]):
                    rates.setdefault((iso, mode), []).append(run_once(mode, args, body_dir, n_bodies, iso)["rate"])
    finally:
        shutil.rmtree(body_dir, ignore_errors=True)
    out = {}
    for iso in isolations:
        h, a = statistics.median(rates[(iso, "headless")]), statistics.median(rates[(iso, "attached")])
        out[iso] = (h, a, a / h)
        log(f"{iso}: median headless {h:,.0f} lines/s, attached {a:,.0f} lines/s -> ratio {a / h:.3f} "
            f"(target >= {TARGET}: {'met' if a / h >= TARGET else 'NOT met'})")
    if "thread" in out:  # the names before process isolation existed
        h, a, ratio = out["thread"]
        log(f"RESULT console_overhead_headless_lines_per_s {h:.0f} lines/s")
        log(f"RESULT console_overhead_attached_lines_per_s {a:.0f} lines/s")
        log(f"RESULT console_overhead_ratio {ratio:.3f} ratio")
    for iso, (h, a, ratio) in out.items():
        log(f"RESULT console_overhead_{iso}_headless_lines_per_s {h:.0f} lines/s")
        log(f"RESULT console_overhead_{iso}_attached_lines_per_s {a:.0f} lines/s")
        log(f"RESULT console_overhead_{iso}_ratio {ratio:.3f} ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
