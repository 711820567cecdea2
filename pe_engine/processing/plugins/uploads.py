"""Plugin uploads (`PUT /api/v3/plugins/files`, directory uploads): user paths checked
against traversal, files written atomically, directories swapped in whole."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from .files import atomic_write, build_and_swap_in, split_user_path, traversal_error
from .model import INIT_PY, PluginError

__all__ = ["UploadTarget", "write_file", "replace_directory"]


class UploadTarget(Protocol):
    """The registry as uploads see it."""

    @property
    def root(self) -> Path: ...

    def checked_path(self, display: str, parts: Sequence[str]) -> Path: ...

    def after_upload(self, parts: list[str]) -> None:
        """Mark uploaded paths so their next version says source="upload"; reload known users now."""


def write_file(registry: UploadTarget, relative_path: str, content: str) -> Path:
    """Create or overwrite one plugin file (parents created), atomically: tmp file + rename."""
    root = registry.root
    display = relative_path.rstrip("/")
    parts = split_user_path(display)
    if parts is None:
        raise traversal_error(display)
    if not parts:
        raise PluginError(f"invalid plugin filename: '{relative_path}'")
    target = registry.checked_path(display, parts)
    if target.is_dir():
        raise PluginError(f"cannot write plugin file {display}: it is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    if root not in target.resolve().parents:  # a parent created through a racing symlink
        raise traversal_error(display)
    atomic_write(target, content.encode())
    registry.after_upload(parts)
    return target


def replace_directory(registry: UploadTarget, relative_dir: str, files: list[tuple[str, str]]) -> Path:
    """Replace a directory plugin with exactly `files` (relpath, content): build a tmp dir, swap."""
    registry.root  # raises when no plugin directory is configured
    display = relative_dir.rstrip("/")
    parts = split_user_path(display)
    if parts is None:
        raise traversal_error(display)
    if not parts:
        raise PluginError(f"invalid plugin directory: '{relative_dir}'")
    target = registry.checked_path(display, parts)
    rels: list[tuple[list[str], str]] = []
    for rel, content in files:
        rparts = split_user_path(rel)
        if rparts is None:
            raise traversal_error(rel)
        if not rparts:
            raise PluginError(f"invalid plugin file name: '{rel}'")
        rels.append((rparts, content))
    if not any(r == [INIT_PY] for r, _ in rels):
        raise PluginError(f"Multi-file plugin directory must contain {INIT_PY}: {target}")
    if target.exists() and not target.is_dir():
        raise PluginError(f"cannot replace plugin directory {display}: it is a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    build_and_swap_in(target, [(Path(*rparts), content.encode()) for rparts, content in rels])
    registry.after_upload(parts)
    return target
