"""pe_tui imports pe_engine, never the reverse (DESIGN §1)."""
import subprocess
import sys

ENGINE_MODULES = [
    "pe_engine",
    "pe_engine.engine",
    "pe_engine.cli",
    "pe_engine.embedded",
    "pe_engine.http.app",
    "pe_engine.http.server",
    "pe_engine.processing.manager",
    "pe_engine.http.routes",
    "pe_engine.options",
]


def test_engine_never_imports_textual():
    code = (
        "import importlib, sys\n"
        f"for m in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(m)\n"
        "from pe_engine.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'pe_tui')))\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pe_engine pulled in: {out.stdout.strip()}"
