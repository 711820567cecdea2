"""Process isolation under faults: every way a plugin can end its process ends only its worker.

A real Engine (`plugin_isolation="process"`) on tmp_path, real worker processes, real signals.
Each fault is checked for: the activation's status and error text (exit code / signal name),
the worker's replacement (another pid in `describe()`), the trigger's error behaviour, and an
engine that keeps writing, querying and running its other triggers during and after.
Nothing here asserts on timing: every wait polls a condition (support.waiting).
"""
from __future__ import annotations

import os
import re
import shutil
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.processing import runtime as dispatcher
from pe_engine.processing.executors.process import ProcessExecutor
from pe_engine.processing.triggers import TriggerSettings
from support.engines import PLUGINS, acts, plugin, poll_rows, rows, wait_acts, wait_for

GiB = 1 << 30
MiB = 1 << 20

# name -> (body of process_writes, what the activation's error must name)
CRASHES = {
    "os_exit": ("import os\nos._exit(3)", "exited with code 3"),
    "null_pointer": ("import ctypes\nctypes.string_at(0)", "SIGSEGV"),
    "sigkill_self": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    # C-level recursion: the C pickler recurses once per nesting level; with the recursion limit
    # lifted nothing stops it before the C stack (8 MiB) overflows.
    "c_recursion": (
        "import pickle, sys\nsys.setrecursionlimit(1 << 30)\nx = []\nfor _ in range(300_000):\n    x = [x]\n"
        "pickle.dumps(x)",
        "SIGSEGV",
    ),
}


def crash_plugin(body: str) -> str:
    return "def process_writes(influxdb3_local, table_batches, args=None):\n" + textwrap.indent(body, "    ") + "\n"


def process_engine(tmp_path: Path, **config) -> Engine:
    pdir = tmp_path / "plugins"
    if not pdir.exists():
        shutil.copytree(PLUGINS, pdir, ignore=shutil.ignore_patterns("__pycache__"))
    return Engine(EngineConfig(data_dir=tmp_path / "data", plugin_dir=pdir, wal_flush_interval=0.01,
                               **{"plugin_isolation": "process", **config}))


@pytest_asyncio.fixture
async def peng(tmp_path: Path) -> AsyncIterator[Engine]:
    """A started engine whose plugins run in worker processes, with a database `db`."""
    e = process_engine(tmp_path)
    await e.start()
    await e.create_database("db")
    try:
        yield e
    finally:
        await e.stop()


def executor(e: Engine) -> ProcessExecutor:
    return e.processing.executor.process


def pids(e: Engine) -> set[int]:
    return set(executor(e).describe()["pids"])


def worker_pid(error: str) -> int:
    m = re.search(r"plugin worker process (\d+) ", error)
    assert m, f"no worker pid in {error!r}"
    return int(m.group(1))


def gone(pid: int) -> bool:
    """Not running (reaped, or a zombie nobody waits for would still count as running: it must be reaped)."""
    return not os.path.exists(f"/proc/{pid}")


async def steady_trigger(e: Engine) -> None:
    """A well-behaved trigger next to the faulty one: it must go on running."""
    await e.processing.create_trigger("db", "steady", "wal_plugin.py", "table:other")


async def steady_keeps_working(e: Engine, n_before: int, tag: str) -> None:
    """Writes are accepted, the steady trigger runs on them, its write-backs and the rows are queryable."""
    for i in range(2):
        await e.write_lp("db", f"other,run={tag} v={i}i")
    await wait_acts(e, "steady", n_before + 2, "ok")
    got = await rows(e, "db", f"SELECT v FROM other WHERE run = '{tag}' ORDER BY v")
    assert [r["v"] for r in got] == [0, 1]
    await poll_rows(e, "db", "SELECT row_count FROM write_reports WHERE table_name = 'other'", n_before + 2)


# ------------------------------------------------------------------------------------ crashes


