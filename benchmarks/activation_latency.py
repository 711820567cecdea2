"""WAL trigger activation latency: flush done -> plugin entered (perf-reliability.md §2).

An in-process Engine (flush interval 10 ms by default) with 1, 50 and 500 WAL triggers
(`table:cpu`, no-op plugin `plugins/noop_probe.py`). Each measured flush carries one small
write (one line whose `k` field numbers the flush); the script waits until every trigger
has run for that flush before writing the next one, so each flush is measured on its own
(no queue left over from the previous one), then sleeps a random 0..interval.

Clocks, all `time.perf_counter()` in the same process:
  flush done     a flush subscriber put right before the processing engine's own one
                 (called after fsync, buffer update, writer acknowledgement and the value
                 caches, right before processing fans the batch out to the triggers)
  plugin entered first statement of the plugin's `process_writes`

Reported per trigger count:
  per activation   every (trigger, flush) pair: entered - flush done
  first entered    per flush: the earliest trigger's entry - flush done
  all entered      per flush: the last trigger's entry - flush done
and where the time goes (means, per activation), from the engine's own ActivationRecords
(dispatched_at = job created in the fan-out, started_at = worker thread picked it up):
  fan-out       flush done -> job created (the j-th trigger waits for j-1 submits before it)
  pool hop      job created -> worker started (queue, thread wake-up, GIL)
  prelude       worker started -> plugin entered (executor set-up, plugin load + module exec)
plus micro-benchmarks of the prelude's parts.

    python benchmarks/activation_latency.py                    # 1, 50, 500 triggers x 200 flushes, both modes x 2 rounds
    python benchmarks/activation_latency.py --quick            # 30 flushes (10 at 500), 1 round
    python benchmarks/activation_latency.py --triggers 1,50 --flushes 300 --interval 0.02
    python benchmarks/activation_latency.py --spec all_tables
    python benchmarks/activation_latency.py --profile          # py-spy the 500-trigger run

Both isolation modes run in the same invocation (`--isolation thread,process`), each case in
a fresh engine, the mode order alternating per round; RESULTs are medians over the rounds. In
process mode the plugin runs in a worker process and reports its entry through bench_probe's
files (perf_counter is CLOCK_MONOTONIC, shared by every process); "prelude" is then engine
thread started -> plugin entered in the worker, and with 1 trigger a traced pass splits it
into the engine's and the worker's steps (plugins/trace_probe.py). Process mode also reports
TransferStats (`executor.describe()["process"]["transfer"]`) per activation, and a separate
case with a `--transfer-rows` (10,000) row batch and 1 and 50 triggers: shared-memory bytes the
engine wrote, bytes the worker allocated to build the batches (should be 0) and pickled
channel bytes.

Ends with (ms):
    RESULT activation_latency_<mode>_p50_<n>_ms / _p99_<n>_ms   per activation
    RESULT activation_latency_<mode>_first_p99_<n>_ms          first plugin entered, p99
    RESULT activation_latency_<mode>_all_p99_<n>_ms            all plugins entered, p99
    RESULT activation_latency_p99_<n>_ms                       thread mode (the older name)
    RESULT transfer_{shm_bytes_per_activation,shm_bytes_per_flush,worker_copied_bytes_per_activation,
           channel_bytes_per_activation}_10k_<n> B
Target: p99 < 1 ms at 1 trigger, < 5 ms at 500.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
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
from pe_engine.config import EngineConfig  # noqa: E402
from pe_engine.engine import Engine  # noqa: E402
from pe_engine.events import ActivationFinished  # noqa: E402
from pe_engine.storage.flush import FlushCallback  # noqa: E402

TARGET_MS = 1.0


def log(msg: str = "") -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def dist(values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    return (f"p50 {pct(ms, 50):7.3f}  p90 {pct(ms, 90):7.3f}  p99 {pct(ms, 99):7.3f}  "
            f"max {max(ms):8.3f} ms  (n={len(ms)})")


def busy_check(seconds: float = 1.0) -> str:
    def cpu():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        return sum(vals), vals[3] + (vals[4] if len(vals) > 4 else 0)
    try:
        t0, i0 = cpu()
        time.sleep(seconds)
        t1, i1 = cpu()
        used = 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))
        msg = f"machine before the run: {used:.0f}% CPU busy, load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs"
        if used > 15:
            msg += "  WARNING: other processes are using the CPU; latencies will be noisy"
        return msg
    except OSError:
        return "machine load: unknown"


# --------------------------------------------------------------------------- one case
async def run_case(n: int, flushes: int, warmup: int, interval: float, spec: str, tmp: Path,
                   profile: bool, plugin_threads: int = 8, isolation: str = "thread", processes: int = 4,
                   details: bool = True) -> dict:
    data, pdir = tmp / "data", tmp / "plugins"
    pdir.mkdir(parents=True, exist_ok=True)
    for f in ("noop_probe.py", "trace_probe.py"):
        shutil.copy(PLUGINS / f, pdir / f)
    bench_probe.reset()
    cfg = EngineConfig(data_dir=data, plugin_dir=pdir, wal_flush_interval=interval, plugin_threads=plugin_threads,
                       plugin_isolation=isolation, plugin_processes=processes)
    res: dict = {"n": n, "isolation": isolation}
    async with Engine(cfg) as e:
        pe = e.processing
        await e.create_database("db")
        await e.write_lp("db", "cpu,host=h0 k=-1i,v=0.0")  # the table exists before the triggers
        t0 = time.perf_counter()
        for j in range(n):
            await pe.create_trigger("db", f"t{j}", "noop_probe.py", spec, arguments={"i": str(j)})
        log(f"  created {n} trigger(s) in {time.perf_counter() - t0:.2f}s; plugin threads: {pe.pool.size}")

        # flush done: a listener that runs before the processing engine's own one
        marks: dict[int, float] = {}
        fan: dict[int, tuple[float, float]] = {}

        def flush_mark(batches):
            t = time.perf_counter()
            marks[batches[0].seq] = t

        orig = pe.on_flush

        def timed_on_flush(batches):  # same call, with its duration noted
            a = time.perf_counter()
            orig(batches)
            fan[batches[0].seq] = (a, time.perf_counter())

        e.unsubscribe(pe)  # the value caches stay first; then the mark, then the timed fan-out
        e.subscribe(FlushCallback(flush_mark))
        e.subscribe(FlushCallback(timed_on_flush))
        saves: list[tuple[float, float]] = []  # periodic history saves (activations+logs -> SQLite), on the loop
        orig_save = pe._save_history

        async def timed_save():
            a = time.perf_counter()
            try:
                return await orig_save()
            finally:
                saves.append((a, time.perf_counter()))
        pe._save_history = timed_save
        sub = e.bus.subscribe(maxlen=max(100_000, 8 * n * (flushes + warmup)))
        wall_off = time.time() - time.perf_counter()  # perf = wall - wall_off (both ~µs exact over a run)

        per_act: list[float] = []
        first: list[float] = []
        last: list[float] = []
        fanout: list[float] = []  # flush done -> job created
        hop: list[float] = []     # job created -> worker started
        prelude: list[float] = []  # worker started -> plugin entered
        engine_lat: list[float] = []  # the engine's own dispatch_latency
        slow: list[tuple[float, float, float]] = []  # (flush done, entered, latency) of activations >= 1 ms
        fan_total: list[float] = []
        spy = None
        try:
            for i in range(-warmup, flushes):
                if i == 0:
                    transfer0 = transfer_stats(pe)
                    if profile:
                        spy = start_pyspy(subprocesses=isolation == "process", tag=f"{isolation}-{n}")
                bench_probe.wal_entries.clear()
                sub.drain()
                await e.write_lp("db", f"cpu,host=h0 k={i}i,v=1.0")  # returns after the flush
                deadline = time.monotonic() + 30.0
                recs = []
                while True:
                    bench_probe.collect()
                    recs.extend(ev.record for ev in sub.drain() if isinstance(ev, ActivationFinished))
                    if len(bench_probe.wal_entries) >= n and len(recs) >= n:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"flush {i}: only {len(bench_probe.wal_entries)} of {n} plugins entered, "
                                           f"{len(recs)} finished within 30 s")
                    await asyncio.sleep(0.002)
                entries = list(bench_probe.wal_entries)
                seqs = sorted(marks)
                if len(seqs) != 1:
                    raise RuntimeError(f"flush {i}: expected one data flush, saw {len(seqs)}")
                seq = seqs[0]
                tf = marks.pop(seq)
                fa, fb = fan.pop(seq)
                if any(k != i for _, _, k in entries):
                    raise RuntimeError(f"flush {i}: a plugin saw another flush's data")
                if i >= 0:
                    lat = [t - tf for _, t, _ in entries]
                    per_act.extend(lat)
                    first.append(min(lat))
                    last.append(max(lat))
                    fan_total.append(fb - fa)
                    entered = {ix: t for ix, t, _ in entries}
                    slow.extend((tf, tf + x, x) for x in lat if x * 1e3 >= TARGET_MS)
                    for r in recs:
                        if r.status != "ok":
                            raise RuntimeError(f"activation failed: {r.status} {r.error}")
                        disp = r.dispatched_at - wall_off
                        start = r.started_at - wall_off
                        ent = entered[r.trigger[1:]]
                        fanout.append(disp - tf)
                        hop.append(start - disp)
                        prelude.append(ent - start)
                        engine_lat.append(r.dispatch_latency)
                await asyncio.sleep(random.uniform(0, interval))
        finally:
            if spy is not None:
                finish_pyspy(spy)
            e.bus.unsubscribe(sub)
        res["transfer"] = transfer_delta(transfer0, transfer_stats(pe))
        if isolation == "process":
            res["pool"] = {k: v for k, v in pe.executor.describe()["process"].items() if k not in ("transfer", "pids")}
        try:
            del pe._save_history
        except AttributeError:
            pass
        near = sum(1 for a, b, _ in slow if any(sa < b and a < sb for sa, sb in saves))
        res["slow"] = (len(slow), near, len(saves), statistics.fmean([b - a for a, b in saves]) if saves else 0.0,
                       max((b - a for a, b in saves), default=0.0))
        res.update(per_act=per_act, first=first, last=last, fanout=fanout, hop=hop, prelude=prelude,
                   engine_lat=engine_lat, fan_total=fan_total)
        if n == 1 and details and isolation == "thread":
            res["micro"] = micro_prelude(pe)
            res["traced"] = await traced_prelude(e, pe, sub_flushes=min(flushes, 100), interval=interval)
        elif n == 1 and details:
            res["micro"] = micro_process(pe)
            res["traced"] = await traced_process(e, pe, sub_flushes=min(flushes, 100), interval=interval, spec=spec)
    return res


def transfer_stats(pe) -> dict | None:
    d = pe.executor.describe().get("process")
    return dict(d["transfer"]) if d else None


def transfer_delta(a: dict | None, b: dict | None) -> dict | None:
    """TransferStats over the measured flushes only, per activation."""
    if not b:
        return None
    a = a or {}
    keys = ("activations", "shm_bytes_written", "shm_segments", "worker_copied_bytes", "channel_bytes")
    d = {k: b.get(k, 0) - a.get(k, 0) for k in keys}
    n = max(1, d["activations"])
    d.update({f"{k}_per_activation": d[k] / n for k in keys[1:]})
    return d


# --------------------------------------------------------------------------- traced prelude
async def traced_prelude(e, pe, sub_flushes: int, interval: float) -> dict[str, list[float]]:
    """A second pass (1 trigger) with thin wrappers around the executor's set-up steps, each
    noting perf_counter() before and after: where the prelude's time goes under real
    conditions (GIL hand-offs included). Each wrapper adds well under 1 µs."""
    import pe_engine.processing.executors.thread as ex

    ev: list[tuple[str, float, float]] = []

    def wrap(name, fn):
        def w(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                ev.append((name, t0, time.perf_counter()))
        return w

    saved = (ex.instantiate, ex.PluginApi, ex.entry_point)
    ex.instantiate = wrap("instantiate", ex.instantiate)
    ex.PluginApi = wrap("PluginApi", ex.PluginApi)
    ex.entry_point = wrap("entry_point", ex.entry_point)
    pe.logs.add = wrap("logs.add", pe.logs.add)
    pe.watchdog.register = wrap("watchdog.register", pe.watchdog.register)
    pe.registry.current = wrap("registry.current", pe.registry.current)
    ex_started: list[float] = []
    tx = pe.executor.thread
    orig_run = tx._run

    def run(*a, **k):
        ex_started.append(time.perf_counter())
        return orig_run(*a, **k)
    tx._run = run
    parts: dict[str, list[float]] = {}
    try:
        for i in range(sub_flushes):
            ev.clear()
            ex_started.clear()
            bench_probe.wal_entries.clear()
            await e.write_lp("db", f"cpu,host=h0 k={10_000 + i}i,v=1.0")
            deadline = time.monotonic() + 10
            while (not bench_probe.wal_entries or sum(1 for x in ev if x[0] == "logs.add") < 2) and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            if not bench_probe.wal_entries or not ex_started:
                continue
            entered, start = bench_probe.wal_entries[0][1], ex_started[0]
            pre = [x for x in ev if x[2] <= entered]
            names = [x[0] for x in pre]
            order = ["PluginApi", "logs.add", "watchdog.register", "registry.current", "instantiate", "entry_point"]
            if names != order:
                continue
            d = {x[0]: x for x in pre}
            seg = [
                ("ActivationRecord + ids", start, d["PluginApi"][1]),
                ("PluginApi + trigger cache", d["PluginApi"][1], d["PluginApi"][2]),
                ("Running + cpu clock", d["PluginApi"][2], d["logs.add"][1]),
                ("logs.add('starting ...')", d["logs.add"][1], d["logs.add"][2]),
                ("watchdog.register (/proc read + notify)", d["watchdog.register"][1], d["watchdog.register"][2]),
                ("registry.current (stat)", d["registry.current"][1], d["registry.current"][2]),
                ("instantiate (exec module)", d["instantiate"][1], d["instantiate"][2]),
                ("entry_point + TableBatch + call", d["instantiate"][2], entered),
                ("gaps between steps", 0.0, 0.0),
            ]
            covered = sum(b - a for _, a, b in seg)
            for name, a, b in seg[:-1]:
                parts.setdefault(name, []).append(b - a)
            parts.setdefault("total (worker started -> entered)", []).append(entered - start)
            parts.setdefault("gaps between steps", []).append((entered - start) - covered)
            await asyncio.sleep(random.uniform(0, interval))
    finally:
        ex.instantiate, ex.PluginApi, ex.entry_point = saved
        for obj, attr in ((pe.logs, "add"), (pe.watchdog, "register"), (pe.registry, "current"), (tx, "_run")):
            try:
                delattr(obj, attr)
            except AttributeError:
                pass
    return parts


# --------------------------------------------------------------------------- traced, process mode
async def traced_process(e, pe, sub_flushes: int, interval: float, spec: str) -> dict[str, list[float]]:
    """Process isolation, 1 trigger: the engine thread's steps (wrapped here, in the engine) and the
    worker's (wrapped in the worker by plugins/trace_probe.py), on one clock (CLOCK_MONOTONIC)."""
    from pe_engine.processing.executors import wire

    px = pe.executor.process
    ev: dict[str, tuple[float, float]] = {}
    runs: list = []

    def wrap(owner, attr, name, keep=False):
        fn = getattr(owner, attr)

        def w(*a, **k):
            t0 = time.perf_counter()
            try:
                r = fn(*a, **k)
                if keep:
                    runs.append(r)
                return r
            finally:
                ev.setdefault(name, (t0, time.perf_counter()))  # the first call of this activation
        setattr(owner, attr, w)
        return fn

    await pe.disable_trigger("db", "t0")
    await pe.create_trigger("db", "tr", "trace_probe.py", spec, arguments={"i": "tr"})
    orig_send = wrap(wire.Channel, "send", "send")
    wrap(px, "_run", "_run")
    wrap(px.pool, "acquire", "acquire")
    wrap(px, "_message", "_message", keep=True)
    parts: dict[str, list[float]] = {}
    try:
        for i in range(sub_flushes + 2):  # the first activation installs the worker-side wrappers
            ev.clear()
            bench_probe.reset()
            await e.write_lp("db", f"cpu,host=h0 k={20_000 + i}i,v=1.0")
            deadline = time.monotonic() + 10
            tr = None
            while time.monotonic() < deadline:
                bench_probe.collect()
                tr = next((x for x in bench_probe.extra if x[0] == "trace" and x[2] == 20_000 + i), None)
                if bench_probe.wal_entries and (tr is not None or i == 0):
                    break
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.003)  # let the engine thread finish the conversation
            if tr is None or not {"_run", "acquire", "_message", "send"} <= ev.keys():
                continue
            entered, w = tr[3], tr[4]
            if not {"recv", "run_entered", "read_batch", "instantiate"} <= w.keys():
                continue
            seg = [
                ("engine: record + PluginApi + start note", ev["_run"][0], ev["acquire"][0]),
                ("engine: pool.acquire", ev["acquire"][0], ev["acquire"][1]),
                ("engine: acquire -> _message", ev["acquire"][1], ev["_message"][0]),
                ("engine: _message (Run + memfd write_arrow)", ev["_message"][0], ev["_message"][1]),
                ("engine: _message -> send", ev["_message"][1], ev["send"][0]),
                ("engine: send (pickle + sendmsg with fds)", ev["send"][0], ev["send"][1]),
                ("worker: wake-up + recv_fds + unpickle", ev["send"][1], w["recv"][1]),
                ("worker: recv -> _Worker.run", w["recv"][1], w["run_entered"][0]),
                ("worker: run -> read_batch (imports, code cache)", w["run_entered"][0], w["read_batch"][0]),
                ("worker: read_batch (mmap + IPC read)", w["read_batch"][0], w["read_batch"][1]),
                ("worker: read_batch -> instantiate (limits, routing)", w["read_batch"][1], w["instantiate"][0]),
                ("worker: instantiate (exec module)", w["instantiate"][0], w["instantiate"][1]),
                ("worker: entry_point + TableBatch + call", w["instantiate"][1], entered),
            ]
            for name, a, b in seg:
                parts.setdefault(name, []).append(b - a)
            parts.setdefault("total (engine thread started -> entered)", []).append(entered - ev["_run"][0])
            await asyncio.sleep(random.uniform(0, interval))
    finally:
        wire.Channel.send = orig_send
        for obj, attr in ((px, "_run"), (px.pool, "acquire"), (px, "_message")):
            try:
                delattr(obj, attr)
            except AttributeError:
                pass
    if runs:
        parts["_run_message"] = runs[-1]  # type: ignore[assignment]
    return parts


