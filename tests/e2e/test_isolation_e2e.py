"""Process isolation end to end: a real `pe serve --plugin-isolation process` on loopback, plugins
that crash, segfault, kill themselves, allocate 20 GiB or fork, and real SIGKILLs.

What must hold: the server outlives every plugin fault (each activation recorded with its status
and exit code / signal), writes and queries go on, and no worker — nor a process a plugin forks —
holds the data-dir lock or the listening socket, so a server killed with SIGKILL restarts on the
same data dir and port while a plugin's grandchild still lives.
Nothing here asserts on timing: every wait polls for a condition.
"""
from __future__ import annotations

import json
import os
import re
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.http import Http
from support.servers import ServerProc, start_plugin_server
from support.waiting import wait_until

GiB = 1 << 30
MiB = 1 << 20

CRASHES = {  # table / trigger name -> (body of process_writes, what the error names)
    "os_exit": ("import os\nos._exit(3)", "exited with code 3"),
    "null_pointer": ("import ctypes\nctypes.string_at(0)", "SIGSEGV"),
    "sigkill_self": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    "c_recursion": ("import pickle, sys\nsys.setrecursionlimit(1 << 30)\nx = []\nfor _ in range(300_000):\n"
                    "    x = [x]\npickle.dumps(x)", "SIGSEGV"),
    "hog": ("block = bytearray(20 * 1024 ** 3)\ninfluxdb3_local.info(f'allocated {len(block)}')", "memory limit"),
}

FORKER = """
import os, time

def process_writes(influxdb3_local, table_batches, args=None):
    pid = os.fork()
    if pid == 0:  # the grandchild of the server: outlives its worker and the server
        try:
            time.sleep(300)
        finally:
            os._exit(0)
    with open(args["pidfile"] + ".tmp", "w") as f:
        f.write(str(pid))
    os.rename(args["pidfile"] + ".tmp", args["pidfile"])
"""


def wal_plugin(body: str) -> str:
    return "def process_writes(influxdb3_local, table_batches, args=None):\n" + textwrap.indent(body, "    ") + "\n"


# --------------------------------------------------------------------------------- helpers
def post_json(http: Http, path: str, obj) -> None:
    r = http.request("POST", path, body=json.dumps(obj), headers={"Content-Type": "application/json"})
    assert r.status in (200, 201, 204), (path, r.status, r.text)


def create_db(http: Http, db: str) -> None:
    post_json(http, "/api/v3/configure/database", {"db": db})


def create_trigger(http: Http, db: str, name: str, plugin: str, spec: str, settings: dict | None = None,
                   arguments: dict | None = None) -> None:
    post_json(http, "/api/v3/configure/processing_engine_trigger", {
        "db": db, "plugin_filename": plugin, "trigger_name": name, "trigger_specification": spec,
        "trigger_settings": {"run_async": False, "error_behavior": "log", **(settings or {})},
        "trigger_arguments": arguments, "disabled": False})


def write(http: Http, db: str, lp: str) -> None:
    r = http.write(db, lp)
    assert r.status == 204, (r.status, r.text)


def activations(http: Http, db: str, trigger: str) -> list[dict]:
    r = http.query(db, "SELECT trigger_name, status, error, attempt FROM system.processing_engine_activations "
                       f"WHERE trigger_name = '{trigger}' ORDER BY id")
    assert r.status == 200, r.text
    return r.json()


def wait_activations(http: Http, db: str, trigger: str, n: int, timeout: float = 30.0) -> list[dict]:
    return wait_until(lambda: (got := activations(http, db, trigger)) and len(got) >= n and got,
                      f"{n} activation(s) of {trigger}", timeout)


def steady_round(http: Http, db: str, tag: str, expect_reports: int) -> None:
    """A write is accepted and queryable, and the steady trigger's write-backs land."""
    write(http, db, f"other,run={tag} v=1i")
    assert http.rows(db, f"SELECT v FROM other WHERE run = '{tag}'") == [{"v": 1}]
    wait_until(lambda: len(_rows_or_empty(http, db, "SELECT row_count FROM write_reports")) >= expect_reports,
               f"{expect_reports} write-back(s) of the steady trigger")


