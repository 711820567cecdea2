"""Crash recovery in process isolation: a plugin's worker segfaults; how soon do triggers run again?

An in-process Engine with `plugin_isolation="process"` (flush interval 10 ms) and two WAL
triggers running plugins/crash_probe.py:
  A  `table:cpu`, may crash: when the batch's first row has `crash=1i` it holds 100 ms, records
     the moment (perf_counter, CLOCK_MONOTONIC: one clock for the engine and every worker) and
     does `ctypes.string_at(0)` (SIGSEGV in the worker);
  B  `table:mem`, never crashes.
Per crash: write `cpu ... crash=1i` (flush 1, A enters and holds); while A holds, write one
body with `cpu ... crash=0i` and `mem ...` (flush 2: A's next activation queues behind the
crashing one, since A is a sequential trigger; B's activation is dispatched at once). Then:
  same trigger       crash -> A's next activation entered (the engine sees the worker die
                     on its pidfd, records `crashed`, retires the worker, the runtime starts
                     A's queued job, which needs a free worker, then the usual prelude)
  different trigger  crash -> B's flush-2 activation entered. With one worker process B has
                     to wait for the replacement; with spare workers B does not wait for the
                     crash at all (negative: B entered before it, during A's hold)
  crash recorded     crash -> the `crashed` ActivationRecord's finished_at
Each `--processes` value is a fresh engine; the runs alternate over `--rounds`. Also timed: a
bare worker start (`workers.spawn_worker`: interpreter + pyarrow + the worker's imports, until
its `ready`), which is what a replacement costs when no spare is idle.

    python benchmarks/crash_recovery.py                 # 30 crashes per case, processes 1 and 4
    python benchmarks/crash_recovery.py --quick         # 6 crashes per case
    python benchmarks/crash_recovery.py --processes 2 --crashes 50

Ends with (ms):
    RESULT crash_recovery_same_p50_<P>proc_ms / _p99_...    crash -> same trigger entered
    RESULT crash_recovery_other_p50_<P>proc_ms / _p99_...   crash -> other trigger entered
    RESULT crash_recovery_recorded_p99_<P>proc_ms           crash -> `crashed` recorded
    RESULT crash_recovery_worker_spawn_p50_ms               one worker start, bare
"""
from __future__ import annotations

import argparse
import asyncio
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


def log(msg: str = "") -> None:
    print(msg, flush=True)


async def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        bench_probe.collect()
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def run_case(processes: int, crashes: int, warmup: int, hold: float, tmp: Path) -> dict:
    from pe_engine.config import EngineConfig
    from pe_engine.engine import Engine
    from pe_engine.events import ActivationFinished

    pdir = tmp / "plugins"
    pdir.mkdir(parents=True)
    shutil.copy(PLUGINS / "crash_probe.py", pdir / "crash_probe.py")
    bench_probe.reset()
    cfg = EngineConfig(data_dir=tmp / "data", plugin_dir=pdir, wal_flush_interval=0.01,
                       plugin_isolation="process", plugin_processes=processes)
    same, other, recorded, other_from_write = [], [], [], []
    skipped = 0
    async with Engine(cfg) as e:
        pe = e.processing
        await e.create_database("db")
        await e.write_lp("db", "cpu,host=h0 k=-1i,crash=0i\nmem,host=h0 k=-1i")
        await pe.create_trigger("db", "A", "crash_probe.py", "table:cpu",
                                arguments={"i": "A", "may_crash": "1", "hold": str(hold)})
        await pe.create_trigger("db", "B", "crash_probe.py", "table:mem", arguments={"i": "B"})
        sub = e.bus.subscribe(maxlen=100_000)
        wall_off = time.time() - time.perf_counter()

        def entered(i, k):
            return next((t for ti, t, kk in bench_probe.wal_entries if ti == i and kk == k), None)

        for c in range(-warmup, crashes):
            bench_probe.reset()
            sub.drain()
            k1, k2 = 2 * (c + warmup), 2 * (c + warmup) + 1
            await e.write_lp("db", f"cpu,host=h0 k={k1}i,crash=1i")
            await wait_for(lambda: entered("A", k1), 30, f"crash {c}: A entered")
            t_write = time.perf_counter()
            await e.write_lp("db", f"cpu,host=h0 k={k2}i,crash=0i\nmem,host=h0 k={k2}i")
            t_flushed = time.perf_counter()
            crash = await wait_for(lambda: next((x for x in bench_probe.extra if x[0] == "crash" and x[2] == k1), None),
                                   30, f"crash {c}: the crash marker")
            ta = await wait_for(lambda: entered("A", k2), 60, f"crash {c}: A's next activation")
            tb = await wait_for(lambda: entered("B", k2), 60, f"crash {c}: B's activation")
            recs: list = []

            def crashed():
                recs.extend(ev.record for ev in sub.drain() if isinstance(ev, ActivationFinished))
                return next((r for r in recs if r.trigger == "A" and r.status == "crashed"), None)
            rec = await wait_for(crashed, 30, f"crash {c}: the crashed record")
            if t_flushed > crash[3]:  # flush 2 was not queued when A crashed: not this measurement
                skipped += 1
            elif c >= 0:
                tc = crash[3]
                same.append(ta - tc)
                other.append(tb - tc)
                other_from_write.append(tb - t_flushed)
                recorded.append(rec.finished_at - wall_off - tc)
            del t_write
        d = pe.executor.describe()["process"]
        e.bus.unsubscribe(sub)
    return {"same": same, "other": other, "recorded": recorded, "other_from_flush": other_from_write,
            "replaced": d["replaced"], "started": d["started"], "skipped": skipped}