def micro_process(pe) -> dict[str, float]:
    """µs per call of engine-side pieces of a process-mode activation, with no contention."""
    import pickle
    import socket
    import pyarrow as pa
    from pe_engine.processing.executors.shm import read_batch, write_arrow
    from pe_engine.processing.executors.worker import Run, RunFile

    batch = pa.record_batch({"host": pa.array(["h0"]), "k": pa.array([1]), "v": pa.array([1.0]),
                             "time": pa.array([1], pa.timestamp("ns"))})
    run = Run("db", "t0", RunFile("noop_probe.py", "/tmp/x/noop_probe.py", "0" * 64, None), "wal",
              (1, "db", [("cpu", 1000)]), {"i": "0"}, None, None, False, 0)
    msg = ("run", run)

    def bench(fn, n=2000):
        for _ in range(100):
            fn()
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t) / n)
        return best * 1e6

    blob = pickle.dumps(msg, protocol=5)

    def shm_round():
        seg = write_arrow(batch)
        b = read_batch(os.dup(seg.fd), seg.size)
        seg.close()
        return b
    a, b = socket.socketpair()
    fd = os.memfd_create("x")

    def sendrecv():
        socket.send_fds(a, [b"x" * 300], [fd])
        _, fds, _, _ = socket.recv_fds(b, 300, 4)
        for f in fds:
            os.close(f)
    out = {
        f"pickle.dumps(('run', Run)) ({len(blob)} bytes)": bench(lambda: pickle.dumps(msg, protocol=5)),
        "pickle.loads of it": bench(lambda: pickle.loads(blob)),
        "write_arrow (memfd + mock pass + IPC write, 1 row)": bench(lambda: write_arrow(batch).close(), 500),
        "write_arrow + read_batch (1 row)": bench(shm_round, 500),
        "send_fds + recv_fds, 300 B + 1 fd, same thread": bench(sendrecv),
        "WorkerProcess.cpu_seconds (/proc read)": 0.0,
    }
    px = pe.executor.process
    with px.pool._cond:
        ws = list(px.pool._idle)
    if ws:
        out["WorkerProcess.cpu_seconds (/proc read)"] = bench(ws[0].cpu_seconds, 500)
    else:
        del out["WorkerProcess.cpu_seconds (/proc read)"]
    a.close(), b.close(), os.close(fd)
    return out


