"""PluginRegistry: path rules, loading and versions, instantiate semantics, uploads, hot reload."""
from __future__ import annotations

import asyncio
import os
import sys
import threading
import uuid
from pathlib import Path

import pytest

from pe_engine.processing.plugins import (
    LoadedPlugin,
    PluginError,
    PluginRegistry,
    PluginVersion,
    entry_point,
    instantiate,
)

TRAVERSAL = "Path traversal detected: plugin filename '{}' attempts to access files outside the plugin directory"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "plugins"
    d.mkdir()
    return d


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def unique_pkg(name: str) -> str:
    """Directory plugins import by package name: keep tests from sharing sys.modules entries."""
    return f"{name}_{uuid.uuid4().hex[:12]}"


# ---- resolve ----------------------------------------------------------------------------------


def test_no_plugin_dir() -> None:
    reg = PluginRegistry(None)
    with pytest.raises(PluginError) as e:
        reg.resolve("foo.py")
    assert str(e.value) == "Node not configured with plugin directory"


@pytest.mark.parametrize(
    "name",
    ["../x.py", "sub/../../x.py", "/etc/passwd", "..", "C:\\x.py", "c:x.py", "\\\\server\\share\\x.py", "a\\..\\..\\x.py"],
)
def test_traversal_forms(plugin_dir: Path, name: str) -> None:
    reg = PluginRegistry(plugin_dir)
    with pytest.raises(PluginError) as e:
        reg.resolve(name)
    assert str(e.value) == TRAVERSAL.format(name)


def test_absolute_path_inside_dir_is_still_rejected(plugin_dir: Path) -> None:
    p = write(plugin_dir / "a.py", "x = 1\n")
    with pytest.raises(PluginError) as e:
        PluginRegistry(plugin_dir).resolve(str(p))
    assert str(e.value) == TRAVERSAL.format(p)


def test_symlink_escaping_dir(plugin_dir: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "evil.py", "x = 1\n")
    (plugin_dir / "evil.py").symlink_to(outside)
    (plugin_dir / "evildir").symlink_to(outside.parent, target_is_directory=True)
    reg = PluginRegistry(plugin_dir)
    for name in ("evil.py", "evildir/evil.py", "evildir"):
        with pytest.raises(PluginError) as e:
            reg.resolve(name)
        assert str(e.value) == TRAVERSAL.format(name)
    # a symlink that stays inside the dir is fine
    write(plugin_dir / "real.py", "x = 1\n")
    (plugin_dir / "alias.py").symlink_to(plugin_dir / "real.py")
    assert reg.resolve("alias.py") == (plugin_dir / "real.py").resolve()


def test_missing_file_and_missing_init(plugin_dir: Path) -> None:
    reg = PluginRegistry(plugin_dir)
    with pytest.raises(PluginError) as e:
        reg.resolve("nope.py")
    assert str(e.value) == f"plugin file not found: nope.py (looked in {plugin_dir})"
    (plugin_dir / "pkg").mkdir()
    write(plugin_dir / "pkg" / "helper.py", "")
    with pytest.raises(PluginError) as e:
        reg.resolve("pkg/")
    assert str(e.value) == f"Multi-file plugin directory must contain __init__.py: {(plugin_dir / 'pkg').resolve()}"


def test_resolve_forms(plugin_dir: Path) -> None:
    write(plugin_dir / "sub" / "foo.py", "")
    write(plugin_dir / "pkg" / "__init__.py", "")
    reg = PluginRegistry(plugin_dir)
    assert reg.resolve("sub/foo.py") == (plugin_dir / "sub" / "foo.py").resolve()
    assert reg.resolve("./sub/foo.py") == reg.resolve("sub/foo.py")
    assert reg.resolve("pkg/") == reg.resolve("pkg") == (plugin_dir / "pkg").resolve()
    assert reg.key("pkg/") == "pkg" and reg.key("./sub//foo.py") == "sub/foo.py"


# ---- single-file loading and versions -----------------------------------------------------------


