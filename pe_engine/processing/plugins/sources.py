"""Remote plugins: `gh:<path>` fetched over HTTP(S) (InfluxDB) or from a git repository (pe).

InfluxDB fetches `<plugin-repo>/<path>` over HTTP each time a trigger is created or started and
never reloads it otherwise; that tracks a branch with no way to pin. `pe` also accepts a git
repository as the plugin repo, optionally with `#<tag|branch|commit>`: the repository is cloned
(or fetched) with the `git` command, the plugin (file or directory) copied into the cache, and the
commit recorded as the version's `pin`, so what runs is exactly reproducible.

Fetched plugins are cached under `<plugin-dir>/.gh/<path>`; the registry loads them from there.
All functions here block (network, subprocesses); the `*_async` variants run them in a thread.
"""
from __future__ import annotations

import asyncio
import hashlib
import http
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from .files import atomic_replace_file, build_and_swap_in, directory_files
from .model import GH_CACHE_DIR, GH_PREFIX, INIT_PY, LoadedPlugin, PluginError


class FetchTarget(Protocol):
    """The registry as the fetcher sees it: where to put files and how to record them."""

    plugin_repo: str | None

    @property
    def root(self) -> Path: ...

    def key(self, filename: str) -> str: ...

    def register_fetched(self, filename: str, source: str, pin: str | None) -> LoadedPlugin: ...

DEFAULT_PLUGIN_REPO = "https://raw.githubusercontent.com/influxdata/influxdb3_plugins/main/"
GIT_SOURCES_DIR = ".git-sources"
MAX_PLUGIN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PluginRepo:
    """Where `gh:` plugins come from: an HTTP(S) base URL or a git repository (+ optional ref)."""

    kind: Literal["http", "git"]
    location: str
    ref: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> PluginRepo:
        """`--plugin-repo` value -> PluginRepo.

        git: `git+<url>`, a URL whose path ends in `.git`, `file://`/`ssh://`/`git://` URLs,
        `user@host:path`, or a local path; each optionally followed by `#<ref>`. Any other
        http(s) URL is an HTTP base, as in InfluxDB.
        """
        spec = (spec or "").strip() or DEFAULT_PLUGIN_REPO
        if spec.startswith("git+"):
            location, ref = _split_ref(spec[len("git+"):])
            return cls("git", location, ref)
        lower = spec.lower()
        if lower.startswith(("http://", "https://")):
            location, ref = _split_ref(spec)
            if location.rstrip("/").endswith(".git"):
                return cls("git", location, ref)
            return cls("http", spec)
        location, ref = _split_ref(spec)
        if not location:
            raise PluginError(f"invalid plugin repository: '{spec}'")
        return cls("git", location, ref)

    def url_for(self, path: str) -> str:
        """InfluxDB's join: add a '/' only when the base does not end with one."""
        return f"{self.location}{path}" if self.location.endswith("/") else f"{self.location}/{path}"


def _split_ref(spec: str) -> tuple[str, str | None]:
    location, sep, ref = spec.partition("#")
    return location, (ref.strip() or None) if sep else None