# --------------------------------------------------------------------------- micro-benchmarks
def micro_prelude(pe) -> dict[str, float]:
    """µs per call of the pieces the executor runs before the plugin's function is entered."""
    from pe_engine.processing.py_api import PluginApi, TableBatch
    from pe_engine.processing.limits import Running, rss_bytes
    from pe_engine.processing.plugins import entry_point, instantiate
    import pyarrow as pa

    trig = next(iter(pe.triggers.values()))
    loaded = pe.registry.current(trig.plugin_filename)
    batch = pa.record_batch({"k": pa.array([1]), "v": pa.array([1.0])})

    def bench(fn, n=3000):
        for _ in range(200):
            fn()
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t) / n)
        return best * 1e6

    out = {
        "registry.current (stat of the plugin file)": bench(lambda: pe.registry.current(trig.plugin_filename)),
        "instantiate (exec module code in fresh globals)": bench(lambda: instantiate(loaded)),
        "entry_point lookup": bench(lambda: entry_point(instantiate(loaded), None, "wal_rows")) - bench(lambda: instantiate(loaded)),
        "rss_bytes (/proc/self/statm read)": bench(rss_bytes),
        "pa.total_allocated_bytes": bench(pa.total_allocated_bytes),
        "PluginApi(...) + trigger_cache": bench(lambda: PluginApi(host=pe.host, loop=pe.loop, database="db", trigger=trig.name,
                                                                  cache=pe.caches.trigger_cache("db", trig.name), log=lambda a, b: None)),
        "logs.add (one INFO line, with bus publish)": bench(lambda: pe.logs.add("db", "x", "INFO", "starting execution of wal plugin.")),
        "activations.new_id": bench(pe.activations.new_id),
        "TableBatch(...)": bench(lambda: TableBatch("cpu", batch)),
        "Running(...) dataclass": bench(lambda: Running(thread_id=1, cpu_clock=None, deadline=30.0, cpu_limit=None, memory_limit=None)),
    }
    reg = Running(thread_id=1, cpu_clock=None, deadline=None, cpu_limit=None, memory_limit=None)

    def reg_unreg():
        pe.watchdog.register(reg)
        pe.watchdog.unregister(reg)
    out["watchdog.register + unregister"] = bench(reg_unreg, 1000)
    return out


