"""A real InfluxDB 1.x (`influxd`, Debian's influxdb package) on loopback, for differential tests.

`start_influx1(base)` writes a minimal config under `base`, picks free loopback ports, runs
`influxd run -config <file>` and waits for `GET /ping` to answer 204. The `influx1` fixture
(session scope) does that once per session and worker, and skips when influxd is not installed.
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SKIP_REASON = ("InfluxDB 1.x (influxd) is not installed: the differential InfluxQL tests need Debian's "
               "influxdb package")

CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{base}/meta"
[data]
  dir = "{base}/data"
  wal-dir = "{base}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
"""


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports nobody listens on right now (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Influx1:
    """A running influxd."""

    url: str
    base: Path
    proc: subprocess.Popen
    log_path: Path

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _ping(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "/ping", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def start_influx1(base: Path) -> Influx1:
    binary = shutil.which("influxd")
    if binary is None:
        pytest.skip(SKIP_REASON)
    base.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _attempt in range(3):  # a port picked free may be taken before influxd binds it: retry
        rpc_port, http_port = free_ports(2)
        conf = base / "influxdb.conf"
        conf.write_text(CONFIG.format(base=base, rpc_port=rpc_port, http_port=http_port), encoding="utf-8")
        log_path = base / "influxd.log"
        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen([binary, "run", "-config", str(conf)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=base)
        finally:
            log.close()
        server = Influx1(f"http://127.0.0.1:{http_port}", base, proc, log_path)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _ping(server.url) == 204:
                return server
            time.sleep(0.1)
        server.stop()
        last_error = server.log
        if "address already in use" not in last_error:
            break
    raise RuntimeError("influxd did not answer GET /ping with 204 in time; its log:\n" + last_error)


@pytest.fixture(scope="session")
def influx1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx1]:
    """One InfluxDB 1.x per session (and xdist worker)."""
    if shutil.which("influxd") is None:
        pytest.skip(SKIP_REASON)
    server = start_influx1(tmp_path_factory.mktemp("influx1"))
    yield server
    server.stop()
