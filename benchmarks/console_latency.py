"""Console latency under the demo load: activation dispatch with the console attached, and the
time from a key press to the repaint that shows its effect.

One engine (EngineThread, temp data dir) runs what `pe-tui --demo` runs: the demo's databases,
plugins and triggers, WAL flush 500 ms, and its load generator (--rate lines/s of cpu/mem/disk
for 20 hosts plus one request a second). Two phases on that engine:

  baseline   no console: the activations of --baseline seconds, for comparison;
  attached   the console (ConsoleApp over an EngineBridge, default refresh 4 Hz, headless Textual
             driver) in the main thread, on the Triggers pane. --reps times: press `space` on
             demo/hourly_backfill (an every:1h trigger, so toggling it changes nothing else) and
             time, with perf_counter in the console's own loop:
               key -> cell     the Key event is queued on the app exactly as the terminal driver
                               queues it, until the STATE cell of that row shows the new state
                               (polled every 0.5 ms);
               key -> repaint  until the screen refresh after that (App.call_after_refresh):
                               the frame that shows it. This is the number the target is for.
             The key's path: binding -> engine action in a thread worker -> the engine disables/
             enables the trigger on its loop -> result message -> an early tick is collected
             (50 ms after the action, not at the next 250 ms refresh) -> the table cell -> refresh.
             A random 100..300 ms pause between presses.

Activation dispatch = the engine's ActivationRecord.dispatch_latency (job created -> a worker
thread started running it) of every activation that ran in the phase's window.

    python benchmarks/console_latency.py                  # 100 presses
    python benchmarks/console_latency.py --reps 30 --baseline 5

Ends with (ms):
    RESULT console_dispatch_p99_ms <ms> ms               console attached   (target < 2 ms)
    RESULT console_dispatch_baseline_p99_ms <ms> ms      no console, same engine and load
    RESULT console_key_to_repaint_p50_ms <ms> ms
    RESULT console_key_to_repaint_p99_ms <ms> ms          (target < 100 ms)
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DISPATCH_TARGET_MS = 2.0
KEY_TARGET_MS = 100.0
TRIGGER = "demo/hourly_backfill"


def log(msg: str = "") -> None:
    print(msg, flush=True)


def fail(msg: str) -> "NoReturn":  # noqa: F821
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def dist_ms(values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    return (f"n={len(ms):5d}  p50 {pct(ms, 50):7.2f}  p90 {pct(ms, 90):7.2f}  p99 {pct(ms, 99):7.2f}  "
            f"max {max(ms):7.2f} ms")


def ran_between(pe, t0: float, t1: float) -> list:
    from pe_engine.processing.activations import NOT_RUN_STATUSES

    return [a for a in pe.activations.recent(100_000)
            if a.started_at is not None and a.status not in NOT_RUN_STATUSES
            and a.dispatched_at is not None and t0 <= a.dispatched_at <= t1]


def report_dispatch(name: str, recs: list) -> list[float]:
    lat = [a.dispatch_latency for a in recs]
    if not lat:
        fail(f"{name}: no activation ran")
    log(f"  dispatch latency, {name:8s}: {dist_ms(lat)}")
    by: dict[str, list[float]] = defaultdict(list)
    for a in recs:
        by[a.trigger].append(a.dispatch_latency)
    for trig, vals in sorted(by.items()):
        log(f"      {trig:14s} {dist_ms(vals)}")
    return lat


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=100, help="key presses (default 100)")
    ap.add_argument("--baseline", type=float, default=15.0, help="seconds of the no-console phase (default 15)")
    ap.add_argument("--rate", type=int, default=None, help="demo load, lines/s (default: the demo's 600)")
    args = ap.parse_args(argv)

    import logging

    logging.getLogger("pe").addHandler(logging.NullHandler())  # the demo's plugins warn on purpose
    from textual import events

    from pe_engine.config import EngineConfig
    from pe_engine.embedded import EngineThread
    from pe_tui import demo
    from pe_tui.app import ConsoleApp
    from pe_tui.live import EngineBridge

    root = Path(tempfile.mkdtemp(prefix="pe-console-latency-"))
    plugins = root / "plugins"
    demo.install_plugins(plugins)
    et = EngineThread(EngineConfig(data_dir=root / "data", plugin_dir=plugins, http_bind="127.0.0.1:0",
                                   without_auth=True, wal_flush_interval=0.5)).start()
    load = None
    try:
        load = demo.start_demo(et, rate=args.rate)
        pe = et.engine.processing
        log(f"demo load: {load.rate} lines/s, WAL flush 500 ms, {len(pe.triggers)} triggers; warming up 3 s")
        time.sleep(3.0)

        t0 = time.time()
        time.sleep(args.baseline)
        baseline = report_dispatch("baseline", ran_between(pe, t0, time.time()))

        bridge = EngineBridge(et, load=load)
        app = ConsoleApp(bridge)  # default refresh, as pe-tui starts
        key_to_cell: list[float] = []
        key_to_paint: list[float] = []
        state: dict = {}

        async def pilot(p) -> None:
            loop = asyncio.get_running_loop()
            table = app.query_one("#triggers-table")
            deadline = time.monotonic() + 30
            while TRIGGER not in table.keys:
                if time.monotonic() > deadline:
                    state["error"] = f"{TRIGGER} never showed up"
                    app.exit(1)
                    return
                await asyncio.sleep(0.05)
            col = table.column_keys.index("state")
            table.select_key(TRIGGER)
            await asyncio.sleep(0.5)
            state["t0"] = time.time()
            for i in range(args.reps):
                before = table.get_row(TRIGGER)[col].plain
                event = events.Key("space", " ")
                event.set_sender(app)
                t_key = time.perf_counter()
                app.post_message(event)  # what the terminal driver does with a key
                while table.get_row(TRIGGER)[col].plain == before:
                    if time.perf_counter() - t_key > 10:
                        state["error"] = f"press {i}: the cell never changed (still {before!r})"
                        app.exit(1)
                        return
                    await asyncio.sleep(0.0005)
                t_cell = time.perf_counter()
                painted: asyncio.Future = loop.create_future()
                app.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
                t_paint = await painted
                key_to_cell.append(t_cell - t_key)
                key_to_paint.append(t_paint - t_key)
                await asyncio.sleep(random.uniform(0.1, 0.3))
            state["t1"] = time.time()
            state["ticks"] = app.ticks_applied
            app.exit(0)

        log(f"console attached: {args.reps} presses of space on {TRIGGER}")
        app.run(headless=True, auto_pilot=pilot, size=(160, 46))
        bridge.close()
        if "error" in state:
            fail(state["error"])
        attached = report_dispatch("attached", ran_between(pe, state["t0"], state["t1"]))
        log(f"  console ticks applied: {state['ticks']}")
        log(f"  key -> cell   : {dist_ms(key_to_cell)}")
        log(f"  key -> repaint: {dist_ms(key_to_paint)}")
    finally:
        if load is not None:
            load.stop()
        et.stop()
        shutil.rmtree(root, ignore_errors=True)

    d99 = pct(attached, 99) * 1e3
    b99 = pct(baseline, 99) * 1e3
    k50, k99 = pct(key_to_paint, 50) * 1e3, pct(key_to_paint, 99) * 1e3
    log(f"dispatch p99 with the console {d99:.3f} ms (target < {DISPATCH_TARGET_MS:g} ms: "
        f"{'met' if d99 < DISPATCH_TARGET_MS else 'NOT met'}); without {b99:.3f} ms")
    log(f"key -> repaint p99 {k99:.1f} ms (target < {KEY_TARGET_MS:g} ms: {'met' if k99 < KEY_TARGET_MS else 'NOT met'})")
    log(f"RESULT console_dispatch_p99_ms {d99:.3f} ms")
    log(f"RESULT console_dispatch_baseline_p99_ms {b99:.3f} ms")
    log(f"RESULT console_key_to_repaint_p50_ms {k50:.1f} ms")
    log(f"RESULT console_key_to_repaint_p99_ms {k99:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
