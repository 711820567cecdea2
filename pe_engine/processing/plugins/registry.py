"""Plugin registry: where plugin code comes from, which version runs, and when it changes.

InfluxDB 3 semantics (reference §2.1, §5.5): a single-file plugin is executed afresh on every
invocation in a new globals dict; a directory plugin is imported as a package (its module state
persists). Local files are re-checked (stat) before each invocation and re-read only when they
changed. `pe` extensions, all strictly safer: every distinct content is recorded as a version
(hash, first seen, source, git pin); a new version that fails to compile does not replace the last
good one (the error is kept in `last_error` instead); a directory plugin's new code takes effect
(InfluxDB's `sys.modules` caching makes this uncertain there).
"""
from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any, Iterable, Sequence

from .files import directory_files, signature, split_user_path, traversal_error
from .loading import format_compile_error
from .model import (
    GH_CACHE_DIR,
    GH_PREFIX,
    INIT_PY,
    MAX_CACHED_CODES,
    LoadedPlugin,
    OnChange,
    PluginError,
    PluginFileEntry,
    PluginFileInfo,
    PluginKind,
    PluginVersion,
)
from .sources import PluginSources
from .uploads import replace_directory as _replace_directory
from .uploads import write_file as _write_file
from .watch import watch_plugins

__all__ = ["RESTAT_INTERVAL", "PluginRegistry"]

Note = tuple[str, PluginVersion | None, str | None]  # (filename, new version, error) for on_change

# A plugin file is stat'ed at most this often by `current()`: at hundreds of activations per
# second the stat (and the lock around it) was a large share of dispatch latency. Edits are
# still seen within this interval, and at once when the file watcher reports them.
RESTAT_INTERVAL = 0.25


@dataclass
class _PluginState:
    """Everything the registry knows about one plugin filename (guarded by the registry lock)."""

    key: str
    versions: list[PluginVersion] = field(default_factory=list)
    good: LoadedPlugin | None = None
    last_error: str | None = None
    path: Path | None = None
    kind: PluginKind | None = None
    signature: tuple | None = None  # stat signature at the last read
    checked_at: float = 0.0  # monotonic time of the last stat that found the file unchanged
    bad_hash: str | None = None  # content that failed to compile (not recompiled until it changes)
    codes: dict[str, CodeType] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)

    def version_for(self, content_hash: str) -> PluginVersion | None:
        for v in self.versions:
            if v.content_hash == content_hash:
                return v
        return None


@dataclass
class _Outcome:
    loaded: LoadedPlugin | None
    error: str | None
    notify: list[Note] = field(default_factory=list)


