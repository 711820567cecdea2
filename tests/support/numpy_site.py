"""A directory holding NumPy and pandas, pip-installed once per test session, outside pe's own
environment. pe's environment has no NumPy: the numpy_bridge tests and the plugin-numpy e2e test
prove that plugins' NumPy works where pe has none. Clients that need pandas (flightsql-dbapi,
influxdb3-python's pandas mode) run in a child interpreter with this directory on its path."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest


def pip_target(target: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:",
         "--disable-pip-version-check", "--no-warn-script-location", "--target", str(target),
         *packages],
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="session")
def numpy_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """(directory, whether pandas is in it). Under xdist the workers share the session's temp
    root, so a flock makes them install it once between them."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    site = base / "pe-numpy-site"
    with open(base / "pe-numpy-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for marker, have_pandas in ((site / ".with-pandas", True), (site / ".numpy-only", False)):
            if marker.exists():
                return site, have_pandas
        for packages, marker in ((("numpy>=2", "pandas>=2.2.2"), site / ".with-pandas"),
                                 (("numpy>=2",), site / ".numpy-only")):
            proc = pip_target(site, *packages)
            if proc.returncode == 0:
                marker.touch()
                return site, marker.name == ".with-pandas"
        pytest.skip(f"pip cannot install numpy>=2 here: {proc.stderr.strip()[-500:]}")


@pytest.fixture(scope="session")
def pandas_site(numpy_site: tuple[Path, bool]) -> Path:
    site, have_pandas = numpy_site
    if not have_pandas:
        pytest.skip("pip could not install pandas here")
    return site


def run_with_pandas(site: Path, script: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a client script in pe's interpreter with pandas (and NumPy) from `site` on its path."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
