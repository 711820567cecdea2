"""Static contracts of the code's structure: layers, import direction, no cycles, types.

They read the source, so they fail the moment a change breaks a layer (DESIGN §11,
docs/ARCHITECTURE.md "Layers"), not when the import happens to run.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .import_graph import build, cycles

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph():
    return build()


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert found == [], "import cycles (a module must not import, even for typing, what imports it):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_engine_never_imports_the_console(graph):
    for module in graph.modules:
        if module.startswith("pe_engine"):
            imported = graph.find_modules_directly_imported_by(module)
            assert not {m for m in imported if m.split(".")[0] in ("pe_tui", "textual")}, module


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "lint-imports is part of the test extra"
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_type_check_is_clean():
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]
