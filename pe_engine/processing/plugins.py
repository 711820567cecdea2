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
import builtins
import hashlib
import importlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, Callable, Iterable, Literal, Sequence

from pe_engine.errors import PeError

GH_PREFIX = "gh:"
GH_CACHE_DIR = ".gh"  # fetched `gh:` plugins live here (hidden: never hot-reloaded)
INIT_PY = "__init__.py"
PYCACHE_DIR = "__pycache__"
PLUGIN_MODULE_NAME = "__pe_plugin__"
MAX_CACHED_CODES = 8  # compiled code objects kept per plugin (so reverting an edit is free)

PluginKind = Literal["file", "directory"]
PluginSource = Literal["local", "gh", "git", "upload"]
OnChange = Callable[[str, "PluginVersion | None", "str | None"], None]

# Plugin type (trigger spec) -> entry point name, and the exact error InfluxDB gives when missing.
ENTRY_POINTS: dict[str, str] = {
    "wal_rows": "process_writes",
    "schedule": "process_scheduled_call",
    "request": "process_request",
}
MISSING_ENTRY_POINT: dict[str, str] = {
    "process_writes": "the process_writes function is not present in the plugin. Should be defined as: "
    "process_writes(influxdb3_local, table_batches, args=None)",
    "process_scheduled_call": "the process_scheduled_call function is not present in the plugin. Should be "
    "defined as: process_scheduled_call(influxdb3_local, call_time, args=None)",
    "process_request": "the process_request function is not present in the plugin. Should be defined as: "
    "process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None) "
    "-> Tuple[str, Optional[Dict[str, str]]]",
}

# sys.path and sys.modules are process-wide, so the lock that guards them must be too.
_IMPORT_LOCK = threading.RLock()
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


# A plugin file is stat'ed at most this often by `current()`: at hundreds of activations per
# second the stat (and the lock around it) was a large share of dispatch latency. Edits are
# still seen within this interval, and at once when the file watcher reports them.
RESTAT_INTERVAL = 0.25


class PluginError(PeError):
    """A plugin cannot be found, validated or loaded; the message is shown to users as is."""

    status = 500


@dataclass(frozen=True)
class PluginVersion:
    filename: str
    content_hash: str  # sha256 hex of the file, or of the sorted (relpath, bytes) of a directory
    first_seen: float
    source: str  # "local" | "gh" | "git" | "upload"
    pin: str | None  # git commit for git sources
    size_bytes: int

    def as_row(self) -> tuple[str, str, float, str, str | None, int]:
        return (self.filename, self.content_hash, self.first_seen, self.source, self.pin, self.size_bytes)


@dataclass(frozen=True)
class LoadedPlugin:
    filename: str
    version: PluginVersion
    kind: PluginKind
    code: CodeType | None  # single file: compiled once per version
    package_name: str | None  # directory plugin: the package imported
    path: Path


@dataclass(frozen=True)
class PluginFileEntry:
    """One file on disk, in the shape of a `system.plugin_files` row."""

    file_name: str  # relative to the plugin dir (posix)
    file_path: str  # absolute
    size_bytes: int
    last_modified_ms: int


@dataclass(frozen=True)
class PluginFileInfo:
    filename: str
    kind: PluginKind | None
    source: str | None
    files: tuple[PluginFileEntry, ...]
    size_bytes: int
    last_modified_ms: int | None
    content_hash: str | None  # the version currently served
    versions: int
    last_error: str | None
    users: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = [asdict(e) for e in self.files]
        d["users"] = list(self.users)
        return d


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
    notify: list[tuple[str, PluginVersion | None, str | None]] = field(default_factory=list)


