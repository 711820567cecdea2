"""Remote plugins: `gh:` over HTTP (local aiohttp server) and from local git repositories."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from pe_engine.processing.plugins import PluginError, PluginRegistry, entry_point, instantiate
from pe_engine.processing.plugins.sources import DEFAULT_PLUGIN_REPO, PluginRepo, PluginSources

PLUGIN_V1 = "def process_writes(local, batches, args=None):\n    return 'v1'\n"
PLUGIN_V2 = "def process_writes(local, batches, args=None):\n    return 'v2'\n"


def call(loaded) -> str:
    return entry_point(instantiate(loaded), "process_writes")(None, None)


# ---- repo spec parsing ---------------------------------------------------------------------------


def test_parse_plugin_repo() -> None:
    assert PluginRepo.parse(None) == PluginRepo("http", DEFAULT_PLUGIN_REPO)
    assert PluginRepo.parse("http://h/base") == PluginRepo("http", "http://h/base")
    assert PluginRepo.parse("https://h/r.git#v1") == PluginRepo("git", "https://h/r.git", "v1")
    assert PluginRepo.parse("git+https://h/r#main") == PluginRepo("git", "https://h/r", "main")
    assert PluginRepo.parse("/srv/plugins.git") == PluginRepo("git", "/srv/plugins.git", None)
    assert PluginRepo("http", "http://h/base").url_for("a/b.py") == "http://h/base/a/b.py"
    assert PluginRepo("http", "http://h/base/").url_for("a/b.py") == "http://h/base/a/b.py"


# ---- HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
async def http_repo():
    files = {"/repo/examples/wal.py": PLUGIN_V1}

    async def handler(request: web.Request) -> web.Response:
        body = files.get(request.path)
        if body is None:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(text=body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/repo", files
    finally:
        await runner.cleanup()


async def test_gh_fetch_over_http(tmp_path: Path, http_repo) -> None:
    base, files = http_repo
    reg = PluginRegistry(tmp_path / "plugins", plugin_repo=base)
    (tmp_path / "plugins").mkdir()
    loaded = await reg.prepare("gh:examples/wal.py")
    assert loaded.version.source == "gh" and loaded.version.pin is None
    assert loaded.path == (tmp_path / "plugins" / ".gh" / "examples" / "wal.py").resolve()
    assert loaded.path.read_text() == PLUGIN_V1 and call(loaded) == "v1"
    assert call(reg.current("gh:examples/wal.py")) == "v1"

    # not reloaded on its own; the next fetch (trigger start) picks up the change
    files["/repo/examples/wal.py"] = PLUGIN_V2
    assert call(reg.current("gh:examples/wal.py")) == "v1"
    again = await PluginSources(reg).fetch_async("gh:examples/wal.py")
    assert call(again) == "v2" and len(reg.versions("gh:examples/wal.py")) == 2


async def test_gh_fetch_404_exact_error(tmp_path: Path, http_repo) -> None:
    base, _ = http_repo
    reg = PluginRegistry(tmp_path, plugin_repo=base + "/")
    with pytest.raises(PluginError) as e:
        await reg.prepare("gh:missing/plugin.py")
    assert str(e.value) == f"error fetching plugin from repository: 404 Not Found {base}/missing/plugin.py"


async def test_gh_requires_plugin_dir_and_rejects_traversal(tmp_path: Path, http_repo) -> None:
    base, _ = http_repo
    with pytest.raises(PluginError) as e:
        await PluginRegistry(None, plugin_repo=base).prepare("gh:examples/wal.py")
    assert str(e.value) == "Node not configured with plugin directory"
    with pytest.raises(PluginError) as e:
        await PluginRegistry(tmp_path, plugin_repo=base).prepare("gh:../../etc/passwd")
    assert "Path traversal detected" in str(e.value)
    with pytest.raises(PluginError) as e:
        PluginRegistry(tmp_path, plugin_repo=base).current("gh:examples/wal.py")
    assert "has not been fetched" in str(e.value)


# ---- git -------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=pe tests", "-c", "user.email=pe@example.invalid", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> dict:
    repo = tmp_path / "src-repo"
    repo.mkdir()
    git(repo, "init", "--quiet")
    (repo / "plugins").mkdir()
    (repo / "plugins" / "wal.py").write_text(PLUGIN_V1)
    pkg = repo / "plugins" / "gitpkg_v"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .impl import process_writes\n")
    (pkg / "impl.py").write_text(PLUGIN_V1)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "v1")
    git(repo, "tag", "v1")
    v1 = git(repo, "rev-parse", "HEAD")
    (repo / "plugins" / "wal.py").write_text(PLUGIN_V2)
    (pkg / "impl.py").write_text(PLUGIN_V2)
    git(repo, "commit", "--quiet", "-am", "v2")
    v2 = git(repo, "rev-parse", "HEAD")
    return {"path": repo, "v1": v1, "v2": v2}


def test_git_fetch_pinned_tag(tmp_path: Path, git_repo: dict) -> None:
    reg = PluginRegistry(tmp_path / "plugins", plugin_repo=f"{git_repo['path']}#v1")
    (tmp_path / "plugins").mkdir()
    loaded = reg.prepare_blocking("gh:plugins/wal.py")
    assert call(loaded) == "v1"
    assert loaded.version.source == "git" and loaded.version.pin == git_repo["v1"]
    assert (tmp_path / "plugins" / ".git-sources").is_dir()


def test_git_fetch_default_head_then_update(tmp_path: Path, git_repo: dict) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    reg = PluginRegistry(plugin_dir, plugin_repo=f"git+{git_repo['path']}")
    loaded = reg.prepare_blocking("gh:plugins/wal.py")
    assert call(loaded) == "v2" and loaded.version.pin == git_repo["v2"]

    # a new upstream commit is picked up by the next fetch (an existing clone is fetched, not recloned)
    repo = git_repo["path"]
    (repo / "plugins" / "wal.py").write_text(PLUGIN_V1.replace("v1", "v3"))
    git(repo, "commit", "--quiet", "-am", "v3")
    v3 = git(repo, "rev-parse", "HEAD")
    again = reg.prepare_blocking("gh:plugins/wal.py")
    assert call(again) == "v3" and again.version.pin == v3
    assert [v.pin for v in reg.versions("gh:plugins/wal.py")] == [git_repo["v2"], v3]

    # pinning an explicit commit goes back in time
    reg.plugin_repo = f"git+{repo}#{git_repo['v1']}"
    old = reg.prepare_blocking("gh:plugins/wal.py")
    assert call(old) == "v1" and old.version.pin == git_repo["v1"]


def test_git_bare_repository_and_directory_plugin(tmp_path: Path, git_repo: dict) -> None:
    bare = tmp_path / "shared.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(git_repo["path"]), str(bare)], check=True)
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    reg = PluginRegistry(plugin_dir, plugin_repo=f"file://{bare}#v1")
    loaded = reg.prepare_blocking("gh:plugins/wal.py")
    assert call(loaded) == "v1" and loaded.version.pin == git_repo["v1"]

    pkg = reg.prepare_blocking("gh:plugins/gitpkg_v/")
    assert pkg.kind == "directory" and pkg.version.pin == git_repo["v1"]
    try:
        assert call(pkg) == "v1"
        reg.plugin_repo = str(bare)  # plain path, default branch
        newer = reg.prepare_blocking("gh:plugins/gitpkg_v")
        assert newer.version.pin == git_repo["v2"] and call(newer) == "v2"
    finally:
        for mod in [m for m in sys.modules if m.startswith("gitpkg_v")]:
            del sys.modules[mod]


def test_git_errors_are_clear(tmp_path: Path, git_repo: dict) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    reg = PluginRegistry(plugin_dir, plugin_repo=f"{git_repo['path']}#no-such-ref")
    with pytest.raises(PluginError) as e:
        reg.prepare_blocking("gh:plugins/wal.py")
    assert str(e.value) == "git ref not found in plugin repository: no-such-ref"

    reg.plugin_repo = str(git_repo["path"])
    with pytest.raises(PluginError) as e:
        reg.prepare_blocking("gh:plugins/nope.py")
    assert "plugin not found in repository" in str(e.value) and "plugins/nope.py" in str(e.value)

    reg.plugin_repo = str(tmp_path / "does-not-exist.git")
    with pytest.raises(PluginError) as e:
        reg.prepare_blocking("gh:plugins/wal.py")
    assert str(e.value).startswith("git clone failed (exit 128): ") and "does not exist" in str(e.value)
