"""Schedule trigger jitter: 100 `every:1s` triggers with a no-op plugin for ~15 s.

In-process Engine; every trigger fires on the same whole second (every:1s fires at
multiples of 1 s since the epoch), so each tick dispatches 100 activations at once.
Jitter = the engine's ActivationRecord started_at - scheduled_at (worker thread picked the
activation up; both epoch seconds). Also printed: plugin entered - scheduled time (the
plugin's first statement, time.time(), via plugins/noop_probe.py), and the same split by
the order in which a tick's triggers started (first / last of the 100).

Both isolation modes in the same run (`--isolation thread,process`), each in a fresh engine,
the order alternating over `--rounds`; RESULTs are medians over the rounds. In process mode
started_at is when the engine thread that holds the conversation with a worker started, so
"plugin entered" (in the worker, reported over bench_probe's socket) is the one that counts.

    python benchmarks/schedule_jitter.py                    # 100 triggers, 15 s, both modes, 2 rounds
    python benchmarks/schedule_jitter.py --quick            # 8 s, 1 round
    python benchmarks/schedule_jitter.py --triggers 10 --seconds 5 --isolation process

Ends with (per mode; the unprefixed names are thread mode, as before process isolation):
    RESULT schedule_jitter_<mode>_p99_ms <v> ms          started_at - scheduled_at, p99 over all
    RESULT schedule_jitter_<mode>_entered_p99_ms <v> ms  plugin entered - scheduled time, p99
    RESULT schedule_jitter_<mode>_first_p99_ms <v> ms    per tick, the earliest trigger, p99
Target: p99 < 5 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PLUGINS = HERE / "plugins"
for p in (str(REPO), str(HERE), str(PLUGINS)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_probe  # noqa: E402
from activation_latency import busy_check, dist, pct  # noqa: E402

TARGET_MS = 5.0


def log(msg: str = "") -> None:
    print(msg, flush=True)


async def run(n: int, seconds: float, tmp: Path, plugin_threads: int, isolation: str = "thread",
              processes: int = 4) -> dict:
    from pe_engine.config import EngineConfig
    from pe_engine.engine import Engine
    from pe_engine.events import ActivationFinished

    pdir = tmp / "plugins"
    pdir.mkdir(parents=True)
    shutil.copy(PLUGINS / "noop_probe.py", pdir / "noop_probe.py")
    bench_probe.reset()
    cfg = EngineConfig(data_dir=tmp / "data", plugin_dir=pdir, plugin_threads=plugin_threads,
                       plugin_isolation=isolation, plugin_processes=processes)
    async with Engine(cfg) as e:
        pe = e.processing
        await e.create_database("db")
        sub = e.bus.subscribe(maxlen=1_000_000)
        # create all triggers within one second, just after a tick, so they share every tick
        await asyncio.sleep(1.05 - (time.time() % 1.0))
        t0 = time.time()
        for j in range(n):
            await pe.create_trigger("db", f"s{j}", "noop_probe.py", "every:1s", arguments={"i": str(j)})
        log(f"  created {n} every:1s triggers in {time.time() - t0:.2f}s; plugin threads {pe.pool.size}")
        first_tick = int(time.time()) + 1
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            bench_probe.collect()
            await asyncio.sleep(0.05)
        last_tick = int(time.time())  # ticks that have surely started by now: < last_tick
        await asyncio.sleep(0.5)  # let the last tick's activations finish
        bench_probe.collect()
        recs = [ev.record for ev in sub.drain() if isinstance(ev, ActivationFinished)]
        e.bus.unsubscribe(sub)
        entries = list(bench_probe.schedule_entries)
        for k in [k for k in pe.triggers]:
            await pe.disable_trigger(*k)
    recs = [r for r in recs if r.scheduled_at is not None and first_tick <= r.scheduled_at < last_tick]
    bad = [r for r in recs if r.status != "ok"]
    if bad:
        raise SystemExit(f"FAIL: {len(bad)} activations failed, e.g. {bad[0].status}: {bad[0].error}")
    ticks = sorted({round(r.scheduled_at) for r in recs})
    jit = [r.started_at - r.scheduled_at for r in recs]
    by_tick: dict[int, list[float]] = {}
    for r in recs:
        by_tick.setdefault(round(r.scheduled_at), []).append(r.started_at - r.scheduled_at)
    ent = [w - call for _, w, _, call in entries if first_tick <= call < last_tick]
    expected = n * len(ticks)
    wake = {}
    for r in recs:  # scheduler lateness: the first job of a tick created - the tick
        k = round(r.scheduled_at)
        wake[k] = min(wake.get(k, 1e9), r.dispatched_at - r.scheduled_at)
    disp = [r.dispatched_at - r.scheduled_at for r in recs]
    hop = [r.started_at - r.dispatched_at for r in recs]
    return {"wake": list(wake.values()), "disp": disp, "hop": hop, "jit": jit, "entered": ent, "first": [min(v) for v in by_tick.values()],
            "last": [max(v) for v in by_tick.values()], "ticks": len(ticks), "expected": expected,
            "complete": sum(1 for v in by_tick.values() if len(v) == n), "early": sum(1 for x in jit if x < 0)}


def report(r: dict, n: int) -> None:
    n_recs = len(r["jit"])
    log(f"  {r['ticks']} whole ticks measured, {n_recs} activations (expected {r['expected']}; "
        f"{r['complete']} ticks had all {n}); started before the scheduled time: {r['early']}")
    if n_recs < r["expected"]:
        log(f"  WARNING: {r['expected'] - n_recs} activations missing")
    log(f"  started_at - scheduled_at   {dist(r['jit'])}")
    log(f"  plugin entered - scheduled  {dist(r['entered'])}")
    log(f"  per tick, first trigger     {dist(r['first'])}")
    log(f"  per tick, last trigger      {dist(r['last'])}  (the fan-out of {n} activations)")
    log("  where the time goes:")
    log(f"    scheduler wake-up (tick -> first job created)   {dist(r['wake'])}")
    log(f"    tick -> job created, every activation         {dist(r['disp'])}")
    log(f"    job created -> worker started (pool + GIL)    {dist(r['hop'])}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triggers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--isolation", default="thread,process", help="comma-separated modes (default thread,process)")
    ap.add_argument("--processes", type=int, default=4, help="EngineConfig.plugin_processes (default 4)")
    ap.add_argument("--rounds", type=int, default=None, help="runs per mode, order alternating (default 2, --quick 1)")
    ap.add_argument("--quick", action="store_true", help="8 s per mode, 1 round")
    ap.add_argument("--plugin-threads", type=int, default=8, help="EngineConfig.plugin_threads (default 8, as pe serve)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 8.0)
    rounds = args.rounds or (1 if args.quick else 2)
    modes = [x.strip() for x in args.isolation.split(",") if x.strip()]
    if not 1 <= args.triggers <= 2000 or not 2 <= args.seconds <= 600:
        ap.error("need 1..2000 triggers and 2..600 seconds")
    if not modes or any(m not in ("thread", "process") for m in modes):
        ap.error("--isolation: thread and/or process")
    bench_probe.listen()
    log(f"schedule jitter: {args.triggers} every:1s no-op triggers for {args.seconds:g} s (in-process Engine), "
        f"isolation {modes}, {rounds} round(s)")
    log(f"python {sys.version.split()[0]}; {busy_check()}")
    res: dict[str, list[dict]] = {}
    for rnd in range(rounds):
        for mode in (modes if rnd % 2 == 0 else modes[::-1]):
            log(f"\n== {mode} isolation, round {rnd + 1} ==")
            tmp = Path(tempfile.mkdtemp(prefix="pe-bench-sched-"))
            try:
                r = asyncio.run(run(args.triggers, args.seconds, tmp, args.plugin_threads, mode, args.processes))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            report(r, args.triggers)
            res.setdefault(mode, []).append(r)
    med = lambda mode, key: statistics.median(pct(r[key], 99) * 1e3 for r in res[mode])  # noqa: E731
    log("")
    for mode in res:
        p99 = med(mode, "jit")
        ent = med(mode, "entered")
        log(f"{mode}: started p99 {p99:.3f} ms, entered p99 {ent:.3f} ms (rounds: "
            + ", ".join(f"{pct(r['entered'], 99) * 1e3:.3f}" for r in res[mode])
            + f"); target p99 < {TARGET_MS:g} ms (entered): " + ("met" if ent < TARGET_MS else "MISSED"))
    if "thread" in res:
        log(f"RESULT schedule_jitter_p99_ms {med('thread', 'jit'):.3f} ms")
        log(f"RESULT schedule_jitter_entered_p99_ms {med('thread', 'entered'):.3f} ms")
        log(f"RESULT schedule_jitter_first_p99_ms {med('thread', 'first'):.3f} ms")
    for mode in res:
        log(f"RESULT schedule_jitter_{mode}_p99_ms {med(mode, 'jit'):.3f} ms")
        log(f"RESULT schedule_jitter_{mode}_entered_p99_ms {med(mode, 'entered'):.3f} ms")
        log(f"RESULT schedule_jitter_{mode}_first_p99_ms {med(mode, 'first'):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