def spawn_times(n: int) -> list[float]:
    from pe_engine.processing.executors.workers import spawn_worker

    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        w = spawn_worker(0, 60.0)
        out.append(time.perf_counter() - t0)
        w.stop()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", default="1,4", help="comma-separated plugin_processes values (default 1,4)")
    ap.add_argument("--crashes", type=int, default=30, help="measured crashes per case (default 30)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured crashes first (default 2)")
    ap.add_argument("--rounds", type=int, default=None, help="runs per case, order alternating (default 1)")
    ap.add_argument("--hold", type=float, default=0.1, help="seconds A holds before it crashes (default 0.1)")
    ap.add_argument("--spawns", type=int, default=5, help="bare worker starts timed (default 5)")
    ap.add_argument("--quick", action="store_true", help="6 crashes per case, 3 spawns")
    args = ap.parse_args(argv)
    if args.quick:
        args.crashes, args.warmup, args.spawns = min(args.crashes, 6), 1, min(args.spawns, 3)
    procs = [int(x) for x in args.processes.split(",") if x.strip()]
    rounds = args.rounds or 1
    bench_probe.listen()
    log(f"crash recovery: process isolation, {args.crashes} segfaults per case (+{args.warmup} warm-up), "
        f"plugin_processes {procs}, hold {args.hold * 1e3:g} ms, {rounds} round(s)")
    log(f"python {sys.version.split()[0]}; {busy_check()}")
    res: dict[int, list[dict]] = {}
    for rnd in range(rounds):
        for p in (procs if rnd % 2 == 0 else procs[::-1]):
            log(f"\n== plugin_processes={p}, round {rnd + 1} ==")
            tmp = Path(tempfile.mkdtemp(prefix="pe-bench-crash-"))
            try:
                r = asyncio.run(run_case(p, args.crashes, args.warmup, args.hold, tmp))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            res.setdefault(p, []).append(r)
            log(f"  workers started {r['started']}, replaced {r['replaced']}; crashes skipped because flush 2 "
                f"ended after the crash: {r['skipped']}")
            log(f"  crash -> same trigger entered       {dist(r['same'])}")
            log(f"  crash -> other trigger entered      {dist(r['other'])}  "
                f"({sum(1 for x in r['other'] if x < 0)} entered before the crash)")
            log(f"  flush 2 written -> other entered    {dist(r['other_from_flush'])}")
            log(f"  crash -> `crashed` recorded         {dist(r['recorded'])}")
    log("\n== bare worker start (spawn_worker until `ready`) ==")
    sp = spawn_times(args.spawns)
    log(f"  {dist(sp)}")
    med = lambda p, key, q: statistics.median(pct(r[key], q) * 1e3 for r in res[p])  # noqa: E731
    for p in res:
        for key in ("same", "other"):
            log(f"RESULT crash_recovery_{key}_p50_{p}proc_ms {med(p, key, 50):.3f} ms")
            log(f"RESULT crash_recovery_{key}_p99_{p}proc_ms {med(p, key, 99):.3f} ms")
        log(f"RESULT crash_recovery_recorded_p99_{p}proc_ms {med(p, 'recorded', 99):.3f} ms")
    log(f"RESULT crash_recovery_worker_spawn_p50_ms {statistics.median(sp) * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