def _rows_or_empty(http: Http, db: str, sql: str) -> list[dict]:
    r = http.query(db, sql)
    return r.json() if r.status == 200 else []


def children(pid: int) -> set[int]:
    """Direct children of `pid` (the server's plugin workers)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.add(int(entry))
    return out


def workers(srv: ServerProc) -> set[int]:
    out = set()
    for pid in children(srv.proc.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"executors.worker" in f.read():
                    out.add(pid)
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def fd_targets(pid: int) -> list[str]:
    out = []
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{n}"))
        except OSError:
            pass
    return out


def listening_inodes() -> set[str]:
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{name}") as f:
                lines = list(f)[1:]
        except OSError:
            continue
        inodes.update(parts[9] for parts in (line.split() for line in lines) if parts[3] == "0A")  # LISTEN
    return inodes


def holds_nothing_of_the_engine(pid: int, data_dir: Path) -> None:
    targets = fd_targets(pid)
    assert str(data_dir / "LOCK") not in targets, targets
    assert not [t for t in targets if t.startswith(str(data_dir))], targets
    listening = listening_inodes()
    assert not [t for t in targets if t.startswith("socket:[") and t[8:-1] in listening], targets


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):  # the peak: an allocation that came and went still shows
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def port_of(srv: ServerProc) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def kill(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def process_server(tmp_path: Path) -> Iterator[ServerProc]:
    srv = start_plugin_server(tmp_path / "srv", None, ["--without-auth", "--plugin-isolation", "process"])
    try:
        yield srv
    finally:
        srv.stop(signal.SIGKILL)


# ------------------------------------------------------------------------------------ tests
def test_every_fault_ends_only_its_worker_and_the_server_goes_on(process_server: ServerProc) -> None:
    srv = process_server
    http = Http(srv.url, None)
    for name, (body, _named) in CRASHES.items():
        (srv.plugin_dir / f"{name}.py").write_text(wal_plugin(body))
    create_db(http, "db")
    create_trigger(http, "db", "steady", "wal_plugin.py", "table:other")
    for name in CRASHES:
        settings = {"memory_limit_bytes": 512 * MiB} if name == "hog" else None
        create_trigger(http, "db", name, f"{name}.py", f"table:{name}", settings)
    steady_round(http, "db", "before", 1)
    hwm_before = rss(srv.proc.pid)
    dead: list[int] = []

    for i, (name, (_body, named)) in enumerate(CRASHES.items()):
        write(http, "db", f"{name} v={i}i")
        [rec] = wait_activations(http, "db", name, 1)
        expected = "memory_limit" if name == "hog" else "crashed"
        assert rec["status"] == expected and named in rec["error"], rec
        if expected == "crashed":
            m = re.search(r"plugin worker process (\d+) ", rec["error"])
            assert m, rec
            dead.append(int(m.group(1)))
        steady_round(http, "db", f"after_{name}", i + 2)  # writes, queries, the other trigger: all go on
        assert srv.proc.poll() is None, srv.stderr

    assert "MemoryError" in activations(http, "db", "hog")[0]["error"]
    assert rss(srv.proc.pid) - hwm_before < 512 * MiB, "the server itself held the 20 GiB allocation"
    # every worker that ran a fault is gone (reaped), each fault on a worker of its own; replacements serve
    assert len(set(dead)) == len(dead) == 4
    assert not any(alive(p) for p in dead) and not set(dead) & workers(srv)
    assert wait_until(lambda: workers(srv), "a replacement worker")
    r = http.request("GET", "/health")
    assert r.status == 200
    assert srv.proc.poll() is None


def test_workers_hold_neither_the_data_dir_lock_nor_the_listening_socket(process_server: ServerProc) -> None:
    srv = process_server
    http = Http(srv.url, None)
    create_db(http, "db")
    create_trigger(http, "db", "steady", "wal_plugin.py", "table:other")
    steady_round(http, "db", "warm", 1)
    assert str(srv.data_dir / "LOCK") in fd_targets(srv.proc.pid)  # the server holds it: the check means something
    assert listening_inodes() & {t[8:-1] for t in fd_targets(srv.proc.pid) if t.startswith("socket:[")}
    found = wait_until(lambda: workers(srv), "a plugin worker")
    for pid in found:
        holds_nothing_of_the_engine(pid, srv.data_dir)


def test_a_forking_plugin_cannot_block_a_restart_after_sigkill(tmp_path: Path) -> None:
    base = tmp_path / "srv"
    srv = start_plugin_server(base, None, ["--without-auth", "--plugin-isolation", "process"])
    grandchild: int | None = None
    again: ServerProc | None = None
    try:
        http = Http(srv.url, None)
        (srv.plugin_dir / "forker.py").write_text(FORKER)
        pidfile = tmp_path / "grandchild.pid"
        create_db(http, "db")
        create_trigger(http, "db", "fork", "forker.py", "table:cpu", arguments={"pidfile": str(pidfile)})
        write(http, "db", "cpu v=1")
        wait_until(pidfile.exists, "the plugin to fork")
        grandchild = int(pidfile.read_text())
        assert alive(grandchild)
        [rec] = wait_activations(http, "db", "fork", 1)
        assert rec["status"] == "ok", rec
        holds_nothing_of_the_engine(grandchild, srv.data_dir)
        worker_pids = workers(srv)
        assert worker_pids

        port = port_of(srv)
        srv.stop(signal.SIGKILL)
        wait_until(lambda: not any(alive(p) for p in worker_pids), "the workers to die with the server")
        assert alive(grandchild)  # it still runs: it must not matter

        again = start_plugin_server(base, None, ["--without-auth", "--http-bind", f"127.0.0.1:{port}"])
        assert port_of(again) == port
        h2 = Http(again.url, None)
        assert h2.rows("db", "SELECT v FROM cpu") == [{"v": 1.0}]  # same data dir, recovered
        write(h2, "db", "cpu v=2 2")
        assert len(h2.rows("db", "SELECT v FROM cpu")) == 2
        assert alive(grandchild)
    finally:
        srv.stop(signal.SIGKILL)
        if again is not None:
            again.stop()
        kill(grandchild)


def test_mixed_isolation_only_the_process_trigger_crashes(tmp_path: Path) -> None:
    """Server default thread; one trigger with isolation=process segfaults; the thread triggers go on."""
    srv = start_plugin_server(tmp_path / "srv", None, ["--without-auth"])
    try:
        http = Http(srv.url, None)
        (srv.plugin_dir / "segv.py").write_text(wal_plugin(CRASHES["null_pointer"][0]))
        create_db(http, "db")
        create_trigger(http, "db", "segv", "segv.py", "table:boom", {"isolation": "process"})
        create_trigger(http, "db", "steady", "wal_plugin.py", "table:other")
        steady_round(http, "db", "before", 1)
        assert not children(srv.proc.pid) - workers(srv)  # nothing but workers is ever started
        for i in range(2):
            write(http, "db", f"boom v={i}i")
            recs = wait_activations(http, "db", "segv", i + 1)
            assert recs[i]["status"] == "crashed" and "SIGSEGV" in recs[i]["error"], recs
            steady_round(http, "db", f"after_{i}", i + 2)
        assert [r["status"] for r in activations(http, "db", "steady")] == ["ok"] * 3
        assert http.rows("db", "SELECT count(*) AS n FROM boom") == [{"n": 2}]
        assert srv.proc.poll() is None
    finally:
        rc = srv.stop()
        assert rc == 0, srv.stderr