@pytest.mark.parametrize("kind", sorted(CRASHES))
async def test_a_crash_ends_only_its_worker(peng: Engine, kind: str) -> None:
    body, named = CRASHES[kind]
    plugin(peng, "crash.py", crash_plugin(body))
    pe = peng.processing
    await pe.create_trigger("db", "crash", "crash.py", "table:boom")
    await steady_trigger(peng)
    await steady_keeps_working(peng, 0, "before")
    before = executor(peng).describe()

    await peng.write_lp("db", "boom v=1i")
    [rec] = await wait_acts(peng, "crash", 1, timeout=30)
    assert rec.status == "crashed", (rec.status, rec.error)
    assert named in rec.error, rec.error
    dead = worker_pid(rec.error)
    assert dead != os.getpid()  # (not necessarily one of `before`: a spare may have started since)
    await wait_for(lambda: gone(dead), f"worker {dead} reaped")
    await wait_for(lambda: pids(peng) and dead not in pids(peng), "a replacement worker")
    assert executor(peng).describe()["replaced"] == before["replaced"] + 1
    assert not pe.get("db", "crash").disabled  # error_behavior log (the default): logged, still enabled
    assert any("error executing wal plugin" in x.text and named in x.text
               for x in pe.logs.entries() if x.trigger == "crash")

    await steady_keeps_working(peng, 2, "after")
    # the crashing trigger is called again, on a fresh worker, and crashes the same way
    await peng.write_lp("db", "boom v=2i")
    recs = await wait_acts(peng, "crash", 2)
    assert [r.status for r in recs] == ["crashed", "crashed"]
    assert worker_pid(recs[1].error) != dead
    assert "boom" in peng.catalog.databases["db"].tables  # the rows that triggered the crashes were kept
    assert len(await rows(peng, "db", "SELECT v FROM boom")) == 2


async def test_writes_and_queries_go_on_while_a_worker_hangs_then_it_is_killed(peng: Engine) -> None:
    pe = peng.processing
    plugin(peng, "hang.py", """
        import time

        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.cache.put("hang_started", True, use_global=True)
            while True:
                time.sleep(0.05)
    """)
    await pe.create_trigger("db", "hang", "hang.py", "table:hang", settings=TriggerSettings(deadline_seconds=3))
    await steady_trigger(peng)
    await peng.write_lp("db", "hang v=1i")
    await wait_for(lambda: _has_global(peng, "hang_started"), "the hanging plugin to start")
    await steady_keeps_working(peng, 0, "during")  # while a worker is stuck in that plugin
    assert acts(peng, "hang") == []  # still running: the work above did not wait for it
    [rec] = await wait_acts(peng, "hang", 1, timeout=30)
    assert rec.status == "timeout" and "deadline" in rec.error and "worker process was stopped" in rec.error
    await steady_keeps_working(peng, 2, "after")


def _has_global(e: Engine, key: str) -> bool:
    try:
        e.processing.caches.get_value(("global",), key)
    except KeyError:
        return False
    return True


# ----------------------------------------------------------------------------- error behaviours


async def test_error_behavior_disable_applies_to_a_crash(peng: Engine) -> None:
    pe = peng.processing
    plugin(peng, "crash.py", crash_plugin(CRASHES["os_exit"][0]))
    await pe.create_trigger("db", "fragile", "crash.py", "table:fragile", settings=TriggerSettings(error_behavior="disable"))
    await steady_trigger(peng)
    await peng.write_lp("db", "fragile v=1i")
    await wait_for(lambda: pe.get("db", "fragile").disabled, "the trigger to disable itself")
    trig = pe.get("db", "fragile")
    assert "exited with code 3" in trig.disabled_reason, trig.disabled_reason
    assert pe.describe(trig)["state"] == "disabled_by_error"
    [rec] = acts(peng, "fragile")
    assert rec.status == "crashed"
    await peng.write_lp("db", "fragile v=2i")  # no longer called
    await steady_keeps_working(peng, 0, "after")
    assert len(acts(peng, "fragile")) == 1


