"""The `influx3` command of influxdb3-python against a real `pe serve`, given host, token and
database only: its query goes over Flight on the HTTP port (it has no Flight port option)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.http import Http

# the one installed next to this interpreter (a venv's bin is not always on PATH), else PATH's
_HERE = Path(sys.executable).parent / "influx3"
INFLUX3 = str(_HERE) if _HERE.exists() else shutil.which("influx3")


def _has_query_command() -> bool:
    if INFLUX3 is None:
        return False
    r = subprocess.run([INFLUX3, "query", "--help"], capture_output=True, text=True, timeout=60)
    return r.returncode == 0 and "--database" in r.stdout


pytestmark = pytest.mark.skipif(not _has_query_command(),
                                reason="needs influxdb3-python's influx3 command (influx3 query)")


def test_influx3_queries_on_the_host_port(server, http: Http, unique_db: str):
    http.write(unique_db, "cpu,host=edge-7 usage=42.5 1\ncpu,host=edge-8 usage=7.5 2")
    assert INFLUX3 is not None
    r = subprocess.run([INFLUX3, "query", "-H", server.url, "-d", unique_db, "--token", server.token,
                        "--format", "json", "SELECT host, usage FROM cpu ORDER BY time"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout) == [{"host": "edge-7", "usage": 42.5}, {"host": "edge-8", "usage": 7.5}]
    bad = subprocess.run([INFLUX3, "query", "-H", server.url, "-d", unique_db, "--token", "wrong",
                          "--format", "json", "SELECT 1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
