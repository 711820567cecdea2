"""Plugin files on disk: user paths checked against traversal, a plugin's member
files, a stat signature to notice edits, and atomic writes and directory swaps."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .model import PYCACHE_DIR, PluginError, PluginKind

__all__ = [
    "check_user_path", "split_user_path", "traversal_error", "InvalidPluginPath", "is_hidden_part", "directory_files", "signature",
    "atomic_write", "atomic_replace_file", "swap_in", "build_and_swap_in",
]

_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


MAX_PATH_CHARS = 1024  # a plugin name or a file in a directory plugin, as the user writes it
MAX_PATH_PARTS = 32  # directory levels
MAX_PART_BYTES = 255  # one name (NAME_MAX)


class InvalidPluginPath(PluginError):
    """A plugin path no file system could hold: the client's mistake, so a 400."""

    status = 400


def check_user_path(name: str) -> None:
    """Refuse, with a message saying which rule, a name the OS would reject with a bare error
    (a NUL byte: ValueError; thousands of levels: ENAMETOOLONG)."""
    if "\0" in name:
        raise InvalidPluginPath(f"invalid plugin filename {name[:80]!r}: it contains a NUL character")
    if len(name) > MAX_PATH_CHARS:
        raise InvalidPluginPath(
            f"invalid plugin filename {name[:80]!r}...: longer than {MAX_PATH_CHARS} characters"
        )
    parts = [p for p in re.split(r"[\\/]", name) if p]
    if len(parts) > MAX_PATH_PARTS:
        raise InvalidPluginPath(f"invalid plugin filename {name[:80]!r}: more than {MAX_PATH_PARTS} path levels")
    for p in parts:
        if len(p.encode("utf-8", "surrogatepass")) > MAX_PART_BYTES:
            raise InvalidPluginPath(f"invalid plugin filename: the name {p[:80]!r}... is longer than {MAX_PART_BYTES} bytes")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPluginPath(f"invalid plugin filename {name[:80]!r}: it is not valid text") from None


def split_user_path(name: str) -> list[str] | None:
    """Path components of a user-supplied relative path; None when it tries to leave the dir.
    Raises InvalidPluginPath for a name no file system could hold (check_user_path)."""
    check_user_path(name)
    if name.startswith(("/", "\\")) or _DRIVE_PREFIX.match(name):
        return None
    parts = [p for p in re.split(r"[\\/]", name) if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return parts


def traversal_error(name: str) -> PluginError:
    return PluginError(
        f"Path traversal detected: plugin filename '{name}' attempts to access files outside the plugin directory"
    )


def is_hidden_part(part: str) -> bool:
    return part.startswith(".") or part == PYCACHE_DIR


def directory_files(root: Path) -> list[tuple[str, Path]]:
    """(relpath, path) of the files that make up a directory plugin, sorted; skips caches and dotfiles."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden_part(d))
        base = Path(dirpath)
        for fn in filenames:
            if fn.startswith(".") or fn.endswith((".pyc", ".pyo")):
                continue
            p = base / fn
            out.append((p.relative_to(root).as_posix(), p))
    out.sort()
    return out


def signature(path: Path, kind: PluginKind) -> tuple:
    """Cheap change detector (stat only): mtime, size and inode of the file(s)."""
    if kind == "file":
        st = path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    st = path.stat()
    items: list[tuple] = [(st.st_ino,)]
    for rel, p in directory_files(path):
        s = p.stat()
        items.append((rel, s.st_mtime_ns, s.st_size))
    return tuple(items)


def atomic_write(target: Path, data: bytes) -> None:
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


def swap_in(new: Path, target: Path) -> None:
    """Put directory `new` at `target`, replacing whatever was there (file or directory)."""
    if target.exists() or target.is_symlink():
        old = target.parent / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(target, old)
        try:
            os.rename(new, target)
        except OSError:
            os.rename(old, target)
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.rename(new, target)


def build_and_swap_in(target: Path, files: list[tuple[Path, bytes]]) -> None:
    """Write `files` (relative path, content) into a fresh directory next to `target`, then
    swap it in; on any failure the half-built directory is removed and `target` is untouched."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        for rel, data in files:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_replace_file(target: Path, data: bytes) -> None:
    """Write a fetched file; a directory from an earlier (git) fetch at that path is removed."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    atomic_write(target, data)