def test_compile_cached_by_hash_and_versions(plugin_dir: Path) -> None:
    p = write(plugin_dir / "a.py", "def process_writes(i, b, args=None):\n    return 1\n")
    reg = PluginRegistry(plugin_dir)
    first = reg.load("a.py")
    assert first.kind == "file" and first.code is not None and first.version.source == "local"
    again = reg.load("a.py")
    assert again.code is first.code  # same content: no recompile
    assert len(reg.versions("a.py")) == 1

    p.write_text("def process_writes(i, b, args=None):\n    return 22\n")
    second = reg.load("a.py")
    assert second.version.content_hash != first.version.content_hash
    vs = reg.versions("a.py")
    assert [v.content_hash for v in vs] == [first.version.content_hash, second.version.content_hash]
    assert vs[0].first_seen <= vs[1].first_seen
    assert vs[1].size_bytes == len(p.read_bytes())

    # reverting reuses the first version record and its compiled code
    p.write_text("def process_writes(i, b, args=None):\n    return 1\n")
    reverted = reg.load("a.py")
    assert reverted.version == first.version and reverted.code is first.code
    assert len(reg.versions("a.py")) == 2


def test_current_rechecks_by_stat(plugin_dir: Path) -> None:
    p = write(plugin_dir / "a.py", "X = 1\n")
    reg = PluginRegistry(plugin_dir, restat_interval=0)
    a = reg.current("a.py")
    assert reg.current("a.py") is a  # unchanged: cached object
    p.write_text("X = 2222\n")
    b = reg.current("a.py")
    assert b is not a and instantiate(b)["X"] == 2222


def test_current_stats_at_most_once_per_interval(plugin_dir: Path) -> None:
    p = write(plugin_dir / "a.py", "X = 1\n")
    reg = PluginRegistry(plugin_dir, restat_interval=3600)
    a = reg.current("a.py")
    reg.current("a.py")  # a stat that finds it unchanged starts the interval
    p.write_text("X = 2222\n")
    assert reg.current("a.py") is a  # within the interval: no stat, old code
    reg.restat_interval = 0
    assert instantiate(reg.current("a.py"))["X"] == 2222


def test_syntax_error_keeps_last_good(plugin_dir: Path) -> None:
    changes: list[tuple[str, PluginVersion | None, str | None]] = []
    p = write(plugin_dir / "a.py", "def process_writes(i, b, args=None):\n    return 'good'\n")
    reg = PluginRegistry(plugin_dir, on_change=lambda *a: changes.append(a))
    good = reg.load("a.py")
    p.write_text("def process_writes(i, b, args=None):\n    return (\n")
    served = reg.load("a.py")
    assert served.version == good.version
    err = reg.last_error("a.py")
    assert err is not None and err.startswith("SyntaxError") and "a.py" in err and "line 2" in err
    assert entry_point(instantiate(served), "process_writes")(None, None) == "good"
    assert changes[-1][0] == "a.py" and changes[-1][1] is None and changes[-1][2] == err
    assert len(reg.versions("a.py")) == 1  # only code that compiled is a version
    # fixing it clears the error and reports the new version
    p.write_text("def process_writes(i, b, args=None):\n    return 'fixed'\n")
    fixed = reg.load("a.py")
    assert reg.last_error("a.py") is None and changes[-1] == ("a.py", fixed.version, None)


def test_syntax_error_without_good_version_raises(plugin_dir: Path) -> None:
    write(plugin_dir / "bad.py", "x = = 1\n")
    reg = PluginRegistry(plugin_dir)
    with pytest.raises(PluginError) as e:
        reg.load("bad.py")
    assert str(e.value).startswith("SyntaxError: ") and "bad.py, line 1" in str(e.value)
    with pytest.raises(PluginError):
        reg.current("bad.py")


def test_fresh_globals_per_instantiate(plugin_dir: Path) -> None:
    write(
        plugin_dir / "counter.py",
        "count = 0\n"
        "def process_scheduled_call(local, call_time, args=None):\n"
        "    global count\n"
        "    count += 1\n"
        "    return count, __name__, __file__\n",
    )
    reg = PluginRegistry(plugin_dir)
    loaded = reg.current("counter.py")
    results = [entry_point(instantiate(loaded), "process_scheduled_call")(None, None) for _ in range(3)]
    assert [r[0] for r in results] == [1, 1, 1]
    assert results[0][1] == "__pe_plugin__" and results[0][2] == str(loaded.path)


