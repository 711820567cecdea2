"""The `influx3` CLI (PyPI influxdb3-python-cli, built on influxdb3-python) against a real `pe serve`,
configured with host, token and database only: its `write` goes over HTTP and its `sql` over
Flight, both on the one port. It pages answers with an interactive prompt, so it runs on a pty."""
from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# the one installed next to this interpreter (a venv's bin is not always on PATH), else PATH's
_HERE = Path(sys.executable).parent / "influx3"
INFLUX3 = str(_HERE) if _HERE.exists() else shutil.which("influx3")
pytestmark = pytest.mark.skipif(INFLUX3 is None, reason="needs influxdb3-python-cli (the influx3 command)")


def _run_on_a_pty(args: list[str], env: dict[str, str], timeout: float = 60.0) -> str:
    """Run until it prints its pager prompt (then end it with Ctrl-D) or exits; return what it printed."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(args, stdin=sub, stdout=sub, stderr=sub, env=env, close_fds=True)
    os.close(sub)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the child closed the pty
                    break
                if not chunk:
                    break
                out += chunk
                if b"Press TAB" in out:
                    os.write(main, b"\x04")
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(main)
    return out.decode("utf-8", "replace")


def test_influx3_writes_and_queries_on_the_host_port(server, unique_db: str, tmp_path: Path):
    env = {**os.environ, "HOME": str(tmp_path)}  # its config lives under ~/Documents
    assert INFLUX3 is not None
    made = subprocess.run([INFLUX3, "config", "create", "--name", "pe", "--host", server.url, "--token",
                           server.token, "--database", unique_db, "--org", "none", "--active"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert "created successfully" in made.stdout, made.stdout + made.stderr
    wrote = subprocess.run([INFLUX3, "write", "cpu,host=edge-7 usage=42.5 1"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    out = _run_on_a_pty([INFLUX3, "sql", "SELECT host, usage FROM cpu"], env)
    assert "edge-7" in out and "42.5" in out, out
