"""The official JavaScript client (npm @influxdata/influxdb3-client) against a real `pe serve`, with
host, token and database only: it has no port override, so its queries prove gRPC on the HTTP port.
`queryPoints` reads tags back as tags only through the `iox::column::type` field metadata."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "js" / "influxdb3_client.mjs"
PACKAGE = "@influxdata/influxdb3-client@2"


@pytest.fixture(scope="module")
def js_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm")
    d = tmp_path_factory.mktemp("influxdb3-js")
    try:
        r = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(d), PACKAGE],
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {PACKAGE} timed out (no registry?)")
    if r.returncode != 0:
        pytest.skip(f"npm install {PACKAGE} failed (no registry?): {r.stderr[-500:]}")
    shutil.copy(SCRIPT, d / SCRIPT.name)
    return d


def test_influxdb3_js_writes_and_queries_with_its_defaults(js_dir: Path, server, unique_db: str):
    r = subprocess.run(["node", str(js_dir / SCRIPT.name), server.url, server.token, unique_db],
                       capture_output=True, text=True, timeout=120, cwd=js_dir)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["rows"] == [{"host": "a", "usage": 1.5}, {"host": "b", "usage": 2.5}]
    assert got["points"] == [{"tag": "a", "field": 1.5}, {"tag": "b", "field": 2.5}]
    assert got["params"] == ["b"]
