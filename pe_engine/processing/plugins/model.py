"""The plugin registry's records and its one error type."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from types import CodeType
from typing import Any, Callable, Literal

from ...errors import PeError

__all__ = [
    "GH_PREFIX", "GH_CACHE_DIR", "INIT_PY", "PYCACHE_DIR", "PLUGIN_MODULE_NAME", "MAX_CACHED_CODES",
    "PluginKind", "PluginSource", "OnChange", "PluginError", "PluginVersion", "LoadedPlugin",
    "PluginFileEntry", "PluginFileInfo",
]

GH_PREFIX = "gh:"
GH_CACHE_DIR = ".gh"  # fetched `gh:` plugins live here (hidden: never hot-reloaded)
INIT_PY = "__init__.py"
PYCACHE_DIR = "__pycache__"
PLUGIN_MODULE_NAME = "__pe_plugin__"
MAX_CACHED_CODES = 8  # compiled code objects kept per plugin (so reverting an edit is free)

PluginKind = Literal["file", "directory"]
PluginSource = Literal["local", "gh", "git", "upload"]
OnChange = Callable[[str, "PluginVersion | None", "str | None"], None]


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