def _split_user_path(name: str) -> list[str] | None:
    """Path components of a user-supplied relative path; None when it tries to leave the dir."""
    if name.startswith(("/", "\\")) or _DRIVE_PREFIX.match(name):
        return None
    parts = [p for p in re.split(r"[\\/]", name) if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return parts


def _traversal(name: str) -> PluginError:
    return PluginError(
        f"Path traversal detected: plugin filename '{name}' attempts to access files outside the plugin directory"
    )


def _is_hidden_part(part: str) -> bool:
    return part.startswith(".") or part == PYCACHE_DIR


def _directory_files(root: Path) -> list[tuple[str, Path]]:
    """(relpath, path) of the files that make up a directory plugin, sorted; skips caches and dotfiles."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden_part(d))
        base = Path(dirpath)
        for fn in filenames:
            if fn.startswith(".") or fn.endswith((".pyc", ".pyo")):
                continue
            p = base / fn
            out.append((p.relative_to(root).as_posix(), p))
    out.sort()
    return out


def _signature(path: Path, kind: PluginKind) -> tuple:
    """Cheap change detector (stat only): mtime, size and inode of the file(s)."""
    if kind == "file":
        st = path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    st = path.stat()
    items: list[tuple] = [(st.st_ino,)]
    for rel, p in _directory_files(path):
        s = p.stat()
        items.append((rel, s.st_mtime_ns, s.st_size))
    return tuple(items)


def _format_compile_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def entry_point(namespace_or_module: Any, name: str | None, plugin_type: str | None = None) -> Callable[..., Any]:
    """The plugin's entry function, or PluginError with InfluxDB's exact "not present" text.

    `name` is the function name (e.g. "process_writes"); when None it is derived from
    `plugin_type` ("wal_rows" | "schedule" | "request").
    """
    if not name:
        if plugin_type not in ENTRY_POINTS:
            raise PluginError(f"unknown plugin type: {plugin_type}")
        name = ENTRY_POINTS[plugin_type]
    if isinstance(namespace_or_module, dict):
        fn = namespace_or_module.get(name)
    else:
        fn = getattr(namespace_or_module, name, None)
    if fn is None:
        raise PluginError(MISSING_ENTRY_POINT.get(name, f"the {name} function is not present in the plugin."))
    if not callable(fn):
        raise PluginError(f"{name} is defined in the plugin but is not callable")
    return fn


def instantiate(loaded: LoadedPlugin) -> dict[str, Any]:
    """Make the plugin ready for one invocation and return its namespace.

    Single file: runs the cached code object in fresh globals every time (InfluxDB semantics:
    module-level variables do not survive between calls). Directory: imports the package with its
    parent dir temporarily on sys.path and returns the module's live namespace (state persists);
    when the version changed since the last import, the package and its submodules are dropped
    from sys.modules first so the new code takes effect.
    """
    if loaded.kind == "file":
        assert loaded.code is not None
        namespace: dict[str, Any] = {
            "__name__": PLUGIN_MODULE_NAME,
            "__file__": str(loaded.path),
            "__builtins__": builtins,
        }
        exec(loaded.code, namespace)
        return namespace
    return _import_package(loaded).__dict__


def _package_modules(package: str) -> dict[str, ModuleType]:
    prefix = package + "."
    return {n: m for n, m in list(sys.modules.items()) if n == package or n.startswith(prefix)}


def _import_package(loaded: LoadedPlugin) -> ModuleType:
    package = loaded.package_name
    assert package is not None
    path = str(loaded.path)
    with _IMPORT_LOCK:
        existing = sys.modules.get(package)
        if existing is not None:
            owner = getattr(existing, "__pe_plugin_path__", None)
            if owner == path and getattr(existing, "__pe_version__", None) == loaded.version.content_hash:
                return existing
            if owner is None or (owner != path and Path(owner).exists()):
                where = owner or getattr(existing, "__file__", None) or "built-in"
                raise PluginError(
                    f"directory plugin '{loaded.filename}': package name '{package}' clashes with an "
                    f"already imported module ({where}); rename the plugin directory"
                )
        old = _package_modules(package)
        for name in old:
            del sys.modules[name]
        # Stale bytecode is validated by mtime (whole seconds) and size: an edit within the same
        # second that keeps the size would silently run the old code. Drop the cache instead.
        for cache in loaded.path.rglob(PYCACHE_DIR):
            shutil.rmtree(cache, ignore_errors=True)
        importlib.invalidate_caches()
        parent = str(loaded.path.parent)
        sys.path.insert(0, parent)
        try:
            module = importlib.import_module(package)
        except BaseException:
            for name in _package_modules(package):
                del sys.modules[name]
            sys.modules.update(old)  # keep the last good code importable
            raise
        finally:
            if sys.path and sys.path[0] == parent:
                del sys.path[0]
            else:
                try:
                    sys.path.remove(parent)
                except ValueError:
                    pass
        module.__pe_plugin_path__ = path  # type: ignore[attr-defined]
        module.__pe_version__ = loaded.version.content_hash  # type: ignore[attr-defined]
        return module


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
        self._sources: Any = None  # PluginSources, created on first remote fetch

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
            parts = _split_user_path(raw)
            if parts is None:
                raise _traversal(filename.rstrip("/"))
            if not parts:
                raise PluginError(f"invalid plugin filename: '{filename}'")
            return GH_PREFIX + "/".join(parts)
        raw = filename.rstrip("/")
        if not raw and filename:
            raise _traversal(filename)  # "/" is an absolute path
        parts = _split_user_path(raw)
        if parts is None:
            raise _traversal(raw)
        if not parts:
            raise PluginError(f"invalid plugin filename: '{filename}'")
        return "/".join(parts)

    def _checked_path(self, display: str, parts: Sequence[str]) -> Path:
        """root/parts with symlinks resolved; must stay inside the plugin dir."""
        root = self.root
        candidate = root.joinpath(*parts)
        real = candidate.resolve()
        if real == root or root not in real.parents:
            raise _traversal(display)
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
                    sig = _signature(state.path, state.kind)
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

    def _remote(self) -> Any:
        with self._lock:
            if self._sources is None:
                from pe_engine.processing.sources import PluginSources

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
        notify = [] if state.last_error == error else [(state.key, None, error)]
        state.last_error = error
        return _Outcome(state.good, error, notify)

    def _load_locked(self, key: str, *, force: bool, source: str | None, pin: str | None) -> _Outcome:
        state = self._states.setdefault(key, _PluginState(key))
        try:
            path = self.resolve(key)
            kind: PluginKind = "directory" if path.is_dir() else "file"
            sig = _signature(path, kind)
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
                files = [(rel, p, p.read_bytes()) for rel, p in _directory_files(path)]
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
            notify = [(key, good.version, None)] if state.last_error is not None else []
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
            return self._fail(state, _format_compile_error(exc))

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
        return _Outcome(loaded, None, [(key, version, None)])

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
        members = _directory_files(path) if kind == "directory" and path.is_dir() else [("", path)]
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
        """Create or overwrite one plugin file (parents created), atomically: tmp file + rename."""
        root = self.root
        display = relative_path.rstrip("/")
        parts = _split_user_path(display)
        if parts is None:
            raise _traversal(display)
        if not parts:
            raise PluginError(f"invalid plugin filename: '{relative_path}'")
        target = self._checked_path(display, parts)
        if target.is_dir():
            raise PluginError(f"cannot write plugin file {display}: it is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        if root not in target.resolve().parents:  # a parent created through a racing symlink
            raise _traversal(display)
        _atomic_write(target, content.encode())
        self._after_upload(parts)
        return target

    def replace_directory(self, relative_dir: str, files: list[tuple[str, str]]) -> Path:
        """Replace a directory plugin with exactly `files` (relpath, content): build a tmp dir, swap."""
        root = self.root
        display = relative_dir.rstrip("/")
        parts = _split_user_path(display)
        if parts is None:
            raise _traversal(display)
        if not parts:
            raise PluginError(f"invalid plugin directory: '{relative_dir}'")
        target = self._checked_path(display, parts)
        rels: list[tuple[list[str], str]] = []
        for rel, content in files:
            rparts = _split_user_path(rel)
            if rparts is None:
                raise _traversal(rel)
            if not rparts:
                raise PluginError(f"invalid plugin file name: '{rel}'")
            rels.append((rparts, content))
        if not any(r == [INIT_PY] for r, _ in rels):
            raise PluginError(f"Multi-file plugin directory must contain {INIT_PY}: {target}")
        if target.exists() and not target.is_dir():
            raise PluginError(f"cannot replace plugin directory {display}: it is a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            os.chmod(tmp, 0o755)
            for rparts, content in rels:
                dest = tmp.joinpath(*rparts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(content.encode())
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
                os.rename(target, old)
                try:
                    os.rename(tmp, target)
                except OSError:
                    os.rename(old, target)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._after_upload(parts)
        return target

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
        """Reload plugins whose files change under the plugin dir until `stop` is set.

        Ignores `__pycache__`, `.venv`, the `.gh` cache and other hidden entries. Each reload goes
        through the same path as `load()`, so `on_change` fires only for a new version or error.
        """
        import watchfiles

        if self.plugin_dir is None:
            await stop.wait()
            return
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        root = self.root

        def keep(_change: Any, path: str) -> bool:
            try:
                rel = Path(path).relative_to(root)
            except ValueError:
                return True
            return not any(_is_hidden_part(p) for p in rel.parts) and not path.endswith((".pyc", ".pyo"))

        async for changes in watchfiles.awatch(
            root, watch_filter=keep, stop_event=stop, recursive=True, step=step_ms, debounce=debounce_ms
        ):
            for key in self._affected({Path(p) for _, p in changes}):
                try:
                    await asyncio.to_thread(self._run, key, force=True)
                except PluginError:
                    pass  # recorded as last_error and reported through on_change

    def _affected(self, changed: set[Path]) -> list[str]:
        with self._lock:
            known = [
                (s.key, s.path, self.root.joinpath(*s.key.split("/")))
                for s in self._states.values()
                if not s.key.startswith(GH_PREFIX) and (s.path is not None or s.versions or s.users)
            ]
        out: list[str] = []
        for key, real, nominal in known:
            for target in {p for p in (real, nominal) if p is not None}:
                if any(c == target or target in c.parents or c in target.parents for c in changed):
                    out.append(key)
                    break
        return out


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
