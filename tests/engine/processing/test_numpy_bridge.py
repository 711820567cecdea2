"""numpy_bridge.enable_numpy: real NumPy/pandas reaching sys.path after pyarrow was imported.

pyarrow only looks for NumPy when it is first imported, so every scenario runs in a fresh
interpreter (`python -I`, so no PYTHONPATH sneaks NumPy in early): import pyarrow with no
NumPy importable, then append a directory holding NumPy (+ pandas), as a plugin virtual env
or `pe install package` does.  NumPy and pandas are pip-installed once per test session from
the machine's configured index; the tests skip only if pip cannot get NumPy at all.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[3]

# First in every scenario: pe's environment may itself hold NumPy and pandas (a developer's venv, a
# client that needs pandas); these scenarios need a pe without them, so a top-level `numpy` or
# `pandas` is looked up only on the path entries added after start.
HIDE_OWN_NUMPY = textwrap.dedent('''
    import importlib.machinery, sys
    _OWN = list(sys.path)
    class _HideOwnNumpy:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if path is not None or name not in ("numpy", "pandas"):
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, [p for p in sys.path if p not in _OWN])
            if spec is None:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return spec
    sys.meta_path.insert(0, _HideOwnNumpy)
    def numpy_visible():
        try:
            return importlib.util.find_spec("numpy") is not None
        except ModuleNotFoundError:
            return False
    import importlib.util
''')

# argv: ROOT SITE MODE [CHECK].  MODE "bridge" calls enable_numpy() (from 8 threads at
# once) then runs every check; MODE "plain" runs the single CHECK without the bridge.
# Each check prints "OK <name>" only when it gave the right answer.
SCENARIO = textwrap.dedent('''
    import importlib.util, sys, threading, time
    root, site, mode = sys.argv[1:4]
    only = sys.argv[4] if len(sys.argv) > 4 else None
    sys.path.insert(0, root)
    import pyarrow as pa
    import pyarrow.compute as pc
    assert not numpy_visible(), "numpy importable before the append"
    assert pa.lib.np is None
    pa.table({"a": [1]})  # the engine has used pyarrow (and its pandas shim) already
    from pe_engine.processing.numpy_bridge import enable_numpy
    sys.path.append(site)
    import numpy as np

    if mode == "bridge":
        results = []
        barrier = threading.Barrier(8)
        def call():
            barrier.wait()
            results.append(enable_numpy())
        threads = [threading.Thread(target=call) for _ in range(8)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("ENABLE_SECONDS", time.perf_counter() - t0)
        assert results == [True] * 8, results
        t0 = time.perf_counter()
        assert enable_numpy() is True
        print("AGAIN_SECONDS", time.perf_counter() - t0)
        assert pa.lib.np is np and sys.modules["pyarrow._compute"].np is np

    def from_ndarray():
        assert pa.array(np.arange(3)).to_pylist() == [0, 1, 2]
        assert pa.array(np.array([1.5, np.nan]), from_pandas=True).null_count == 1
    def to_numpy():
        out = pa.array([1, 2]).to_numpy()
        assert isinstance(out, np.ndarray) and out.tolist() == [1, 2]
        assert pa.chunked_array([[3], [4]]).to_numpy().tolist() == [3, 4]
    def quantile_ndarray_q():
        assert pc.quantile(pa.array([1, 2, 3]), q=np.array([0.5])).to_pylist() == [2.0]
    def to_pandas():
        import pandas as pd
        df = pa.table({"a": [1]}).to_pandas()
        assert isinstance(df, pd.DataFrame) and df["a"].tolist() == [1]
        back = pa.Table.from_pandas(pd.DataFrame({"x": [1.5, 2.5]}))
        assert back.column("x").to_pylist() == [1.5, 2.5]

    checks = {f.__name__: f for f in (from_ndarray, to_numpy, quantile_ndarray_q, to_pandas)}
    if not HAVE_PANDAS:
        del checks["to_pandas"]
    for name, check in checks.items():
        if only in (None, name):
            sys.stdout.flush()
            check()  # may raise, or crash the process: the plain runs expect exactly that
            print("OK", name, flush=True)
''')

PLAIN_CHECKS = ["from_ndarray", "to_numpy", "quantile_ndarray_q", "to_pandas"]


def _run(site: tuple[Path, bool], mode: str, check: str | None = None) -> subprocess.CompletedProcess[str]:
    path, have_pandas = site
    script = HIDE_OWN_NUMPY + f"HAVE_PANDAS = {have_pandas!r}\n" + SCENARIO
    argv = [sys.executable, "-I", "-c", script, str(ROOT), str(path), mode]
    if check is not None:
        argv.append(check)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_enable_numpy_makes_late_numpy_and_pandas_work(numpy_site: tuple[Path, bool]) -> None:
    proc = _run(numpy_site, "bridge")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = [c for c in PLAIN_CHECKS if numpy_site[1] or c != "to_pandas"]
    assert [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("OK ")] == expected


@pytest.mark.parametrize("check", PLAIN_CHECKS)
def test_without_the_bridge_late_numpy_fails(numpy_site: tuple[Path, bool], check: str) -> None:
    """The control: the same calls without enable_numpy() raise or even crash the process."""
    if check == "to_pandas" and not numpy_site[1]:
        pytest.skip("pip could not install pandas")
    proc = _run(numpy_site, "plain", check)
    assert f"OK {check}" not in proc.stdout, "pyarrow handled a late NumPy on its own: the bridge may be moot"
    assert proc.returncode != 0


FAKE_NUMPY = textwrap.dedent('''
    import importlib.util, logging, sys
    root, fake, version, precheck = sys.argv[1:5]
    sys.path.insert(0, root)
    import pyarrow as pa
    from pe_engine.processing import numpy_bridge
    from pe_engine.processing.numpy_bridge import enable_numpy
    if precheck == "bypass":  # let arrow_init_numpy() itself meet the broken NumPy
        numpy_bridge._numpy_c_api_ready = lambda: True
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
    sys.path.append(fake)
    assert enable_numpy() is False
    assert pa.lib.np is None and sys.modules.get("pyarrow._compute", pa).__dict__.get("np") is None
    # would crash if arrow's has_numpy() flag had been left set over a null NumPy C API
    assert pa.array([1, 2]).to_pylist() == [1, 2]
    assert pa.table({"a": ["x", None]}).column("a").to_pylist() == ["x", None]
    print("REFUSED", flush=True)
''')


@pytest.mark.parametrize(("version", "precheck"), [("1.26.4", "on"), ("2.1.0", "on"), ("2.1.0", "bypass")])
def test_unusable_numpy_is_refused_without_raising(tmp_path: Path, version: str, precheck: str) -> None:
    """NumPy 1.x is refused as pyarrow refuses it; a NumPy without its C core fails softly,
    also when arrow_init_numpy() itself is what fails, and pyarrow keeps working without it."""
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text(f"__version__ = {version!r}\nndarray = list\n")
    proc = subprocess.run(
        [sys.executable, "-I", "-c", HIDE_OWN_NUMPY + FAKE_NUMPY, str(ROOT), str(tmp_path), version, precheck],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 0 and "REFUSED" in proc.stdout, proc.stdout + proc.stderr
    assert "numpy bridge:" in proc.stdout  # the reason is logged at debug


def test_no_numpy_returns_false() -> None:
    script = HIDE_OWN_NUMPY + textwrap.dedent('''
        import sys
        sys.path.insert(0, sys.argv[1])
        from pe_engine.processing.numpy_bridge import enable_numpy
        assert not numpy_visible()
        assert enable_numpy() is False
        assert enable_numpy() is False  # a failure is not cached: a later install can still win
        print("FALSE")
    ''')
    proc = subprocess.run([sys.executable, "-I", "-c", script, str(ROOT)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and "FALSE" in proc.stdout, proc.stdout + proc.stderr