# --------------------------------------------------------------------------- py-spy
def start_pyspy(subprocesses: bool = False, tag: str = "") -> dict | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.access(spy, os.X_OK):
        log("  --profile: py-spy not found (pip install py-spy); continuing without it")
        return None
    results = HERE / "results"  # gitignored
    results.mkdir(exist_ok=True)
    out = results / f"activation-latency-{tag + '-' if tag else ''}{time.strftime('%Y%m%d-%H%M%S')}.collapsed.txt"
    cmd = [spy, "record", "--pid", str(os.getpid()), "--format", "raw", "--rate", "1000",
           "--threads", "--nonblocking", "--output", str(out), "--duration", "600"]
    if subprocesses:
        cmd.append("--subprocesses")  # the worker processes too
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    return {"proc": proc, "out": out}


def finish_pyspy(spy: dict) -> None:
    import signal
    proc = spy["proc"]
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    out: Path = spy["out"]
    if not out.exists():
        log("  py-spy wrote nothing")
        return
    log(f"  profile (collapsed stacks with line numbers): {out}")
    summarize_collapsed(out)


def summarize_collapsed(path: Path, top: int = 18) -> None:
    import collections
    self_c, incl_c, thread_c = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        n = int(n)
        frames = stack.split(";")
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        frames = [f for f in frames if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        total += n
        thread_c[thread.split(" ")[-1].strip('"') if thread != "?" else "?"] += n
        self_c[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            incl_c[f] += n
    if not total:
        log("  py-spy: no busy samples")
        return
    log(f"  py-spy (1 kHz, on-CPU samples only: {total}) by thread:")
    for t, k in thread_c.most_common(8):
        log(f"    {100 * k / total:5.1f}%  {t}")
    log(f"  top {top} inclusive:")
    for f, k in incl_c.most_common(top):
        log(f"    {100 * k / total:5.1f}%  {f}")
    log(f"  top {top} self:")
    for f, k in self_c.most_common(top):
        log(f"    {100 * k / total:5.1f}%  {f}")


def _short(frame: str) -> str:
    func, _, rest = frame.partition(" (")
    path = rest.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("pe_engine", "asyncio", "concurrent", "plugins"):
        if anchor in parts:
            return f"{func} ({'/'.join(parts[parts.index(anchor):])})"
    return f"{func} ({Path(path).name})"


# --------------------------------------------------------------------------- main
async def transfer_case(n: int, rows: int, reps: int, tmp: Path, processes: int) -> dict:
    """Process isolation: what crosses the process boundary for one `rows`-row WAL batch and n triggers."""
    import lpgen

    pdir = tmp / "plugins"
    pdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLUGINS / "noop_probe.py", pdir / "noop_probe.py")
    bench_probe.reset()
    cfg = EngineConfig(data_dir=tmp / "data", plugin_dir=pdir, wal_flush_interval=0.05,
                       plugin_isolation="process", plugin_processes=processes)
    async with Engine(cfg) as e:
        pe = e.processing
        await e.create_database("db")
        await e.write_lp("db", "\n".join(lpgen.cpu_lines(1, lpgen.default_start_ns())))
        for j in range(n):
            await pe.create_trigger("db", f"t{j}", "noop_probe.py", "table:cpu", arguments={"i": str(j)})
        sub = e.bus.subscribe(maxlen=100_000)
        t0 = None
        batch_bytes = []
        for r in range(reps + 1):
            if r == 1:
                t0 = transfer_stats(pe)
            bench_probe.reset()
            sub.drain()
            start = lpgen.default_start_ns() + (r + 1) * rows * 1_000_000
            await e.write_lp("db", "\n".join(lpgen.cpu_lines(rows, start, seed=r)))
            recs: list = []
            deadline = time.monotonic() + 60
            while len(recs) < n or len(bench_probe.wal_entries) < n:
                bench_probe.collect()
                recs.extend(ev.record for ev in sub.drain() if isinstance(ev, ActivationFinished))
                if time.monotonic() > deadline:
                    raise RuntimeError(f"transfer case: {len(recs)} of {n} activations finished")
                await asyncio.sleep(0.005)
            bad = [x for x in recs if x.status != "ok" or x.rows_in != rows]
            if bad:
                raise RuntimeError(f"transfer case: {bad[0].status} {bad[0].error} rows_in={bad[0].rows_in}")
            if r >= 1:
                batch_bytes.append(e.buffer_nbytes if hasattr(e, "buffer_nbytes") else 0)
        d = transfer_delta(t0, transfer_stats(pe))
        e.bus.unsubscribe(sub)
    assert d is not None
    d["flushes"] = reps
    d["shm_bytes_per_flush"] = d["shm_bytes_written"] / reps
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triggers", default="1,50,500", help="comma-separated trigger counts (default 1,50,500)")
    ap.add_argument("--isolation", default="thread,process", help="comma-separated modes (default thread,process)")
    ap.add_argument("--processes", type=int, default=4, help="EngineConfig.plugin_processes (default 4, as pe serve)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="runs of each (triggers, mode) case, mode order alternating; RESULTs are medians "
                         "(default 2, --quick 1)")
    ap.add_argument("--flushes", type=int, default=200, help="measured flushes per case (default 200)")
    ap.add_argument("--warmup", type=int, default=10, help="unmeasured flushes first (default 10)")
    ap.add_argument("--interval", type=float, default=0.01, help="WAL flush interval, s (default 0.01)")
    ap.add_argument("--spec", default="table:cpu", help="trigger specification (table:cpu or all_tables)")
    ap.add_argument("--plugin-threads", type=int, default=8, help="EngineConfig.plugin_threads (default 8, as pe serve)")
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="sys.setswitchinterval() in seconds for an experiment (CPython default 0.005)")
    ap.add_argument("--transfer-rows", type=int, default=10_000,
                    help="process mode: rows of the batch for the bytes-per-activation case (0: skip it)")
    ap.add_argument("--transfer-triggers", default="1,50", help="trigger counts of the bytes case (default 1,50)")
    ap.add_argument("--quick", action="store_true",
                    help="30 flushes per case (10 at 200+ triggers), 1 round, 3 bytes-case flushes")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the largest case of each mode (process mode: the workers too)")
    args = ap.parse_args(argv)
    if args.quick:
        args.flushes = min(args.flushes, 30)
        args.warmup = min(args.warmup, 5)
    rounds = args.rounds or (1 if args.quick else 2)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    counts = [int(x) for x in args.triggers.split(",") if x.strip()]
    modes = [x.strip() for x in args.isolation.split(",") if x.strip()]
    if not 0.001 <= args.interval <= 1.0 or args.flushes < 1 or any(c < 1 or c > 5000 for c in counts):
        ap.error("need 1 ms <= interval <= 1 s, flushes >= 1, 1..5000 triggers")
    if not modes or any(m not in ("thread", "process") for m in modes):
        ap.error("--isolation: thread and/or process")
    bench_probe.listen()  # before any engine: worker processes inherit where to send their entries
    log(f"activation latency: {args.spec} no-op WAL triggers {counts}, isolation {modes} ({rounds} round(s), "
        f"order alternating), {args.flushes} flushes each (+{args.warmup} warm-up), flush interval "
        f"{args.interval * 1e3:g} ms, one 1-line write per flush")
    log(f"python {sys.version.split()[0]}, asyncio default loop, GIL switch interval {sys.getswitchinterval() * 1e3:g} ms, "
        f"{args.plugin_threads} plugin threads, {args.processes} plugin processes; {busy_check()}")
    results: dict[tuple[int, str], list[dict]] = {}
    for n in counts:
        for rnd in range(rounds):
            order = modes if rnd % 2 == 0 else modes[::-1]
            for mode in order:
                log(f"\n== {n} trigger(s), {mode} isolation, round {rnd + 1} ==")
                tmp = Path(tempfile.mkdtemp(prefix=f"pe-bench-act-{n}-"))
                try:
                    fl, wu = (min(args.flushes, 10), 2) if args.quick and n >= 200 else (args.flushes, args.warmup)
                    r = asyncio.run(run_case(n, fl, wu, args.interval, args.spec, tmp,
                                             args.profile and n == max(counts) and rnd == 0, args.plugin_threads,
                                             mode, args.processes, details=rnd == 0))
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                results.setdefault((n, mode), []).append(r)
                print_case(r)

    transfer: dict[int, dict] = {}
    if "process" in modes and args.transfer_rows > 0:
        for n in [int(x) for x in args.transfer_triggers.split(",") if x.strip()]:
            log(f"\n== bytes per activation, process isolation: {args.transfer_rows:,}-row batch, {n} trigger(s) ==")
            tmp = Path(tempfile.mkdtemp(prefix=f"pe-bench-xfer-{n}-"))
            try:
                d = asyncio.run(transfer_case(n, args.transfer_rows, 3 if args.quick else 10, tmp, args.processes))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            transfer[n] = d
            log(f"  {d['flushes']} flushes, {d['activations']} activations: shm written per flush "
                f"{d['shm_bytes_per_flush']:,.0f} B ({d['shm_segments']} segments), per activation "
                f"{d['shm_bytes_written_per_activation']:,.0f} B; worker_copied_bytes per activation "
                f"{d['worker_copied_bytes_per_activation']:,.0f} B; pickled channel bytes per activation "
                f"{d['channel_bytes_per_activation']:,.0f} B")

    def med(n, mode, key, q):
        return statistics.median(pct(r[key], q) * 1e3 for r in results[(n, mode)])

    log("\nsummary (ms; median over rounds)   p50      p99      max   | first p99 | all p99 | p99 of each round")
    for (n, mode), rs in results.items():
        log(f"  {n:4d} trigger(s) {mode:8s} {med(n, mode, 'per_act', 50):8.3f} {med(n, mode, 'per_act', 99):8.3f} "
            f"{statistics.median(max(r['per_act']) for r in rs) * 1e3:8.3f}   | {med(n, mode, 'first', 99):8.3f}  | "
            f"{med(n, mode, 'last', 99):8.3f} | " + ", ".join(f"{pct(r['per_act'], 99) * 1e3:.3f}" for r in rs))
    for (n, mode) in results:
        aim = TARGET_MS if n == 1 else 5.0 if n >= 500 else None
        if aim is not None:
            p99 = med(n, mode, "per_act", 99)
            log(f"aim p99 < {aim:g} ms at {n} trigger(s), {mode}: {'met' if p99 < aim else 'MISSED'} ({p99:.3f} ms)")
    for (n, mode) in results:
        if mode == "thread":  # the names before process isolation existed
            log(f"RESULT activation_latency_p99_{n}_ms {med(n, mode, 'per_act', 99):.3f} ms")
    for (n, mode) in results:
        log(f"RESULT activation_latency_{mode}_p50_{n}_ms {med(n, mode, 'per_act', 50):.3f} ms")
        log(f"RESULT activation_latency_{mode}_p99_{n}_ms {med(n, mode, 'per_act', 99):.3f} ms")
        log(f"RESULT activation_latency_{mode}_first_p99_{n}_ms {med(n, mode, 'first', 99):.3f} ms")
        log(f"RESULT activation_latency_{mode}_all_p99_{n}_ms {med(n, mode, 'last', 99):.3f} ms")
    for n, d in transfer.items():
        tag = f"{args.transfer_rows // 1000}k_{n}"
        log(f"RESULT transfer_shm_bytes_per_activation_{tag} {d['shm_bytes_written_per_activation']:.0f} B")
        log(f"RESULT transfer_shm_bytes_per_flush_{tag} {d['shm_bytes_per_flush']:.0f} B")
        log(f"RESULT transfer_worker_copied_bytes_per_activation_{tag} {d['worker_copied_bytes_per_activation']:.0f} B")
        log(f"RESULT transfer_channel_bytes_per_activation_{tag} {d['channel_bytes_per_activation']:.0f} B")
    return 0


