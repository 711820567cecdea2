"""A plugin that forks in thread isolation must not leave a child that blocks the server's restart."""
from __future__ import annotations

import json
import os
import signal
import socket
import textwrap
from pathlib import Path

import pytest

from support.http import Http
from support.servers import start_plugin_server
from support.waiting import wait_until

FORKER = textwrap.dedent(
    """
    import os, time

    def process_writes(influxdb3_local, table_batches, args=None):
        pid = os.fork()
        if pid == 0:  # the child outlives the server
            time.sleep(120)
            os._exit(0)
        influxdb3_local.cache.put("child", pid, use_global=True)
        with open(args["pidfile"], "w") as f:
            f.write(str(pid))
    """
)


def _listening(pid: int) -> bool:
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{name}") as f:
                for line in list(f)[1:]:
                    parts = line.split()
                    if parts[3] == "0A":  # LISTEN
                        inodes.add(parts[9])
        except OSError:
            pass
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link.startswith("socket:[") and link[8:-1] in inodes for link in links)


def _fds_to(pid: int, path: Path) -> list[str]:
    out = []
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{n}") == str(path):
                out.append(n)
        except OSError:
            pass
    return out


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_forked_child_holds_neither_lock_nor_port(tmp_path: Path, isolation: str) -> None:
    srv = start_plugin_server(tmp_path, None, ["--without-auth", "--plugin-isolation", isolation])
    child = None
    try:
        (srv.plugin_dir / "forker.py").write_text(FORKER)
        http = Http(srv.url, None)
        pidfile = tmp_path / "child.pid"
        assert http.write("db", "cpu v=0 0").status < 300
        r = http.request("POST", "/api/v3/configure/processing_engine_trigger", body=json.dumps({
            "db": "db", "plugin_filename": "forker.py", "trigger_name": "fork",
            "trigger_specification": "all_tables", "trigger_arguments": {"pidfile": str(pidfile)},
            "disabled": False,
        }), headers={"Content-Type": "application/json"})
        assert r.status < 300, r.text
        assert http.write("db", "cpu v=1 1").status < 300
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", "the plugin forked", 30)
        child = int(pidfile.read_text())
        assert os.path.exists(f"/proc/{child}")
        # the child closes them in its at-fork hook, which it runs when first scheduled: the parent
        # may get here before that; without the guard they are never closed
        wait_until(lambda: _fds_to(child, srv.data_dir / "LOCK") == [] and not _listening(child),
                   "the forked child closed the data-dir lock and the listening sockets", 10)
        port = int(srv.url.rsplit(":", 1)[1])
        srv.stop(signal.SIGKILL)
        # The child lives on; the same data dir and the same port must be usable at once.
        assert os.path.exists(f"/proc/{child}")
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # refused with EADDRINUSE if the child kept the listener
        again = start_plugin_server(tmp_path, None, ["--without-auth"])
        try:
            assert Http(again.url, None).request("GET", "/health").status == 200
        finally:
            again.stop()
    finally:
        srv.stop(signal.SIGKILL)
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