async def test_error_behavior_retry_applies_to_a_crash(peng: Engine, monkeypatch) -> None:
    monkeypatch.setattr(dispatcher, "RETRY_BASE", 0.05)
    pe = peng.processing
    plugin(peng, "crash.py", crash_plugin(CRASHES["sigkill_self"][0]))
    await pe.create_trigger("db", "flaky", "crash.py", "table:flaky",
                            settings=TriggerSettings(error_behavior="retry", max_retries=2))
    await peng.write_lp("db", "flaky v=1i")
    await wait_for(lambda: any("giving up after 3 attempts" in x.text for x in pe.logs.entries() if x.trigger == "flaky"),
                   "the give-up line")
    done = acts(peng, "flaky")
    assert [a.attempt for a in done] == [1, 2, 3]
    assert all(a.status == "crashed" and "SIGKILL" in a.error for a in done)
    assert len({worker_pid(a.error) for a in done}) == 3  # every attempt on a fresh worker
    assert not pe.get("db", "flaky").disabled
    await steady_trigger(peng)
    await steady_keeps_working(peng, 0, "after")


# ------------------------------------------------------------------------- deadline, CPU, memory


SWALLOWER = """
def process_writes(influxdb3_local, table_batches, args=None):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
"""


async def test_deadline_kills_a_plugin_that_swallows_every_exception(peng: Engine) -> None:
    pe = peng.processing
    plugin(peng, "swallow.py", SWALLOWER)
    await pe.create_trigger("db", "spin", "swallow.py", "table:spin", settings=TriggerSettings(deadline_seconds=0.3))
    await steady_trigger(peng)
    await peng.write_lp("db", "spin v=1i")
    [first] = await wait_acts(peng, "spin", 1)
    assert first.status == "timeout", (first.status, first.error)
    assert "worker process was stopped" in first.error
    for i in range(2, 6):
        await peng.write_lp("db", f"spin v={i}i")
        await wait_acts(peng, "spin", i)
    assert [a.status for a in acts(peng, "spin")] == ["timeout"] * 5
    assert executor(peng).describe()["replaced"] >= 5
    # No engine thread is left behind per timeout (thread mode writes one off per swallowed
    # interrupt): the conversation threads are the fixed pool, and the only other per-worker
    # thread (its output reader) ends with its worker.
    fixed = executor(peng).settings.max_workers + executor(peng).settings.max_lent

    def plugin_threads_settled() -> bool:
        names = [t.name for t in threading.enumerate()]
        readers = {int(n.split("-")[2]) for n in names if n.startswith("pe-worker-") and n.endswith("-out")}
        return (sum(n.startswith("pe-plugin-proc-") for n in names) == fixed
                and bool(readers) and readers <= pids(peng))

    await wait_for(plugin_threads_settled, "one output reader per live worker and no extra conversation thread")
    await steady_keeps_working(peng, 0, "after")


async def test_cpu_limit_kills_a_busy_loop(peng: Engine) -> None:
    pe = peng.processing
    plugin(peng, "swallow.py", SWALLOWER)
    await pe.create_trigger("db", "burn", "swallow.py", "table:burn", settings=TriggerSettings(cpu_limit_seconds=0.3))
    await peng.write_lp("db", "burn v=1i")
    [rec] = await wait_acts(peng, "burn", 1)
    assert rec.status == "cpu_limit", (rec.status, rec.error)
    assert "CPU-time limit" in rec.error
    await wait_for(lambda: len(pids(peng)) >= 1, "a replacement worker")
    await steady_trigger(peng)
    await steady_keeps_working(peng, 0, "after")