def print_case(r: dict) -> None:
    n = r["n"]
    log(f"  per activation  {dist(r['per_act'])}")
    if n > 1:
        log(f"  first entered   {dist(r['first'])}")
        log(f"  all entered     {dist(r['last'])}")
    m = lambda xs: statistics.fmean(xs) * 1e6  # noqa: E731
    log(f"  where the time goes (mean per activation, µs): fan-out {m(r['fanout']):.1f}, "
        f"pool hop {m(r['hop']):.1f}, prelude {m(r['prelude']):.1f}  "
        f"(sum {m(r['fanout']) + m(r['hop']) + m(r['prelude']):.1f}; measured {m(r['per_act']):.1f})")
    log(f"  p99 of each part (µs): fan-out {pct(r['fanout'], 99) * 1e6:.1f}, pool hop {pct(r['hop'], 99) * 1e6:.1f}, "
        f"prelude {pct(r['prelude'], 99) * 1e6:.1f}"
        + ("  (process: prelude = engine thread started -> plugin entered in the worker)" if r["isolation"] == "process" else ""))
    log(f"  fan-out call (on_flush for all {n} triggers) per flush: mean {m(r['fan_total']):.1f} µs, "
        f"max {max(r['fan_total']) * 1e6:.1f} µs = {m(r['fan_total']) / n:.2f} µs per trigger")
    ns, near, nsv, msv, xsv = r["slow"]
    log(f"  activations >= {TARGET_MS:g} ms: {ns} of {len(r['per_act'])}; {near} of them overlapped one of the "
        f"{nsv} periodic history saves (each on the loop for mean {msv * 1e3:.1f} ms, max {xsv * 1e3:.1f} ms wall)")
    log(f"  engine's own dispatch_latency (job created -> worker started): {dist(r['engine_lat'])}")
    if r.get("transfer"):
        d = r["transfer"]
        log(f"  transfer (1-line batches): shm {d['shm_bytes_written_per_activation']:.0f} B, channel "
            f"{d['channel_bytes_per_activation']:.0f} B, worker copied {d['worker_copied_bytes_per_activation']:.0f} B "
            f"per activation; pool {r.get('pool')}")
    t = dict(r.get("traced") or {})
    run_msg = t.pop("_run_message", None)
    if t:
        tot = next((k for k in t if k.startswith("total")), None)
        log(f"  prelude, traced pass ({len(t[tot]) if tot else 0} activations; µs: median / mean / p99):")
        for k, v in t.items():
            log(f"    {statistics.median(v) * 1e6:8.1f} {statistics.fmean(v) * 1e6:8.1f} {pct(v, 99) * 1e6:8.1f}  {k}")
    elif "traced" in r:
        log("  prelude, traced pass: no activation matched the expected step order")
    if run_msg is not None:
        log(f"  the Run message of the traced pass: {run_msg[0]!r}"[:400])
    if "micro" in r:
        log("  prelude parts, µs per call (micro-benchmark, one thread, no contention):")
        for k, v in r["micro"].items():
            log(f"    {v:8.2f}  {k}")


if __name__ == "__main__":
    sys.exit(main())
