"""PackageInstaller: real pip runs into a throw-away venv, offline (hand-built wheels)."""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pe_engine.processing.packages import (
    DISABLED_MESSAGE,
    InvalidPackageSpec,
    PackageInstallDisabled,
    PackageInstaller,
    venv_python,
)


def build_wheel(dist: Path, name: str, version: str, value: str) -> Path:
    """A minimal pure-Python wheel, written by hand so no build backend or network is needed."""
    files = {
        f"{name}/__init__.py": f"VALUE = {value!r}\n".encode(),
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: pe-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record_name = f"{name}-{version}.dist-info/RECORD"
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{record_name},,")
    files[record_name] = ("\n".join(lines) + "\n").encode()
    dist.mkdir(parents=True, exist_ok=True)
    wheel = dist / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("pkgenv")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    dist = base / "dist"
    build_wheel(dist, "petiny", "0.1", "tiny-1")
    build_wheel(dist, "petinytwo", "0.2", "tiny-2")
    return {"venv": venv, "python": str(venv_python(venv)), "dist": dist}


def offline(env: dict, **kw) -> PackageInstaller:
    return PackageInstaller(pip_args=["--no-index", "--find-links", str(env["dist"])], **kw)


def run_in(python: str, code: str) -> str:
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_install_wheel_into_venv(env: dict) -> None:
    lines: list[str] = []
    result = offline(env, python=env["python"]).install(["petiny==0.1"], on_line=lines.append)
    assert result.ok and result.returncode == 0, result.output_tail
    assert any("petiny" in line for line in lines)
    assert result.output_tail.splitlines()[-1] == lines[-1]
    assert result.command[:4] == (env["python"], "-m", "pip", "install")
    assert run_in(env["python"], "import petiny; print(petiny.VALUE)") == "tiny-1"
    # the running interpreter was not touched
    assert subprocess.run([sys.executable, "-c", "import petiny"], capture_output=True).returncode != 0


def test_missing_package_reports_pip_error(env: dict) -> None:
    result = offline(env, python=env["python"]).install(["pe-no-such-package-xyz"])
    assert not result.ok and result.returncode != 0
    assert "No matching distribution found for pe-no-such-package-xyz" in result.output_tail
    assert "pe-no-such-package-xyz" in result.message


async def test_async_requirements_into_target_venv(env: dict, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("petinytwo==0.2\n")
    installer = offline(env, target=env["venv"])
    assert installer.python == env["python"]
    lines: list[str] = []
    result = await installer.install_requirements_async("requirements.txt", lines.append, base_dir=tmp_path)
    assert result.ok, result.output_tail
    assert lines and "-r" in result.command
    assert run_in(env["python"], "import petinytwo; print(petinytwo.VALUE)") == "tiny-2"
    sp = installer.site_packages()
    assert sp and all(p.startswith(str(env["venv"])) for p in sp)

    bad = await installer.install_async(["pe-no-such-package-xyz"])
    assert not bad.ok and "No matching distribution found" in bad.output_tail


async def test_disabled(tmp_path: Path) -> None:
    installer = PackageInstaller(disabled=True)
    for call in (lambda: installer.install(["x"]), lambda: installer.install_requirements(tmp_path / "r.txt")):
        with pytest.raises(PackageInstallDisabled) as e:
            call()
        assert str(e.value) == DISABLED_MESSAGE and e.value.status == 403
    assert DISABLED_MESSAGE == "Package installation has been disabled. Contact your administrator for more information."
    with pytest.raises(PackageInstallDisabled):
        await installer.install_async(["x"])


@pytest.mark.parametrize(
    "spec",
    ["--index-url=http://evil", "-r", "-e.", "foo bar", "foo\tbar", "a\nb", "", "foo==1.0 --pre", "$(rm)"],
)
def test_bad_specs_rejected_before_pip_runs(spec: str) -> None:
    installer = PackageInstaller(python="/nonexistent/python")  # would fail loudly if pip were started
    with pytest.raises(InvalidPackageSpec):
        installer.install([spec])


def test_good_specs_and_request_validation(tmp_path: Path) -> None:
    installer = PackageInstaller(python="/x/python")
    cmd = installer.packages_command(["pandas", "x==1.0", "Foo_Bar[extra]>=1,<2", "pkg;python_version<'4'", "./local.whl"])
    assert cmd[-6] == "--" and cmd[-5:] == ["pandas", "x==1.0", "Foo_Bar[extra]>=1,<2", "pkg;python_version<'4'", "./local.whl"]
    with pytest.raises(InvalidPackageSpec):
        installer.install([])
    with pytest.raises(InvalidPackageSpec) as e:
        installer.install_requirements(tmp_path / "missing.txt")
    assert "requirements file not found" in str(e.value)
    with pytest.raises(InvalidPackageSpec):
        installer.install_requirements("--index-url=http://evil")


@pytest.fixture
def slow_python(tmp_path: Path) -> str:
    script = tmp_path / "slowpy"
    script.write_text("#!/bin/sh\necho collecting\nsleep 30 &\nexec sleep 30\n")  # a grandchild holds stdout too
    script.chmod(0o755)
    return str(script)


def test_timeout_kills_pip(slow_python: str) -> None:
    result = PackageInstaller(python=slow_python, timeout=0.5).install(["x"])
    assert not result.ok and "collecting" in result.output_tail and "did not finish within 0.5s" in result.output_tail


async def test_timeout_kills_pip_async(slow_python: str) -> None:
    result = await PackageInstaller(python=slow_python, timeout=0.5).install_async(["x"])
    assert not result.ok and "did not finish within 0.5s" in result.output_tail


def test_default_environment_is_the_running_interpreter() -> None:
    installer = PackageInstaller()
    assert installer.python == sys.executable and installer.target is None
    assert os.path.realpath(installer.ensure_venv()) == os.path.realpath(sys.executable)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_new_environment_starts_without_pip_and_the_first_install_bootstraps_it(
    env: dict, tmp_path: Path, mode: str
) -> None:
    target = tmp_path / "fresh" / "venv"  # does not exist yet
    installer = offline(env, target=target)
    py = installer.ensure_venv()
    assert py.exists()
    assert subprocess.run([str(py), "-c", "import pip"], capture_output=True).returncode != 0
    lines: list[str] = []
    if mode == "sync":
        result = installer.install(["petiny==0.1"], on_line=lines.append)
    else:
        result = await installer.install_async(["petiny==0.1"], on_line=lines.append)
    assert result.ok, result.output_tail
    assert any("pip into" in line and str(target) in line for line in lines)
    assert run_in(str(py), "import petiny; print(petiny.VALUE)") == "tiny-1"
    again: list[str] = []
    assert installer.install(["petinytwo==0.2"], on_line=again.append).ok
    assert not any("pip into" in line for line in again)  # bootstrapped once
