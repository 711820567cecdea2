"""`pe serve` subprocesses for the end-to-end tests, the test plugins, and a hand-built wheel.

`start_server` runs the same command an operator would (`python -m pe_engine.cli serve ...`) and
waits for its ready line, so end-to-end tests exercise argument parsing, signals and shutdown too.
`start_plugin_server` adds `--plugin-dir` with the plugins of tests/support/plugins copied in.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = Path(__file__).resolve().parent / "plugins"
ISOLATION_MODES = ("thread", "process")  # where plugins run: the `plugin_isolation` fixture's values
TEST_PLUGIN_PROCESSES = 2  # process isolation: a small pool (each worker costs a start), still two at once
READY = re.compile(r"pe serving on (https?://\S+) \(data: (.*)\)")
START_TIMEOUT = 30.0


def server_env() -> dict[str, str]:
    """The environment of a `pe` subprocess: this checkout first on the path, no PE_/INFLUXDB3_ settings
    (plugin servers get their isolation mode as a flag: `start_plugin_server`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("PE_TOKEN", "PE_HOST", "PE_DATABASE", "PE_ADMIN_TOKEN", "PE_DATA_DIR", "PE_HTTP_BIND",
                 "PE_PLUGIN_ISOLATION", "INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN", "INFLUXDB3_DATABASE_NAME"):
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


def start_server(data_dir: Path, token: str | None = "", extra: list[str] | None = None,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> ServerProc:
    """Start `pe serve` on a free loopback port (port 0, read back from the ready line).

    `env` is added to the server's environment (e.g. PIP_NO_INDEX for offline package installs)."""
    args = [sys.executable, "-m", "pe_engine.cli", "serve",
            "--data-dir", str(data_dir), "--http-bind", "127.0.0.1:0", "--wal-flush-interval", "10ms"]
    if token:
        args += ["--admin-token", token]
    args += extra or []
    proc = subprocess.Popen(args, cwd=ROOT, env={**server_env(), **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
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


def install_plugins(plugin_dir: Path) -> Path:
    """Copy the test plugins (tests/support/plugins/*.py) into a plugin directory."""
    plugin_dir.mkdir(parents=True, exist_ok=True)
    for f in PLUGINS.glob("*.py"):
        shutil.copy(f, plugin_dir / f.name)
    return plugin_dir


def isolation_args(isolation: str | None) -> list[str]:
    """The `pe serve` flags of one plugin isolation mode (none: the server's default, thread)."""
    if isolation is None:
        return []
    return ["--plugin-isolation", isolation, "--plugin-processes", str(TEST_PLUGIN_PROCESSES)]


def start_plugin_server(base: Path, token: str | None, extra: list[str] | None = None,
                        env: dict[str, str] | None = None, isolation: str | None = None) -> ServerProc:
    """`pe serve --plugin-dir <base>/plugins --data-dir <base>/data` (plugin files copied in first).

    `env` is added to the server's environment (e.g. PIP_NO_INDEX for offline package installs).
    `isolation` is where plugins run (tests take it from the `plugin_isolation` fixture; flags in
    `extra` come after it, so a test can still override it).
    The plugin directory is kept on the returned object as `.plugin_dir`.
    """
    plugin_dir = base / "plugins"
    if not plugin_dir.exists():
        install_plugins(plugin_dir)
    srv = start_server(base / "data", token,
                       ["--plugin-dir", str(plugin_dir), *isolation_args(isolation), *(extra or [])], env)
    srv.plugin_dir = plugin_dir  # type: ignore[attr-defined]
    return srv


def build_wheel(dist: Path, name: str, version: str, value: str) -> Path:
    """A minimal pure-Python wheel written by hand (no build backend, no network)."""
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