def test_plugin_code_does_not_inherit_future_flags(plugin_dir: Path) -> None:
    write(plugin_dir / "ann.py", "def f(x: int) -> int:\n    return x\nANN = f.__annotations__\n")
    ns = instantiate(PluginRegistry(plugin_dir).load("ann.py"))
    assert ns["ANN"] == {"x": int, "return": int}  # real objects, not strings


def test_missing_entry_points(plugin_dir: Path) -> None:
    write(plugin_dir / "empty.py", "x = 1\n")
    ns = instantiate(PluginRegistry(plugin_dir).load("empty.py"))
    expected = {
        "wal_rows": "the process_writes function is not present in the plugin. Should be defined as: "
        "process_writes(influxdb3_local, table_batches, args=None)",
        "schedule": "the process_scheduled_call function is not present in the plugin. Should be defined as: "
        "process_scheduled_call(influxdb3_local, call_time, args=None)",
        "request": "the process_request function is not present in the plugin. Should be defined as: "
        "process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None) "
        "-> Tuple[str, Optional[Dict[str, str]]]",
    }
    names = {"wal_rows": "process_writes", "schedule": "process_scheduled_call", "request": "process_request"}
    for ptype, text in expected.items():
        with pytest.raises(PluginError) as e:
            entry_point(ns, None, ptype)
        assert str(e.value) == text
        with pytest.raises(PluginError) as e:
            entry_point(ns, names[ptype], ptype)
        assert str(e.value) == text


# ---- directory plugins ---------------------------------------------------------------------------


def test_directory_plugin_relative_imports_and_new_code(plugin_dir: Path) -> None:
    name = unique_pkg("dirplug")
    pkg = plugin_dir / "nested" / name
    write(pkg / "helpers.py", "def value():\n    return 'v1'\n")
    write(pkg / "sub" / "__init__.py", "")
    write(pkg / "sub" / "deep.py", "from .. import helpers\ndef deep():\n    return 'deep-' + helpers.value()\n")
    write(
        pkg / "__init__.py",
        "from . import helpers\nfrom .sub.deep import deep\nstate = {'calls': 0}\n"
        "def process_writes(local, batches, args=None):\n"
        "    state['calls'] += 1\n"
        "    return helpers.value(), deep(), state['calls']\n",
    )
    reg = PluginRegistry(plugin_dir)
    loaded = reg.load(f"nested/{name}/")
    assert loaded.kind == "directory" and loaded.package_name == name and loaded.code is None
    fn = entry_point(instantiate(loaded), "process_writes")
    assert fn(None, None) == ("v1", "deep-v1", 1)
    fn = entry_point(instantiate(reg.current(f"nested/{name}")), "process_writes")
    assert fn(None, None) == ("v1", "deep-v1", 2)  # module state persists, like InfluxDB
    assert str(plugin_dir) not in " ".join(sys.path)  # parent dir only on sys.path during import

    write(pkg / "helpers.py", "def value():\n    return 'v2'\n")  # same size, same second
    new = reg.load(f"nested/{name}")
    assert new.version.content_hash != loaded.version.content_hash
    fn = entry_point(instantiate(new), "process_writes")
    assert fn(None, None) == ("v2", "deep-v2", 1)  # new code took effect (fresh import)
    assert len(reg.versions(f"nested/{name}")) == 2

    # a syntax error in a submodule keeps the imported good version
    write(pkg / "helpers.py", "def value(:\n")
    served = reg.load(f"nested/{name}")
    assert served.version == new.version
    assert "helpers.py" in (reg.last_error(f"nested/{name}") or "")
    assert entry_point(instantiate(served), "process_writes")(None, None) == ("v2", "deep-v2", 2)
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def test_directory_plugin_name_clash(plugin_dir: Path) -> None:
    write(plugin_dir / "json" / "__init__.py", "def process_writes(i, b, args=None):\n    pass\n")
    loaded = PluginRegistry(plugin_dir).load("json")
    with pytest.raises(PluginError) as e:
        instantiate(loaded)
    assert "clashes with an already imported module" in str(e.value)


# ---- uploads -------------------------------------------------------------------------------------


