"""Benchmark plugin for process isolation: where a worker's time goes before a plugin is entered.

Like noop_probe.py (records perf_counter at entry), but on its first activation in a worker it
wraps, in that worker only, the steps the worker runs before a plugin's function: the channel's
recv (message read + unpickled), `_Worker.run` (activation set-up), `shm.read_batch` (map the
memfd, read the IPC stream) and `plugins.loading.instantiate` (exec the plugin module). From the
second activation on each entry is recorded as `extra` ("trace", i, k, entered, steps), where
steps maps a step name to its (start, end) perf_counter pair in this activation. The wrappers
live on bench_probe (a module the worker keeps), because the plugin module itself is executed
afresh for every activation.
"""
from time import perf_counter

import bench_probe


def _install() -> None:
    from pe_engine.processing.executors import shm, wire, worker
    from pe_engine.processing.plugins import loading

    steps: dict = {}
    bench_probe._trace_steps = steps

    def wrap(owner, attr, name):
        fn = getattr(owner, attr)

        def w(*a, **k):
            t0 = perf_counter()
            try:
                return fn(*a, **k)
            finally:
                steps[name] = (t0, perf_counter())
        setattr(owner, attr, w)

    orig_run = worker._Worker.run

    def run(self, msg, fds):
        steps.clear()
        steps["recv"] = bench_probe._last_recv
        t0 = perf_counter()
        steps["run_entered"] = (t0, t0)
        return orig_run(self, msg, fds)

    orig_recv = wire.Channel.recv

    def recv(self):
        t0 = perf_counter()
        try:
            return orig_recv(self)
        finally:
            bench_probe._last_recv = (t0, perf_counter())  # t0 includes the idle wait; the end is what counts
    worker._Worker.run = run
    wire.Channel.recv = recv
    wrap(shm, "read_batch", "read_batch")
    wrap(loading, "instantiate", "instantiate")
    bench_probe._trace_installed = True


def process_writes(influxdb3_local, table_batches, args=None):
    t = perf_counter()
    k = None
    for tb in table_batches:
        arrow = tb["arrow"]
        if "k" in arrow.schema.names and arrow.num_rows:
            k = arrow.column("k")[0].as_py()
            break
    i = args.get("i") if args else None
    if getattr(bench_probe, "_trace_installed", False):
        bench_probe.record("extra", ("trace", i, k, t, dict(bench_probe._trace_steps)))
    else:
        _install()
    bench_probe.record("wal", (i, t, k))
