"""Every shared fixture of the suite, registered once (tests/conftest.py: pytest_plugins).

- admin_token, free_port, unique_db;
- server (one `pe serve` per session and worker), server_factory (private servers), http;
- plugin_isolation: where plugins run, "thread" or "process"; every test that asks for it (or for
  a fixture below that runs plugins) runs once per mode, as `test[thread]` and `test[process]`,
  unless marked `@pytest.mark.thread_only("why")` (tests/conftest.py: pytest_generate_tests);
- plugin_server, plugin_http, plugin_server_factory, venv_plugin_server (`pe serve --plugin-dir`);
- engine (an in-process Engine), eng (an Engine with the test plugins and a database `db`).
- (support.numpy_site, also registered) numpy_site, pandas_site: NumPy and pandas outside pe's environment.
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


@pytest.fixture
def plugin_isolation(request: pytest.FixtureRequest) -> str:
    """"thread" or "process": the parameter tests/conftest.py gives every test that uses it."""
    return request.param


def _stop_all(servers: list[ServerProc]) -> None:
    codes = [(srv, srv.stop()) for srv in servers]
    for srv, rc in codes:
        assert rc == 0, f"pe serve exited with {rc}:\n{srv.stderr}"


@pytest.fixture(scope="session")
def _plugin_servers(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[dict[str, ServerProc]]:
    """The shared plugin servers, one per isolation mode, each started when a test first needs it."""
    servers: dict[str, ServerProc] = {}
    yield servers
    _stop_all(list(servers.values()))


@pytest.fixture
def plugin_server(_plugin_servers: dict[str, ServerProc], plugin_isolation: str,
                  tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> ServerProc:
    """The `pe serve --plugin-dir` of this test's isolation mode, shared by the processing tests
    of that mode (unique db, trigger and path names)."""
    srv = _plugin_servers.get(plugin_isolation)
    if srv is None:
        srv = start_plugin_server(tmp_path_factory.mktemp(f"pe-plugin-server-{plugin_isolation}"), admin_token,
                                  isolation=plugin_isolation)
        _plugin_servers[plugin_isolation] = srv
    return srv


@pytest.fixture
def plugin_http(plugin_server: ServerProc) -> Http:
    return Http(plugin_server.url, plugin_server.token)


@pytest.fixture
def plugin_server_factory(tmp_path: Path, plugin_isolation: str) -> Iterator[Callable[..., ServerProc]]:
    """Private plugin servers of this test's isolation mode (restarts, odd flags); every one
    started is stopped at teardown."""
    started: list[ServerProc] = []

    def make(base: Path | None = None, token: str | None = "", extra: list[str] | None = None,
             env: dict[str, str] | None = None) -> ServerProc:
        srv = start_plugin_server(base or tmp_path / "srv", token, extra, env, isolation=plugin_isolation)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def _venv_plugin_servers() -> Iterator[dict[str, ServerProc]]:
    servers: dict[str, ServerProc] = {}
    yield servers
    _stop_all(list(servers.values()))


@pytest.fixture
def venv_plugin_server(_venv_plugin_servers: dict[str, ServerProc], plugin_isolation: str,
                       tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> ServerProc:
    """A plugin server of this test's isolation mode (one per mode and session, started when
    first needed) whose packages go to a throw-away venv (`--virtual-env-location`), never
    to the environment running the tests. pip runs offline: PIP_NO_INDEX=1, and PIP_FIND_LINKS
    points at a directory of hand-built wheels (`srv.dist`), so names resolve only there."""
    srv = _venv_plugin_servers.get(plugin_isolation)
    if srv is not None:
        return srv
    base = tmp_path_factory.mktemp(f"pe-venv-server-{plugin_isolation}")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    dist = base / "dist"
    dist.mkdir()
    srv = start_plugin_server(base, admin_token, ["--virtual-env-location", str(venv)],
                              env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(dist),
                                   "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                              isolation=plugin_isolation)
    srv.venv = venv  # type: ignore[attr-defined]
    srv.dist = dist  # type: ignore[attr-defined]
    _venv_plugin_servers[plugin_isolation] = srv
    return srv


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
async def eng(tmp_path: Path, plugin_isolation: str) -> AsyncIterator:
    """A started engine with the test plugins (a private copy) and a database `db`, its plugins
    running in this test's isolation mode."""
    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    await e.create_database("db")
    try:
        yield e
    finally:
        await e.stop()