def test_write_file_atomic_and_traversal(plugin_dir: Path, tmp_path: Path) -> None:
    reg = PluginRegistry(plugin_dir)
    p = reg.write_file("deep/er/up.py", "X = 1\n")
    assert p == (plugin_dir / "deep" / "er" / "up.py").resolve() and p.read_text() == "X = 1\n"
    assert oct(p.stat().st_mode & 0o777) == oct(0o644)
    assert reg.load("deep/er/up.py").version.source == "upload"
    reg.write_file("deep/er/up.py", "X = 2\n")
    assert instantiate(reg.current("deep/er/up.py"))["X"] == 2
    assert reg.versions("deep/er/up.py")[-1].source == "upload"
    assert sorted(os.listdir(p.parent)) == ["up.py"]  # no temp files left behind
    for bad in ("../x.py", "/tmp/x.py", "a/../../x.py"):
        with pytest.raises(PluginError) as e:
            reg.write_file(bad, "")
        assert str(e.value) == TRAVERSAL.format(bad)
    (plugin_dir / "out").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(PluginError) as e:
        reg.write_file("out/x.py", "")
    assert str(e.value) == TRAVERSAL.format("out/x.py")
    assert not (tmp_path / "x.py").exists()


def test_replace_directory(plugin_dir: Path) -> None:
    name = unique_pkg("replaced")
    reg = PluginRegistry(plugin_dir)
    write(plugin_dir / name / "__init__.py", "V = 1\n")
    write(plugin_dir / name / "old_only.py", "")
    first = reg.load(name)
    target = reg.replace_directory(name, [("__init__.py", "from .util import V\n"), ("util.py", "V = 2\n")])
    assert target == (plugin_dir / name).resolve()
    assert sorted(os.listdir(target)) == ["__init__.py", "util.py"]
    assert not [n for n in os.listdir(plugin_dir) if n.startswith(".")]  # tmp and old dirs cleaned
    cur = reg.current(name)
    assert cur.version != first.version and cur.version.source == "upload"
    assert instantiate(cur)["V"] == 2
    with pytest.raises(PluginError) as e:
        reg.replace_directory(name, [("../evil.py", "")])
    assert str(e.value) == TRAVERSAL.format("../evil.py")
    with pytest.raises(PluginError) as e:
        reg.replace_directory("../x", [("__init__.py", "")])
    assert str(e.value) == TRAVERSAL.format("../x")
    with pytest.raises(PluginError) as e:
        reg.replace_directory(name, [("util.py", "")])
    assert "must contain __init__.py" in str(e.value)
    assert sorted(os.listdir(target)) == ["__init__.py", "util.py"]  # failed replace changed nothing
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


# ---- users, state, files ------------------------------------------------------------------------


def test_users_export_import_and_files(plugin_dir: Path) -> None:
    p = write(plugin_dir / "a.py", "X = 1\n")
    reg = PluginRegistry(plugin_dir)
    reg.load("a.py")
    p.write_text("X = 22\n")
    reg.load("a.py")
    reg.set_users("a.py", {"t1", "t2"})
    reg.set_users("./a.py", {"t1", "t2", "t3"})
    assert reg.users("a.py") == {"t1", "t2", "t3"}
    rows = reg.export_state()
    assert len(rows) == 2 and all(isinstance(r, tuple) and len(r) == 6 for r in rows)

    again = PluginRegistry(plugin_dir)
    again.import_state([list(r) for r in rows])
    assert [v.content_hash for v in again.versions("a.py")] == [r[1] for r in rows]
    loaded = again.load("a.py")  # known content: the restored record (first_seen kept)
    assert loaded.version.first_seen == rows[1][2]
    assert len(again.versions("a.py")) == 2

    info = {f.filename: f for f in reg.files()}["a.py"]
    assert info.users == ("t1", "t2", "t3") and info.versions == 2 and info.last_error is None
    assert info.content_hash == rows[1][1] and info.size_bytes == len(b"X = 22\n")
    assert info.files[0].file_name == "a.py" and info.files[0].file_path == str(p.resolve())
    assert info.last_modified_ms == p.stat().st_mtime_ns // 1_000_000


