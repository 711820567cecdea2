"""Shared fixtures: a real `pe serve` subprocess on loopback, and an in-process Engine.

The server fixture runs the same command an operator would (`python -m
pe_engine.cli serve ...`) and waits for its ready line, so end-to-end tests
exercise argument parsing, signals and shutdown too.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"pe serving on (http://\S+) \(data: (.*)\)")
START_TIMEOUT = 30.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("PE_TOKEN", "PE_HOST", "PE_DATABASE", "PE_ADMIN_TOKEN", "PE_DATA_DIR", "PE_HTTP_BIND",
                 "INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN", "INFLUXDB3_DATABASE_NAME"):
        env.pop(name, None)
    return env


@dataclass
class ServerProc:
    """A running `pe serve` and what tests need to talk to it."""

    url: str
    token: str | None
    data_dir: Path
    proc: subprocess.Popen
    args: list[str]
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the server and wait for it; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(data_dir: Path, token: str | None = "", extra: list[str] | None = None) -> ServerProc:
    """Start `pe serve` on a free loopback port (port 0, read back from the ready line)."""
    args = [sys.executable, "-m", "pe_engine.cli", "serve",
            "--data-dir", str(data_dir), "--http-bind", "127.0.0.1:0", "--wal-flush-interval", "10ms"]
    if token:
        args += ["--admin-token", token]
    args += extra or []
    proc = subprocess.Popen(args, cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()
    found: dict[str, str] = {}

    log_path = Path(data_dir).parent / f"{Path(data_dir).name}.serve.log"  # kept for post-mortems

    def drain() -> None:  # keeps reading so the server never blocks on a full pipe
        assert proc.stderr is not None
        with open(log_path, "a", encoding="utf-8") as log:
            for line in proc.stderr:
                lines.append(line)
                log.write(line)
                log.flush()
                m = READY.search(line)
                if m and not ready.is_set():
                    found["url"] = m.group(1)
                    ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True, name="pe-serve-stderr").start()
    ready.wait(START_TIMEOUT)
    if "url" not in found:
        proc.kill()
        proc.wait()
        raise RuntimeError("pe serve did not become ready:\n" + "".join(lines))
    return ServerProc(found["url"], token or None, Path(data_dir), proc, args, lines)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked @pytest.mark.slow (soak, many crash cycles)")


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; repeated so the marker is known with any ini file.
    config.addinivalue_line("markers", "slow: long-running tests (soak, many crash cycles); run with --run-slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def admin_token() -> str:
    return "apiv3_test_" + secrets.token_urlsafe(24)


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[ServerProc]:
    """One server shared by the e2e tests (each test uses its own database names)."""
    srv = start_server(tmp_path_factory.mktemp("pe-server"), admin_token,
                       ["--max-request-bytes", "4MiB"])
    yield srv
    rc = srv.stop()
    assert rc == 0, f"pe serve exited with {rc}:\n{srv.stderr}"


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProc]]:
    """Start private servers (restarts, first-start token); all are stopped at teardown."""
    started: list[ServerProc] = []

    def make(data_dir: Path | None = None, token: str | None = "", extra: list[str] | None = None) -> ServerProc:
        srv = start_server(data_dir or tmp_path / "data", token, extra)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def unique_db() -> str:
    return "db_" + secrets.token_hex(4)


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator:
    """An in-process Engine on a temp data dir, flushing every 5 ms."""
    from pe_engine.config import EngineConfig
    from pe_engine.engine import Engine

    eng = Engine(EngineConfig(data_dir=tmp_path / "engine-data", wal_flush_interval=0.005))
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()