def _status_text(status: int) -> str:
    """Rust's `StatusCode` Display ("404 Not Found"), which InfluxDB puts in the error."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} <unknown status code>"


@dataclass(frozen=True)
class GitCheckout:
    path: Path
    commit: str


class PluginSources:
    """Fetches `gh:` plugins for one registry (its plugin dir and `plugin_repo`)."""

    def __init__(
        self,
        registry: FetchTarget,
        *,
        http_timeout: float = 30.0,
        git_timeout: float = 120.0,
        git: str = "git",
    ) -> None:
        self.registry = registry
        self.http_timeout = http_timeout
        self.git_timeout = git_timeout
        self.git = git
        self._lock = threading.Lock()  # one fetch at a time: clones and the cache are shared

    @property
    def repo(self) -> PluginRepo:
        return PluginRepo.parse(self.registry.plugin_repo)

    def fetch(self, filename: str) -> LoadedPlugin:
        """Fetch `gh:<path>` into the cache and register it as a version of that plugin."""
        key = self.registry.key(filename)
        if not key.startswith(GH_PREFIX):
            raise PluginError(f"not a repository plugin (expected '{GH_PREFIX}<path>'): {filename}")
        path = key[len(GH_PREFIX):]
        self.registry.root  # raises "Node not configured with plugin directory" before any network
        repo = self.repo
        with self._lock:
            if repo.kind == "http":
                url = repo.url_for(path)
                atomic_replace_file(self._cache_path(path), self._http_get(url))
                return self.registry.register_fetched(key, "gh", None)
            checkout = self._checkout(repo)
            self._copy_from_checkout(checkout, path, repo)
            return self.registry.register_fetched(key, "git", checkout.commit)

    async def fetch_async(self, filename: str) -> LoadedPlugin:
        return await asyncio.to_thread(self.fetch, filename)

    def _cache_path(self, path: str) -> Path:
        target = self.registry.root.joinpath(GH_CACHE_DIR, *path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    # ---- HTTP ------------------------------------------------------------------------------

    def _http_get(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "pe-engine"})
        try:
            with urllib.request.urlopen(request, timeout=self.http_timeout) as resp:
                data = resp.read(MAX_PLUGIN_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise PluginError(f"error fetching plugin from repository: {_status_text(exc.code)} {url}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PluginError(f"error getting plugin from repository: {reason} ({url})") from None
        if len(data) > MAX_PLUGIN_BYTES:
            raise PluginError(f"plugin from repository is larger than {MAX_PLUGIN_BYTES} bytes: {url}")
        return data

    # ---- git -------------------------------------------------------------------------------

    def _run_git(self, args: list[str], cwd: Path | None = None) -> str:
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="", SSH_ASKPASS="", LC_ALL="C")
        cmd = [self.git, "-c", "advice.detachedHead=false", *args]
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=self.git_timeout, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError:
            raise PluginError(f"git command not found ({self.git}); it is needed for a git plugin repository") from None
        except subprocess.TimeoutExpired:
            raise PluginError(f"git {args[0]} timed out after {self.git_timeout:g}s") from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise PluginError(f"git {args[0]} failed (exit {proc.returncode}): {detail}")
        return proc.stdout.strip()

    def _checkout(self, repo: PluginRepo) -> GitCheckout:
        """Clone once, fetch afterwards; detach at the ref (default: the remote's HEAD)."""
        base = self.registry.root / GIT_SOURCES_DIR
        base.mkdir(parents=True, exist_ok=True)
        dest = base / hashlib.sha256(repo.location.encode()).hexdigest()[:16]
        if not (dest / ".git").exists():
            shutil.rmtree(dest, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=base))
            try:
                self._run_git(["clone", "--quiet", "--no-checkout", "--", repo.location, str(tmp / "repo")])
                os.rename(tmp / "repo", dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            self._run_git(["fetch", "--quiet", "--tags", "--force", "--prune", "origin"], cwd=dest)
        commit = self._resolve_ref(dest, repo.ref)
        self._run_git(["checkout", "--quiet", "--force", "--detach", commit], cwd=dest)
        commit = self._run_git(["rev-parse", "HEAD"], cwd=dest)
        return GitCheckout(dest, commit)

    def _resolve_ref(self, dest: Path, ref: str | None) -> str:
        """A branch is taken from origin (fresh after fetch), then tags and commits."""
        candidates = ["refs/remotes/origin/HEAD", "HEAD"] if ref is None else [f"refs/remotes/origin/{ref}", ref]
        for candidate in candidates:
            try:
                return self._run_git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], cwd=dest)
            except PluginError:
                continue
        raise PluginError(f"git ref not found in plugin repository: {ref or 'HEAD'}")

    def _copy_from_checkout(self, checkout: GitCheckout, path: str, repo: PluginRepo) -> None:
        root = checkout.path.resolve()
        src = checkout.path.joinpath(*path.split("/"))
        where = f"{repo.location}@{checkout.commit[:12]}"
        if not src.exists() and not src.is_symlink():
            raise PluginError(f"plugin not found in repository {where}: {path}")
        real = src.resolve()
        if real == root or root not in real.parents:
            raise PluginError(f"plugin path escapes the repository {where}: {path}")
        if ".git" in real.relative_to(root).parts:
            raise PluginError(f"plugin path escapes the repository {where}: {path}")
        cache = self._cache_path(path)
        if real.is_file():
            atomic_replace_file(cache, real.read_bytes())
            return
        if not (real / INIT_PY).is_file():
            raise PluginError(f"Multi-file plugin directory must contain {INIT_PY}: {path} (in {where})")
        members: list[tuple[Path, bytes]] = []
        for rel, p in directory_files(real):
            target = p.resolve()
            if root not in target.parents or ".git" in target.relative_to(root).parts:
                raise PluginError(f"plugin file escapes the repository {where}: {path}/{rel}")
            members.append((Path(rel), target.read_bytes()))
        build_and_swap_in(cache, members)