def _rss(pid: int | None = None) -> int:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_memory_limit_is_enforced_by_the_kernel_in_the_worker(peng: Engine) -> None:
    pe = peng.processing
    plugin(peng, "hog.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            block = bytearray(20 * 1024 ** 3)  # zero-filled: 20 GiB resident if it were allowed
            influxdb3_local.info(f"allocated {len(block)}")
    """)
    await pe.create_trigger("db", "hog", "hog.py", "table:hog", settings=TriggerSettings(memory_limit_bytes=512 * MiB))
    await steady_trigger(peng)
    rss0 = _rss()
    await peng.write_lp("db", "hog v=1i")
    [rec] = await wait_acts(peng, "hog", 1, timeout=30)
    assert rec.status == "memory_limit", (rec.status, rec.error)
    assert "memory limit of 536870912 bytes" in rec.error and "MemoryError" in rec.error
    assert not any("allocated" in x.text for x in pe.logs.entries() if x.trigger == "hog")
    assert _rss() - rss0 < 256 * MiB  # the engine's process never held the allocation
    # the worker that hit its limit leaves (its heap may be fragmented) and is replaced
    await wait_for(lambda: executor(peng).describe()["started"] >= 2 and pids(peng), "a replacement worker")
    await steady_keeps_working(peng, 0, "after")
    await peng.write_lp("db", "hog v=2i")
    recs = await wait_acts(peng, "hog", 2, timeout=30)
    assert [r.status for r in recs] == ["memory_limit"] * 2


# ---------------------------------------------------------------------------- worker hygiene


def _fd_targets(pid: int) -> list[str]:
    out = []
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{n}"))
        except OSError:
            pass
    return out


def _listening_inodes() -> set[str]:
    inodes = set()
    for name in ("tcp", "tcp6", "unix"):
        try:
            with open(f"/proc/net/{name}") as f:
                lines = list(f)[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if name == "unix":
                if len(parts) >= 7 and parts[3] == "00010000":  # __SO_ACCEPTCON: a listening socket
                    inodes.add(parts[6])
            elif parts[3] == "0A":  # TCP_LISTEN
                inodes.add(parts[9])
    return inodes


async def test_workers_hold_no_engine_descriptor(peng: Engine, tmp_path: Path) -> None:
    pe = peng.processing
    await steady_trigger(peng)
    await steady_keeps_working(peng, 0, "warm")  # a worker has run a plugin
    lock = str(tmp_path / "data" / "LOCK")
    assert lock in _fd_targets(os.getpid())  # the engine holds it (so the check below means something)
    listening = _listening_inodes()
    data_dir = str(tmp_path / "data")
    for pid in pids(peng):
        targets = _fd_targets(pid)
        assert lock not in targets
        assert not [t for t in targets if t.startswith(data_dir)], targets  # no WAL, store or Parquet file
        socks = [t[len("socket:["):-1] for t in targets if t.startswith("socket:[")]
        assert not listening.intersection(socks), targets
        # only stdio and the channel: stdin /dev/null, stdout/stderr the pipe to the engine, one socket
        assert len(socks) == 1, targets


# ------------------------------------------------------------------------- module state, mixed


async def test_directory_plugin_module_state_is_kept_per_worker(peng: Engine) -> None:
    pe = peng.processing
    pkg = peng.config.plugin_dir / "counter"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import os
        calls = 0

        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            global calls
            if query_parameters.get("crash"):
                os._exit(9)
            calls += 1
            return {"calls": calls, "pid": os.getpid()}
    """))
    await pe.create_trigger("db", "counter", "counter/", "request:counter")

    got = [await _request(peng, "counter") for _ in range(3)]
    assert [g["calls"] for g in got] == [1, 2, 3]  # the module stays imported in its worker
    assert len({g["pid"] for g in got}) == 1
    assert got[0]["pid"] in pids(peng)
    await _request(peng, "counter", crash="1", expect_ok=False)
    [rec] = acts(peng, "counter", "crashed")
    assert "exited with code 9" in rec.error
    after = await _request(peng, "counter")
    assert after["calls"] == 1 and after["pid"] != got[0]["pid"]  # a new worker imports it afresh


async def _request(e: Engine, path: str, expect_ok: bool = True, **params: str) -> dict:
    import json

    resp = await e.processing.handle_request(path, params, {}, b"")
    if expect_ok:
        assert resp.status == 200, (resp.status, resp.body)
        return json.loads(resp.body)
    assert resp.status >= 500, (resp.status, resp.body)
    return {}


async def test_mixed_isolation_a_process_trigger_crashes_thread_triggers_go_on(tmp_path: Path) -> None:
    e = process_engine(tmp_path, plugin_isolation="thread")
    await e.start()
    try:
        await e.create_database("db")
        pe = e.processing
        plugin(e, "crash.py", crash_plugin(CRASHES["null_pointer"][0]))
        await pe.create_trigger("db", "crash", "crash.py", "table:boom",
                                settings=TriggerSettings(isolation="process"))
        await steady_trigger(e)  # the server's default: a thread
        await steady_keeps_working(e, 0, "before")
        await e.write_lp("db", "boom v=1i")
        [rec] = await wait_acts(e, "crash", 1)
        assert rec.status == "crashed" and "SIGSEGV" in rec.error
        await steady_keeps_working(e, 2, "after")
        d = e.processing.executor.describe()
        assert d["default"] == "thread" and d["process"]["replaced"] == 1
        assert d["thread"]  # the thread executor served the steady trigger
        assert os.getpid() not in d["process"]["pids"]
    finally:
        await e.stop()


