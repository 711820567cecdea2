"""pe.sqlite holds trigger arguments (API keys): the store file and its -wal/-shm are owner-only,
whatever the umask, and a file an older version left 0644 is tightened when it is opened."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe_engine.store import Store


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _files(path: Path) -> list[Path]:
    return [Path(f"{path}{s}") for s in ("", "-wal", "-shm")]


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual umask: new files 0644
    try:
        yield
    finally:
        os.umask(old)


async def test_a_new_store_and_its_wal_files_are_owner_only(tmp_path: Path, loose_umask: None):
    path = tmp_path / "pe.sqlite"
    store = Store(path)
    await store.open()
    try:
        await store.set_meta("probe", "x")  # a write, so the -wal has content
        for p in _files(path):
            assert p.exists(), p
            assert _mode(p) == 0o600, (p.name, oct(_mode(p)))
    finally:
        await store.close()


async def test_an_existing_world_readable_store_is_tightened_at_open(tmp_path: Path, loose_umask: None):
    path = tmp_path / "pe.sqlite"
    store = Store(path)
    await store.open()
    await store.set_meta("probe", "x")
    await store.close()
    for p in _files(path):
        if p.exists():
            os.chmod(p, 0o644)
    Path(f"{path}-wal").touch()
    os.chmod(f"{path}-wal", 0o644)

    store = Store(path)
    await store.open()
    try:
        assert await store.get_meta("probe") == "x"
        for p in _files(path):
            assert _mode(p) == 0o600, (p.name, oct(_mode(p)))
    finally:
        await store.close()