class PluginRegistry:
    """Resolves, loads, versions and watches plugins under one plugin directory.

    Thread-safe: worker threads call `current()` before each activation while the watcher and
    the HTTP upload handlers reload. `on_change(filename, version, error)` is called (outside the
    lock, from whichever thread noticed the change) when the served version or the error changes.
    """

    def __init__(
        self,
        plugin_dir: Path | None,
        *,
        plugin_repo: str | None = None,
        on_change: OnChange | None = None,
        restat_interval: float = RESTAT_INTERVAL,
    ) -> None:
        self.plugin_dir = Path(plugin_dir) if plugin_dir is not None else None
        self.plugin_repo = plugin_repo
        self.on_change = on_change
        self.restat_interval = restat_interval
        self._lock = threading.RLock()
        self._states: dict[str, _PluginState] = {}
        self._upload_marks: set[str] = set()
        self._sources: PluginSources | None = None  # created on first remote fetch

    # ---- names and paths -------------------------------------------------------------------

    @property
    def root(self) -> Path:
        if self.plugin_dir is None:
            raise PluginError("Node not configured with plugin directory")
        return self.plugin_dir.resolve()

    def key(self, filename: str) -> str:
        """Canonical name of a plugin ("foo/" and "./foo" are "foo"); raises on traversal."""
        if filename.startswith(GH_PREFIX):
            raw = filename[len(GH_PREFIX):].rstrip("/")
            parts = split_user_path(raw)
            if parts is None:
                raise traversal_error(filename.rstrip("/"))
            if not parts:
                raise PluginError(f"invalid plugin filename: '{filename}'")
            return GH_PREFIX + "/".join(parts)
        raw = filename.rstrip("/")
        if not raw and filename:
            raise traversal_error(filename)  # "/" is an absolute path
        parts = split_user_path(raw)
        if parts is None:
            raise traversal_error(raw)
        if not parts:
            raise PluginError(f"invalid plugin filename: '{filename}'")
        return "/".join(parts)

    def _checked_path(self, display: str, parts: Sequence[str]) -> Path:
        """root/parts with symlinks resolved; must stay inside the plugin dir."""
        root = self.root
        candidate = root.joinpath(*parts)
        real = candidate.resolve()
        if real == root or root not in real.parents:
            raise traversal_error(display)
        return real

    def resolve(self, filename: str) -> Path:
        """Absolute path of a plugin file or directory, validated as InfluxDB does (§5.5)."""
        if self.plugin_dir is None:
            raise PluginError("Node not configured with plugin directory")
        key = self.key(filename)
        display = filename.rstrip("/")
        if key.startswith(GH_PREFIX):
            parts = [GH_CACHE_DIR, *key[len(GH_PREFIX):].split("/")]
            path = self._checked_path(display, parts)
            if not path.exists():
                raise PluginError(f"plugin {display} has not been fetched from the plugin repository")
        else:
            path = self._checked_path(display, key.split("/"))
            if not path.exists():
                raise PluginError(f"plugin file not found: {display} (looked in {self.plugin_dir})")
        if path.is_dir() and not (path / INIT_PY).is_file():
            raise PluginError(f"Multi-file plugin directory must contain {INIT_PY}: {path}")
        return path

    # ---- loading ---------------------------------------------------------------------------

    def load(self, filename: str) -> LoadedPlugin:
        """Read the plugin now (compiling only content not seen before) and return what to run."""
        return self._run(self.key(filename), force=True)

    def current(self, filename: str) -> LoadedPlugin:
        """What the next activation should run: a stat, and a re-read only if the file changed."""
        key = self.key(filename)
        now = time.monotonic()
        with self._lock:
            state = self._states.get(key)
            if state is not None and state.path is not None and state.kind is not None:
                if state.good is not None and now - state.checked_at < self.restat_interval:
                    return state.good  # stat at most every restat_interval; the watcher reports edits sooner
                try:
                    sig = signature(state.path, state.kind)
                except OSError:
                    sig = None
                if sig is not None and sig == state.signature:
                    state.checked_at = now
                    if state.good is not None:
                        return state.good
                    if state.last_error is not None:
                        raise PluginError(state.last_error)
        return self._run(key, force=False)

    async def prepare(self, filename: str) -> LoadedPlugin:
        """What the engine awaits at trigger creation and start: fetch `gh:` plugins, load local ones.

        Runs in a thread: file reads, compiles, HTTP and git are blocking.
        """
        return await asyncio.to_thread(self.prepare_blocking, filename)

    def prepare_blocking(self, filename: str) -> LoadedPlugin:
        """`prepare` for callers that are not on the event loop."""
        if not self.key(filename).startswith(GH_PREFIX):
            return self.load(filename)
        return self._remote().fetch(filename)

    def _remote(self) -> PluginSources:
        with self._lock:
            if self._sources is None:
                self._sources = PluginSources(self)
            return self._sources

    def register_fetched(self, filename: str, source: str, pin: str | None) -> LoadedPlugin:
        """Record a plugin a remote source just wrote into the cache (called by sources.py)."""
        return self._run(self.key(filename), force=True, source=source, pin=pin)

    def _run(self, key: str, *, force: bool, source: str | None = None, pin: str | None = None) -> LoadedPlugin:
        with self._lock:
            outcome = self._load_locked(key, force=force, source=source, pin=pin)
        self._emit(outcome.notify)
        if outcome.loaded is None:
            raise PluginError(outcome.error or f"plugin {key} could not be loaded")
        return outcome.loaded

    def _emit(self, notes: Iterable[tuple[str, PluginVersion | None, str | None]]) -> None:
        if self.on_change is None:
            return
        for filename, version, error in notes:
            self.on_change(filename, version, error)

    def _fail(self, state: _PluginState, error: str) -> _Outcome:
        notify: list[Note] = [] if state.last_error == error else [(state.key, None, error)]
        state.last_error = error
        return _Outcome(state.good, error, notify)

    def _load_locked(self, key: str, *, force: bool, source: str | None, pin: str | None) -> _Outcome:
        state = self._states.setdefault(key, _PluginState(key))
        try:
            path = self.resolve(key)
            kind: PluginKind = "directory" if path.is_dir() else "file"
            sig = signature(path, kind)
        except PluginError as exc:
            state.signature = None
            return self._fail(state, exc.message)
        except OSError as exc:
            state.signature = None
            return self._fail(state, f"reading plugin file: {exc}")
        if not force and state.path == path and sig == state.signature and (state.good or state.last_error):
            return _Outcome(state.good, state.last_error)
        state.path, state.kind, state.signature = path, kind, sig
        try:
            if kind == "file":
                data = path.read_bytes()
                content_hash = hashlib.sha256(data).hexdigest()
                size = len(data)
                files: list[tuple[str, Path, bytes]] = []
            else:
                files = [(rel, p, p.read_bytes()) for rel, p in directory_files(path)]
                h = hashlib.sha256()
                for rel, _, blob in files:
                    h.update(rel.encode() + b"\0" + len(blob).to_bytes(8, "big"))
                    h.update(blob)
                content_hash = h.hexdigest()
                size = sum(len(b) for _, _, b in files)
                data = b""
        except OSError as exc:
            return self._fail(state, f"reading plugin file: {exc}")

        good = state.good
        if good is not None and good.version.content_hash == content_hash and good.path == path and good.kind == kind:
            notify: list[Note] = [(key, good.version, None)] if state.last_error is not None else []
            state.last_error, state.bad_hash = None, None
            return _Outcome(good, None, notify)
        if content_hash == state.bad_hash and state.last_error is not None:
            return _Outcome(state.good, state.last_error)

        code: CodeType | None = None
        try:
            if kind == "file":
                code = state.codes.get(content_hash)
                if code is None:
                    code = compile(data, str(path), "exec", dont_inherit=True)
            else:
                for rel, p, blob in files:
                    if rel.endswith(".py"):
                        compile(blob, str(p), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            state.bad_hash = content_hash
            return self._fail(state, format_compile_error(exc))

        if code is not None:
            state.codes[content_hash] = code
            while len(state.codes) > MAX_CACHED_CODES:
                state.codes.pop(next(iter(state.codes)))
        version = state.version_for(content_hash)
        if version is None:
            version = PluginVersion(
                filename=key,
                content_hash=content_hash,
                first_seen=time.time(),
                source=source or self._default_source(key),
                pin=pin,
                size_bytes=size,
            )
            state.versions.append(version)
        loaded = LoadedPlugin(
            filename=key,
            version=version,
            kind=kind,
            code=code,
            package_name=path.name if kind == "directory" else None,
            path=path,
        )
        state.good, state.last_error, state.bad_hash = loaded, None, None
        note: Note = (key, version, None)
        return _Outcome(loaded, None, [note])

    def _default_source(self, key: str) -> str:
        if key.startswith(GH_PREFIX):
            return "gh"
        if key in self._upload_marks:
            self._upload_marks.discard(key)
            return "upload"
        return "local"

    # ---- introspection ---------------------------------------------------------------------

    def versions(self, filename: str) -> list[PluginVersion]:
        with self._lock:
            state = self._states.get(self.key(filename))
            return list(state.versions) if state else []

    def last_error(self, filename: str) -> str | None:
        with self._lock:
            state = self._states.get(self.key(filename))
            return state.last_error if state else None

    def set_users(self, filename: str, triggers: set[str]) -> None:
        """Which triggers use this plugin (the engine keeps it current)."""
        key = self.key(filename)
        with self._lock:
            self._states.setdefault(key, _PluginState(key)).users = set(triggers)

    def set_users_map(self, users: dict[str, set[str]]) -> None:
        """Replace the whole plugin -> triggers mapping (plugins not in it have no users)."""
        keyed: dict[str, set[str]] = {}
        for filename, triggers in users.items():
            keyed.setdefault(self.key(filename), set()).update(triggers)
        with self._lock:
            for key, state in self._states.items():
                state.users = keyed.pop(key, set())
            for key, triggers in keyed.items():
                self._states[key] = _PluginState(key, users=triggers)

    def users(self, filename: str) -> set[str]:
        with self._lock:
            state = self._states.get(self.key(filename))
            return set(state.users) if state else set()

    def _entries(self, path: Path | None, kind: PluginKind | None) -> list[PluginFileEntry]:
        if path is None or self.plugin_dir is None:
            return []
        root = self.root
        members = directory_files(path) if kind == "directory" and path.is_dir() else [("", path)]
        entries: list[PluginFileEntry] = []
        for _, p in members:
            try:
                st = p.stat()
            except OSError:
                continue
            try:
                rel = p.relative_to(root).as_posix()
            except ValueError:
                rel = p.name
            entries.append(PluginFileEntry(rel, str(p), st.st_size, st.st_mtime_ns // 1_000_000))
        return entries

    def trigger_files(self, filename: str) -> list[PluginFileEntry]:
        """Rows of `system.plugin_files` for one trigger's plugin: each local file (none for `gh:`)."""
        try:
            if self.key(filename).startswith(GH_PREFIX):
                return []
            path = self.resolve(filename)
        except PluginError:
            return []
        return self._entries(path, "directory" if path.is_dir() else "file")

    def files(self) -> list[PluginFileInfo]:
        """Known plugins with their files on disk: the data of `system.plugin_files` / `pe show plugins`."""
        with self._lock:
            states = list(self._states.values())
            snapshot = [
                (s.key, s.path, s.kind, s.good, len(s.versions), s.last_error, tuple(sorted(s.users)))
                for s in states
            ]
        out: list[PluginFileInfo] = []
        for key, path, kind, good, nversions, error, users in sorted(snapshot, key=lambda r: r[0]):
            entries = self._entries(path, kind)
            out.append(
                PluginFileInfo(
                    filename=key,
                    kind=kind,
                    source=good.version.source if good else None,
                    files=tuple(entries),
                    size_bytes=sum(e.size_bytes for e in entries),
                    last_modified_ms=max((e.last_modified_ms for e in entries), default=None),
                    content_hash=good.version.content_hash if good else None,
                    versions=nversions,
                    last_error=error,
                    users=users,
                )
            )
        return out

    # ---- persistence -----------------------------------------------------------------------

    def export_state(self) -> list[tuple[str, str, float, str, str | None, int]]:
        """All versions as plain rows (filename, hash, first_seen, source, pin, size) for SQLite."""
        with self._lock:
            rows = [v.as_row() for s in self._states.values() for v in s.versions]
        return sorted(rows, key=lambda r: (r[2], r[0]))

    def import_state(self, rows: Iterable[Sequence[Any]]) -> None:
        """Restore versions saved by `export_state` (merging with what is already known)."""
        with self._lock:
            for row in rows:
                filename, content_hash, first_seen, source, pin, size = row
                key = self.key(str(filename))
                state = self._states.setdefault(key, _PluginState(key))
                if state.version_for(str(content_hash)) is None:
                    state.versions.append(
                        PluginVersion(key, str(content_hash), float(first_seen), str(source), pin, int(size))
                    )
            for state in self._states.values():
                state.versions.sort(key=lambda v: v.first_seen)

    # ---- uploads ---------------------------------------------------------------------------

    def write_file(self, relative_path: str, content: str) -> Path:
        """Create or overwrite one plugin file (parents created), atomically (see uploads.py)."""
        return _write_file(self, relative_path, content)

    def replace_directory(self, relative_dir: str, files: list[tuple[str, str]]) -> Path:
        """Replace a directory plugin with exactly `files` (relpath, content), atomically (see uploads.py)."""
        return _replace_directory(self, relative_dir, files)

    def checked_path(self, display: str, parts: Sequence[str]) -> Path:
        """root/parts with symlinks resolved; must stay inside the plugin dir."""
        return self._checked_path(display, parts)

    def after_upload(self, parts: list[str]) -> None:
        self._after_upload(parts)

    def _after_upload(self, parts: list[str]) -> None:
        """Mark uploaded paths so their next version says source="upload"; reload known users now."""
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        with self._lock:
            known = [p for p in prefixes if p in self._states and self._states[p].path is not None]
            self._upload_marks.update(p for p in prefixes if p not in known)
        for key in known:
            try:
                self._run(key, force=True, source="upload")
            except PluginError:
                pass  # recorded as last_error and reported through on_change

    # ---- hot reload ------------------------------------------------------------------------

    async def watch(self, stop: asyncio.Event, *, step_ms: int = 50, debounce_ms: int = 400) -> None:
        """Reload plugins whose files change under the plugin dir until `stop` is set (see watch.py)."""
        await watch_plugins(self, stop, step_ms=step_ms, debounce_ms=debounce_ms)

    def watched(self) -> list[tuple[str, Path | None, Path]]:
        """(key, real path, nominal path) of every local plugin the watcher should follow."""
        with self._lock:
            return [
                (s.key, s.path, self.root.joinpath(*s.key.split("/")))
                for s in self._states.values()
                if not s.key.startswith(GH_PREFIX) and (s.path is not None or s.versions or s.users)
            ]

    def reload(self, key: str) -> LoadedPlugin:
        """Re-read one plugin now (the watcher saw its files change)."""
        return self._run(key, force=True)
