"""Every shared fixture of the suite, registered once (tests/conftest.py: pytest_plugins).

- admin_token, free_port, unique_db;
- server (one `pe serve` per session and worker), server_factory (private servers), http;
- plugin_server, plugin_http, plugin_server_factory, venv_plugin_server (`pe serve --plugin-dir`);
- engine (an in-process Engine), eng (an Engine with the test plugins and a database `db`).
"""
from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from support.engines import make_engine
from support.http import Http
from support.servers import ServerProc, start_plugin_server, start_server


@pytest.fixture(scope="session")
def admin_token() -> str:
    return "apiv3_test_" + secrets.token_urlsafe(24)


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unique_db() -> str:
    return "db_" + secrets.token_hex(4)


# --------------------------------------------------------------------- `pe serve` subprocesses
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
def http(server: ServerProc) -> Http:
    return Http(server.url, server.token)


@pytest.fixture(scope="session")
def plugin_server(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[ServerProc]:
    """One `pe serve --plugin-dir` shared by the processing tests (unique db, trigger and path names)."""
    srv = start_plugin_server(tmp_path_factory.mktemp("pe-plugin-server"), admin_token)
    yield srv
    rc = srv.stop()
    assert rc == 0, f"pe serve exited with {rc}:\n{srv.stderr}"


@pytest.fixture
def plugin_http(plugin_server: ServerProc) -> Http:
    return Http(plugin_server.url, plugin_server.token)


@pytest.fixture
def plugin_server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProc]]:
    """Private plugin servers (restarts, odd flags); every one started is stopped at teardown."""
    started: list[ServerProc] = []

    def make(base: Path | None = None, token: str | None = "", extra: list[str] | None = None,
             env: dict[str, str] | None = None) -> ServerProc:
        srv = start_plugin_server(base or tmp_path / "srv", token, extra, env)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def venv_plugin_server(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[ServerProc]:
    """A plugin server whose packages go to a throw-away venv (`--virtual-env-location`), never
    to the environment running the tests. pip runs offline: PIP_NO_INDEX=1, and PIP_FIND_LINKS
    points at a directory of hand-built wheels (`srv.dist`), so names resolve only there."""
    base = tmp_path_factory.mktemp("pe-venv-server")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    dist = base / "dist"
    dist.mkdir()
    srv = start_plugin_server(base, admin_token, ["--virtual-env-location", str(venv)],
                              env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(dist),
                                   "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    srv.venv = venv  # type: ignore[attr-defined]
    srv.dist = dist  # type: ignore[attr-defined]
    yield srv
    rc = srv.stop()
    assert rc == 0, f"pe serve exited with {rc}:\n{srv.stderr}"


# --------------------------------------------------------------------- in-process engines
@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator:
    """An in-process Engine on a temp data dir, flushing every 5 ms."""
    from pe_engine.config import EngineConfig
    from pe_engine.engine import Engine

    e = Engine(EngineConfig(data_dir=tmp_path / "engine-data", wal_flush_interval=0.005))
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


@pytest_asyncio.fixture
async def eng(tmp_path: Path) -> AsyncIterator:
    """A started engine with the test plugins (a private copy) and a database `db`."""
    e = make_engine(tmp_path)
    await e.start()
    await e.create_database("db")
    try:
        yield e
    finally:
        await e.stop()
