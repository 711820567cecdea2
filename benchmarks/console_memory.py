"""Console memory under the demo load: RSS of the process (engine + console) over N minutes.

What `pe-tui --demo` runs, in one process: an engine (EngineThread, temp data dir, WAL flush
500 ms) with the demo's plugins, triggers and load generator (600 lines/s + a request a second),
and the console (ConsoleApp over an EngineBridge, default refresh 4 Hz, headless Textual driver)
in the main thread. While it runs the console cycles through its six panes (one every 10 s), so
every pane's buffers fill. RSS is sampled every --every seconds; after a warm-up (--warmup, default
a quarter of the run, at most 60 s) a least-squares line is fitted to the samples: its slope is the
growth per minute. A flat console gives ~0 (the engine's own in-memory write buffer grows too,
until its next snapshot to Parquet: --baseline measures the same engine and load without the
console, for the difference; each phase then runs in a fresh process).

    python benchmarks/console_memory.py                       # 10 minutes, as the issue asks
    python benchmarks/console_memory.py --minutes 2 --baseline

Ends with:
    RESULT console_memory_growth_mb_per_min <slope> MB/min
    RESULT console_memory_rss_mb <last sample> MB
    (--baseline) RESULT console_memory_baseline_growth_mb_per_min <slope> MB/min
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PANES = ("triggers", "activations", "performance", "logs", "caches", "plugins")


def log(msg: str = "") -> None:
    print(msg, flush=True)


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(m for _, m in samples) / n
    sxx = sum((t - mx) ** 2 for t, _ in samples)
    sxy = sum((t - mx) * (m - my) for t, m in samples)
    return (sxy / sxx) * 60.0 if sxx else 0.0


class Sampler:
    """RSS every `every` seconds in a thread of its own (the console's loop may be busy)."""

    def __init__(self, every: float) -> None:
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            t = time.monotonic() - self._t0
            mb = self.proc.memory_info().rss / 2**20
            self.samples.append((t, mb))
            log(f"  {t:6.0f} s  RSS {mb:8.1f} MB")
            if self._stop.wait(self.every):
                return

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


def start_demo(root: Path):
    from pe_engine.config import EngineConfig
    from pe_engine.embedded import EngineThread
    from pe_tui import demo
    from pe_tui.live import SUBSCRIPTION_MAXLEN

    plugins = root / "plugins"
    demo.install_plugins(plugins)
    et = EngineThread(EngineConfig(data_dir=root / "data", plugin_dir=plugins, http_bind="127.0.0.1:0",
                                   without_auth=True, wal_flush_interval=0.5))
    sub = et.engine.bus.subscribe(SUBSCRIPTION_MAXLEN)  # as pe-tui does: before start
    et.start()
    load = demo.start_demo(et)
    return et, sub, load


def run(seconds: float, every: float, console: bool) -> tuple[list[tuple[float, float]], dict]:
    root = Path(tempfile.mkdtemp(prefix="pe-console-memory-"))
    et, sub, load = start_demo(root)
    info: dict = {}
    try:
        if not console:
            et.engine.bus.unsubscribe(sub)
            sampler = Sampler(every).start()
            time.sleep(seconds)
            samples = sampler.stop()
        else:
            from pe_tui.app import ConsoleApp
            from pe_tui.live import EngineBridge
            from pe_tui.panes import ActivationsPane, LogsPane

            bridge = EngineBridge(et, load=load, subscription=sub)
            app = ConsoleApp(bridge)  # default refresh, as pe-tui starts
            holder: dict = {}

            async def pilot(p) -> None:
                holder["sampler"] = Sampler(every).start()
                t_end = time.monotonic() + seconds
                i = 0
                while time.monotonic() < t_end:
                    app.action_show_pane(PANES[i % len(PANES)])
                    i += 1
                    await asyncio.sleep(min(10.0, max(0.0, t_end - time.monotonic())))
                holder["samples"] = holder["sampler"].stop()
                acts = app.query_one(ActivationsPane)
                logs = app.query_one(LogsPane)
                info.update(ticks=app.ticks_applied, records=len(acts.records), log_lines=len(logs.lines),
                            log_widget_lines=logs.log_widget.line_count, dropped=bridge.sub.dropped)
                app.exit(0)

            app.run(headless=True, auto_pilot=pilot, size=(160, 46))
            bridge.close()
            samples = holder["samples"]
        info["lines_written"] = load.lines_written
    finally:
        load.stop()
        et.stop()
        shutil.rmtree(root, ignore_errors=True)
        gc.collect()
    return samples, info


def fitted(name: str, samples: list[tuple[float, float]], warmup: float) -> float:
    after = [(t, m) for t, m in samples if t >= warmup]
    if len(after) < 3:
        fail(f"{name}: only {len(after)} samples after the {warmup:g} s warm-up; run longer or sample more often")
    s = slope_per_min(after)
    log(f"  {name}: {len(after)} samples after {warmup:g} s: {after[0][1]:.1f} -> {after[-1][1]:.1f} MB, "
        f"fitted growth {s:+.2f} MB/min")
    return s


def phase(console: bool, args, seconds: float, warmup: float) -> float:
    """Run one phase in this process; print a PHASE line for the parent."""
    samples, info = run(seconds, args.every, console=console)
    name = "console attached" if console else "baseline"
    growth = fitted(name, samples, warmup)
    if console:
        log(f"  console: {info['ticks']} ticks applied; kept {info['records']:,} activations, "
            f"{info['log_lines']:,} log lines ({info['log_widget_lines']:,} in the Log widget); "
            f"{info['dropped']:,} bus events dropped; {info['lines_written']:,} lines written by the load")
    log(f"PHASE {growth:.4f} {samples[-1][1]:.1f}")
    return growth


def in_subprocess(which: str, args) -> tuple[float, float]:
    """Each phase in a fresh process: a heap grown by one run must not make the other look flat."""
    import subprocess

    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", which, "--minutes", str(args.minutes),
           "--every", str(args.every)]
    if args.warmup is not None:
        cmd += ["--warmup", str(args.warmup)]
    out = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    result = None
    assert out.stdout is not None
    for line in out.stdout:
        if line.startswith("PHASE "):
            _, growth, rss = line.split()
            result = (float(growth), float(rss))
        else:
            print(line, end="", flush=True)
    if out.wait() != 0 or result is None:
        fail(f"the {which} phase failed (exit {out.returncode})")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds left out of the fit (default: a quarter of the run, at most 60)")
    ap.add_argument("--baseline", action="store_true",
                    help="also run the engine and load alone, as long (each phase in a fresh process)")
    ap.add_argument("--phase", choices=("console", "baseline"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        import psutil  # noqa: F401
    except ImportError:
        fail("psutil is missing (a dev dependency): pip install psutil")
    import logging

    logging.getLogger("pe").addHandler(logging.NullHandler())  # the demo's plugins warn on purpose
    seconds = args.minutes * 60.0
    warmup = args.warmup if args.warmup is not None else min(60.0, seconds / 4)
    if args.phase is not None:
        phase(args.phase == "console", args, seconds, warmup)
        return 0
    log(f"demo load + console (refresh 4 Hz, panes cycling every 10 s) for {args.minutes:g} min, "
        f"RSS every {args.every:g} s, warm-up {warmup:g} s")
    growth, rss = in_subprocess("console", args)
    base = None
    if args.baseline:
        log(f"baseline: the same engine and load without the console for {args.minutes:g} min")
        base, _ = in_subprocess("baseline", args)
        log(f"  difference (console's share): {growth - base:+.2f} MB/min")
    log(f"RESULT console_memory_growth_mb_per_min {growth:.2f} MB/min")
    log(f"RESULT console_memory_rss_mb {rss:.1f} MB")
    if base is not None:
        log(f"RESULT console_memory_baseline_growth_mb_per_min {base:.2f} MB/min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