def test_users_map_trigger_files_and_json(plugin_dir: Path) -> None:
    write(plugin_dir / "a.py", "X = 1\n")
    write(plugin_dir / "d" / "__init__.py", "")
    reg = PluginRegistry(plugin_dir)
    reg.load("a.py")
    reg.set_users("a.py", {"db/old"})
    reg.set_users_map({"d/": {"db/t1"}, "./d": {"db/t2"}, "b.py": {"db/t3"}})
    assert reg.users("a.py") == set() and reg.users("d") == {"db/t1", "db/t2"} and reg.users("b.py") == {"db/t3"}
    assert [e.file_name for e in reg.trigger_files("d/")] == ["d/__init__.py"]  # works before any load
    assert [e.file_name for e in reg.trigger_files("a.py")] == ["a.py"]
    assert reg.trigger_files("b.py") == [] and reg.trigger_files("gh:x.py") == []
    j = {f.filename: f.to_json() for f in reg.files()}["a.py"]
    assert j["files"][0]["file_name"] == "a.py" and j["users"] == [] and j["versions"] == 1


def test_files_lists_each_file_of_directory_plugin(plugin_dir: Path) -> None:
    write(plugin_dir / "d" / "__init__.py", "")
    write(plugin_dir / "d" / "x.py", "A = 1\n")
    write(plugin_dir / "d" / "__pycache__" / "x.cpython-311.pyc", "junk")
    reg = PluginRegistry(plugin_dir)
    reg.load("d")
    info = reg.files()[0]
    assert info.kind == "directory" and [e.file_name for e in info.files] == ["d/__init__.py", "d/x.py"]


# ---- hot reload ----------------------------------------------------------------------------------


async def _wait_for_change(path: Path, event: asyncio.Event) -> None:
    """Edit until the watcher reports it: inotify needs a moment to arm after watch() starts."""
    for i in range(40):
        path.write_text(f"X = {i + 100}\n")
        try:
            await asyncio.wait_for(event.wait(), 0.5)
            return
        except asyncio.TimeoutError:
            continue
    raise AssertionError("watch() did not report the change")


async def test_watch_reloads_single_file(plugin_dir: Path) -> None:
    changed = asyncio.Event()
    seen: list[tuple[str, PluginVersion | None, str | None]] = []
    loop = asyncio.get_running_loop()

    def on_change(filename: str, version: PluginVersion | None, error: str | None) -> None:
        seen.append((filename, version, error))
        loop.call_soon_threadsafe(changed.set)

    p = write(plugin_dir / "hot.py", "X = 1\n")
    reg = PluginRegistry(plugin_dir, on_change=on_change)
    reg.load("hot.py")
    stop = asyncio.Event()
    task = asyncio.create_task(reg.watch(stop))
    try:
        await asyncio.sleep(0.2)
        seen.clear()
        changed.clear()
        await _wait_for_change(p, changed)
        fn, version, error = seen[-1]
        assert fn == "hot.py" and version is not None and error is None
        assert len(reg.versions("hot.py")) >= 2
        # a broken edit is reported as an error and the last good version keeps serving
        changed.clear()
        p.write_text("X = (\n")
        await asyncio.wait_for(changed.wait(), 10)
        assert seen[-1][1] is None and (seen[-1][2] or "").startswith("SyntaxError")
        assert isinstance(instantiate(reg.current("hot.py"))["X"], int)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_watch_reloads_directory_plugin(plugin_dir: Path) -> None:
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()
    name = unique_pkg("hotdir")
    write(plugin_dir / name / "__init__.py", "from .part import X\n")
    part = write(plugin_dir / name / "part.py", "X = 1\n")
    got: list[str] = []

    def on_change(filename: str, version: PluginVersion | None, error: str | None) -> None:
        got.append(filename)
        loop.call_soon_threadsafe(changed.set)

    reg = PluginRegistry(plugin_dir, on_change=on_change)
    reg.load(name)
    stop = asyncio.Event()
    task = asyncio.create_task(reg.watch(stop))
    try:
        await asyncio.sleep(0.2)
        got.clear()
        changed.clear()
        await _wait_for_change(part, changed)
        assert got[-1] == name
        assert instantiate(reg.current(name))["X"] >= 100
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]


def test_current_is_thread_safe(plugin_dir: Path) -> None:
    write(plugin_dir / "t.py", "def process_writes(i, b, args=None):\n    return 7\n")
    reg = PluginRegistry(plugin_dir)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(50):
                loaded: LoadedPlugin = reg.current("t.py")
                results.append(entry_point(instantiate(loaded), "process_writes")(None, None))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [7] * 400 and len(reg.versions("t.py")) == 1