# ------------------------------------------------------------------------------ forking plugins


def _running(pid: int) -> bool:
    """Not yet ended as its pidfd tells (a zombie's pidfd is readable only once every one of its
    threads has exited: the moment the pool itself can see it). A worker does not reap what its
    plugin forked, so "ended" includes a zombie."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        ready, _, _ = select.select([fd], [], [], 0)
        return not ready
    finally:
        os.close(fd)


async def test_a_forked_child_that_returns_never_speaks_for_the_worker(peng: Engine, tmp_path: Path) -> None:
    """A plugin forks and the child returns from the entry point, as the parent does: the child
    must not take part in the worker's conversation with the engine (its log lines and its
    `done` would be read as the next activation's, and it would compete for the next `run`)."""
    pe = peng.processing
    go = tmp_path / "go"
    plugin(peng, "forks.py", f"""
        import os, time

        def process_writes(influxdb3_local, table_batches, args=None):
            pid = os.fork()
            if pid == 0:
                while not os.path.exists({str(go)!r}):
                    time.sleep(0.01)
                influxdb3_local.info("child here")
                return
            influxdb3_local.cache.put("forked", pid, use_global=True)
            influxdb3_local.info("parent here")
    """)
    await pe.create_trigger("db", "forks", "forks.py", "table:f")
    await peng.write_lp("db", "f v=1i")
    [first] = await wait_acts(peng, "forks", 1)
    assert first.status == "ok"
    child = pe.caches.get_value(("global",), "forked")
    try:
        go.write_text("")
        await wait_for(lambda: not _running(child), f"the forked child {child} to leave once it returned")
        for i in range(2, 5):
            await peng.write_lp("db", f"f v={i}i")
            await wait_acts(peng, "forks", i)
            await wait_for(lambda: pe.caches.get_value(("global",), "forked") != child or False,
                           "the next activation to run the plugin")
            child = pe.caches.get_value(("global",), "forked")
            go.write_text("")
            await wait_for(lambda: not _running(child), f"the forked child {child} to leave")
        recs = acts(peng, "forks")
        assert [r.status for r in recs] == ["ok"] * 4
        texts = [x.text for x in pe.logs.entries() if x.trigger == "forks"]
        assert texts.count("parent here") == 4, texts
        assert "child here" not in texts, texts
    finally:
        for pid in {child, pe.caches.get_value(("global",), "forked")}:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


async def test_a_worker_that_dies_while_idle_is_not_blamed_on_the_next_activation(peng: Engine, tmp_path: Path) -> None:
    """A plugin's background thread ends its worker after the activation finished: the next
    activation (here of a trigger that disables itself on error) runs on a fresh worker, ok."""
    pe = peng.processing
    fire = tmp_path / "fire"
    plugin(peng, "late.py", f"""
        import os, threading, time

        def _later():
            while not os.path.exists({str(fire)!r}):
                time.sleep(0.01)
            os._exit(5)

        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.cache.put("pid", os.getpid(), use_global=True)
            if table_batches[0]["rows"][0]["v"] == 1:
                threading.Thread(target=_later, daemon=True).start()
    """)
    await pe.create_trigger("db", "late", "late.py", "table:late", settings=TriggerSettings(error_behavior="disable"))
    await peng.write_lp("db", "late v=1i")
    [first] = await wait_acts(peng, "late", 1)
    assert first.status == "ok"
    dead = pe.caches.get_value(("global",), "pid")
    fire.write_text("")
    await wait_for(lambda: not _running(dead), f"worker {dead} to exit while idle")
    await peng.write_lp("db", "late v=2i")
    recs = await wait_acts(peng, "late", 2)
    assert recs[1].status == "ok", (recs[1].status, recs[1].error)
    assert pe.caches.get_value(("global",), "pid") != dead
    assert not pe.get("db", "late").disabled
    assert dead not in pids(peng)
