"""A tiny raw HTTP client for the e2e tests: no retries, no error raising, full control of headers."""
from __future__ import annotations

import http.client as httpclient
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

_DEFAULT = object()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Http:
    def __init__(self, url: str, token: str | None):
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: Any = _DEFAULT,
        timeout: float = 30.0,
    ) -> Reply:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        hdrs = dict(headers or {})
        token = self.token if token is _DEFAULT else token
        if token and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = httpclient.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    # -- shortcuts ----------------------------------------------------------
    def write(self, db: str, lp: str | bytes, token: Any = _DEFAULT, headers: dict | None = None,
              **query: Any) -> Reply:
        return self.request("POST", "/api/v3/write_lp", {"db": db, **query}, lp, headers, token)

    def query(self, db: str, sql: str, fmt: str = "json", token: Any = _DEFAULT, **extra: Any) -> Reply:
        return self.request("GET", "/api/v3/query_sql", {"db": db, "q": sql, "format": fmt, **extra},
                            token=token)

    def rows(self, db: str, sql: str) -> list[dict]:
        r = self.query(db, sql)
        assert r.status == 200, r.body
        return r.json()

    def poll(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()


@pytest.fixture
def http(server) -> Http:
    return Http(server.url, server.token)


# --------------------------------------------------------------------- processing-engine servers
# `pe serve --plugin-dir ...` variants for the processing-engine e2e tests. The plain `server`
# fixture (tests/conftest.py) stays as it is; these start their own processes.
import os as _os  # noqa: E402
import shutil as _shutil  # noqa: E402
import subprocess as _subprocess  # noqa: E402
import sys as _sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

try:  # the root conftest, as pytest imported it (tests/ has no __init__.py)
    from conftest import ServerProc, start_server  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover -- other import modes: load it by path
    import importlib.util as _ilu

    _spec = _ilu.spec_from_file_location("_pe_root_conftest", _Path(__file__).resolve().parents[1] / "conftest.py")
    _mod = _ilu.module_from_spec(_spec)
    assert _spec.loader is not None
    _spec.loader.exec_module(_mod)
    ServerProc, start_server = _mod.ServerProc, _mod.start_server

E2E_PLUGINS = _Path(__file__).resolve().parent / "plugins"


def install_plugins(plugin_dir: _Path) -> _Path:
    """Copy the e2e plugin files (tests/e2e/plugins/*.py) into a server's plugin directory."""
    plugin_dir.mkdir(parents=True, exist_ok=True)
    for f in E2E_PLUGINS.glob("*.py"):
        _shutil.copy(f, plugin_dir / f.name)
    return plugin_dir


def start_plugin_server(base: _Path, token: str | None, extra: list[str] | None = None,
                        env: dict[str, str] | None = None) -> ServerProc:
    """`pe serve --plugin-dir <base>/plugins --data-dir <base>/data` (plugin files copied in first).

    `env` is added to the server's environment (e.g. PIP_NO_INDEX for offline package installs).
    The plugin directory is kept on the returned object as `.plugin_dir`.
    """
    plugin_dir = base / "plugins"
    if not plugin_dir.exists():
        install_plugins(plugin_dir)
    args = ["--plugin-dir", str(plugin_dir), *(extra or [])]
    saved = {k: _os.environ.get(k) for k in (env or {})}
    try:
        _os.environ.update(env or {})
        srv = start_server(base / "data", token, args)
    finally:
        for k, v in saved.items():
            if v is None:
                _os.environ.pop(k, None)
            else:
                _os.environ[k] = v
    srv.plugin_dir = plugin_dir  # type: ignore[attr-defined]
    return srv


@pytest.fixture(scope="session")
def plugin_server(tmp_path_factory: pytest.TempPathFactory, admin_token: str):
    """One `pe serve --plugin-dir` shared by the processing tests (unique db, trigger and path names)."""
    srv = start_plugin_server(tmp_path_factory.mktemp("pe-plugin-server"), admin_token)
    yield srv
    rc = srv.stop()
    assert rc == 0, f"pe serve exited with {rc}:\n{srv.stderr}"


@pytest.fixture
def plugin_http(plugin_server) -> Http:
    return Http(plugin_server.url, plugin_server.token)


@pytest.fixture
def plugin_server_factory(tmp_path: _Path):
    """Private plugin servers (restarts, odd flags); every one started is stopped at teardown."""
    started: list = []

    def make(base: _Path | None = None, token: str | None = "", extra: list[str] | None = None,
             env: dict[str, str] | None = None):
        srv = start_plugin_server(base or tmp_path / "srv", token, extra, env)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def build_wheel(dist: _Path, name: str, version: str, value: str) -> _Path:
    """A minimal pure-Python wheel written by hand (no build backend, no network)."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}/__init__.py": f"VALUE = {value!r}\n".encode(),
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: pe-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = f"{name}-{version}.dist-info/RECORD"
    lines = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
             for p, d in files.items()]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    dist.mkdir(parents=True, exist_ok=True)
    wheel = dist / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
    return wheel


@pytest.fixture(scope="session")
def venv_plugin_server(tmp_path_factory: pytest.TempPathFactory, admin_token: str):
    """A plugin server whose packages go to a throw-away venv (`--virtual-env-location`), never
    to the environment running the tests. pip runs offline: PIP_NO_INDEX=1, and PIP_FIND_LINKS
    points at a directory of hand-built wheels (`srv.dist`), so names resolve only there."""
    base = tmp_path_factory.mktemp("pe-venv-server")
    venv = base / "venv"
    _subprocess.run([_sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
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
