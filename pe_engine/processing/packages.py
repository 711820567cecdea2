"""Installing Python packages for plugins (`pe install package`, the install_packages API).

Which environment? Plugins run inside pe's own interpreter, so a package is only importable by a
plugin if it lands on that interpreter's `sys.path`. InfluxDB embeds CPython and appends the
site-packages of `<plugin-dir>/.venv` (or `--virtual-env-location`) to `sys.path`. pe runs in a
regular Python environment already, so by default packages go into *that* environment (the venv
pe runs in) and are importable at once. A `target` venv is supported for parity with
`--virtual-env-location`: it must be created with the same Python version as pe (compiled
extensions are version specific) and the engine must add `site_packages()` to `sys.path`.

Unlike InfluxDB, which answers success whatever pip did, a nonzero pip exit is reported as a
failure together with pip's own error text.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from pe_engine.errors import BadRequest, Forbidden, PeError

DISABLED_MESSAGE = "Package installation has been disabled. Contact your administrator for more information."
TAIL_LINES = 40
MAX_SPEC_LENGTH = 500

OnLine = Callable[[str], None]


class PackageInstallDisabled(Forbidden):
    """Package management is turned off on this server (HTTP 403, InfluxDB's text)."""

    def __init__(self, message: str = DISABLED_MESSAGE):
        super().__init__(message)


class InvalidPackageSpec(BadRequest):
    pass


class PackageInstallError(PeError):
    """pip could not be started or did not finish in time."""

    status = 500


@dataclass(frozen=True)
class InstallResult:
    ok: bool
    returncode: int
    output_tail: str  # the last lines pip printed (its error text when ok is False)
    command: tuple[str, ...] = field(default=())

    @property
    def message(self) -> str:
        if self.ok:
            return "packages installed"
        return f"pip exited with status {self.returncode}:\n{self.output_tail}"


_SPEC_OK = re.compile(r"""^[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~*;:/@+%'"]*$""")


def validate_spec(spec: str) -> str:
    """One requirement as pip reads it, never an option: no leading '-', no whitespace."""
    if not isinstance(spec, str) or not spec:
        raise InvalidPackageSpec("package name must be a non-empty string")
    if len(spec) > MAX_SPEC_LENGTH:
        raise InvalidPackageSpec(f"package specification is too long ({len(spec)} characters)")
    if spec.startswith("-"):
        raise InvalidPackageSpec(f"invalid package '{spec}': options are not allowed, only package names")
    if any(ch.isspace() for ch in spec):
        raise InvalidPackageSpec(f"invalid package '{spec}': whitespace is not allowed")
    if not _SPEC_OK.match(spec) and not spec.startswith((".", "/")):
        raise InvalidPackageSpec(f"invalid package '{spec}'")
    return spec


def _kill_tree(pid: int) -> None:
    """pip starts build backends that inherit its stdout: stop the whole process group."""
    try:
        if os.name == "nt":
            os.kill(pid, 9)
        else:
            os.killpg(pid, 9)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


class PackageInstaller:
    """Runs `python -m pip install` for one environment, streaming pip's output line by line.

    `python`: the interpreter whose environment receives packages (default: the one running pe).
    `target`: a venv directory instead (its python is used; see the module docstring).
    `pip_args`: trusted extra options from the server configuration (e.g. an index URL), never
    from the request.
    """

    def __init__(
        self,
        python: str = sys.executable,
        disabled: bool = False,
        target: Path | None = None,
        *,
        pip_args: Sequence[str] = (),
        timeout: float | None = 900.0,
        tail_lines: int = TAIL_LINES,
    ) -> None:
        self.target = Path(target) if target is not None else None
        self.python = str(venv_python(self.target)) if self.target is not None else python
        self.disabled = disabled
        self.pip_args = tuple(pip_args)
        self.timeout = timeout
        self.tail_lines = tail_lines
        self._lock = threading.Lock()  # pip runs are not safe to overlap in one environment
        self._async_lock: asyncio.Lock | None = None
        self._pip_ready = False

    # ---- environment -----------------------------------------------------------------------

    def ensure_venv(self) -> Path:
        """Create the target venv if it does not exist yet; returns its python. It is created
        without pip (50 ms instead of seconds of ensurepip at every first start); pip is put in
        by the first install that needs it (`_ensure_pip`)."""
        if self.target is None:
            return Path(self.python)
        py = venv_python(self.target)
        if not py.exists():
            proc = subprocess.run(
                [sys.executable, "-m", "venv", "--without-pip", str(self.target)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise PackageInstallError(f"could not create virtual environment {self.target}: {proc.stderr.strip()}")
        return py

    def _ensure_pip(self, on_line: OnLine | None) -> bool:
        """Bootstrap pip into the target environment once, if it has none (stdlib ensurepip);
        True when it did."""
        if self.target is None or self._pip_ready:
            return False
        has = subprocess.run([self.python, "-c", "import pip"], capture_output=True, env=self._env())
        bootstrapped = has.returncode != 0
        if bootstrapped:
            if on_line is not None:
                on_line(f"installing pip into {self.target} (first install)")
            proc = subprocess.run(
                [self.python, "-m", "ensurepip", "--default-pip"], capture_output=True, text=True, env=self._env()
            )
            if proc.returncode != 0:
                raise PackageInstallError(
                    f"could not install pip into {self.target}: {(proc.stderr or proc.stdout).strip()[-2000:]}"
                )
        self._pip_ready = True
        return bootstrapped

    def site_packages(self) -> list[str]:
        """The environment's site-packages dirs (for the engine to put on sys.path)."""
        proc = subprocess.run(
            [self.python, "-c", "import site, sys; print('\\n'.join(site.getsitepackages()))"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise PackageInstallError(f"cannot inspect {self.python}: {proc.stderr.strip()}")
        return [line for line in proc.stdout.splitlines() if line]

    # ---- commands --------------------------------------------------------------------------

    def _check_enabled(self) -> None:
        if self.disabled:
            raise PackageInstallDisabled()

    def packages_command(self, packages: Sequence[str]) -> list[str]:
        self._check_enabled()
        if isinstance(packages, str) or not packages:
            raise InvalidPackageSpec("no packages given")
        specs = [validate_spec(p) for p in packages]
        return self._base_command() + ["--", *specs]

    def requirements_command(self, path: str | Path, base_dir: Path | None = None) -> list[str]:
        """`pip install -r <path>`; a relative path is taken from `base_dir` (else the cwd)."""
        self._check_enabled()
        text = str(path)
        if not text or text.startswith("-") or "\n" in text or "\0" in text:
            raise InvalidPackageSpec(f"invalid requirements location: '{text}'")
        req = Path(text)
        if not req.is_absolute() and base_dir is not None:
            req = Path(base_dir) / req
        if not req.is_file():
            raise InvalidPackageSpec(f"requirements file not found: {req}")
        return self._base_command() + ["-r", str(req)]

    def _base_command(self) -> list[str]:
        return [
            self.python, "-m", "pip", "install",
            "--disable-pip-version-check", "--progress-bar", "off", "--no-input",
            *self.pip_args,
        ]

    @staticmethod
    def _env() -> dict[str, str]:
        return dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PYTHONIOENCODING="utf-8")

    # ---- blocking --------------------------------------------------------------------------

    def install(self, packages: list[str], on_line: OnLine | None = None) -> InstallResult:
        return self._run(self.packages_command(packages), on_line)

    def install_requirements(
        self, path: str | Path, on_line: OnLine | None = None, *, base_dir: Path | None = None
    ) -> InstallResult:
        return self._run(self.requirements_command(path, base_dir), on_line)

    def _run(self, cmd: list[str], on_line: OnLine | None) -> InstallResult:
        tail: deque[str] = deque(maxlen=self.tail_lines)
        with self._lock:
            self._ensure_pip(on_line)
            try:
                proc = subprocess.Popen(
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self._env(),
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    bufsize=1,
                    start_new_session=os.name != "nt",
                )
            except OSError as exc:
                raise PackageInstallError(f"cannot run {self.python}: {exc}") from None
            timed_out = threading.Event()

            def expire() -> None:
                timed_out.set()
                _kill_tree(proc.pid)

            timer = threading.Timer(self.timeout, expire) if self.timeout else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    line = raw.rstrip("\r\n")
                    tail.append(line)
                    if on_line is not None:
                        on_line(line)
                returncode = proc.wait()
            finally:
                if timer is not None:
                    timer.cancel()
                if proc.poll() is None:
                    _kill_tree(proc.pid)
                    proc.wait()
            if timed_out.is_set():
                tail.append(f"pip did not finish within {self.timeout:g}s and was stopped")
        return InstallResult(returncode == 0, returncode, "\n".join(tail), tuple(cmd))

    # ---- asyncio ---------------------------------------------------------------------------

    async def install_async(self, packages: list[str], on_line: OnLine | None = None) -> InstallResult:
        return await self._run_async(self.packages_command(packages), on_line)

    async def install_requirements_async(
        self, path: str | Path, on_line: OnLine | None = None, *, base_dir: Path | None = None
    ) -> InstallResult:
        return await self._run_async(self.requirements_command(path, base_dir), on_line)

    def _locked_ensure_pip(self) -> bool:
        with self._lock:
            return self._ensure_pip(None)

    async def _run_async(self, cmd: list[str], on_line: OnLine | None) -> InstallResult:
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        tail: deque[str] = deque(maxlen=self.tail_lines)
        async with self._async_lock:
            # off the loop, and `on_line` stays on it
            if await asyncio.to_thread(self._locked_ensure_pip) and on_line is not None:
                on_line(f"installed pip into {self.target} (first install)")
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    stdin=asyncio.subprocess.DEVNULL,
                    env=self._env(),
                    start_new_session=os.name != "nt",
                )
            except OSError as exc:
                raise PackageInstallError(f"cannot run {self.python}: {exc}") from None

            async def pump() -> None:
                assert proc.stdout is not None
                async for raw in proc.stdout:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    tail.append(line)
                    if on_line is not None:
                        on_line(line)

            try:
                await asyncio.wait_for(pump(), self.timeout)
                returncode = await proc.wait()
            except asyncio.TimeoutError:
                _kill_tree(proc.pid)
                returncode = await proc.wait()
                tail.append(f"pip did not finish within {self.timeout:g}s and was stopped")
            except BaseException:
                if proc.returncode is None:
                    _kill_tree(proc.pid)
                    await proc.wait()
                raise
        return InstallResult(returncode == 0, returncode, "\n".join(tail), tuple(cmd))
