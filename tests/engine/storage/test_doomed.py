"""Doomed files wait for the queries that may read them; a query being planned (pins unknown)
holds them for the grace, which is never zero (a clean CI run lost a file a query had just
picked when `query_timeout=0` made the grace zero)."""
from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from pe_engine.storage.doomed import UNBOUNDED_QUERY_GRACE, DoomedFiles, grace_for


def _files(tmp_path: Path, n: int) -> list[str]:
    out = []
    for i in range(n):
        p = tmp_path / f"f{i}.parquet"
        p.write_bytes(b"x")
        out.append(str(p))
    return out


def test_grace_is_never_zero():
    assert grace_for(0.0) == UNBOUNDED_QUERY_GRACE > 0
    assert grace_for(30.0) == 30.0


def test_pins_decide_and_unknown_pins_wait_for_the_grace(tmp_path: Path):
    a, b = _files(tmp_path, 2)
    pins: list[set[str] | None] = [None]  # a query is being planned
    d = DoomedFiles(pafs.LocalFileSystem(), grace=grace_for(0.0), report=lambda *_: None, what="test",
                    in_use=lambda: pins[0])
    d.add([a, b])
    d.delete_due()
    assert Path(a).exists() and Path(b).exists()  # pins unknown: nothing goes
    pins[0] = {a}  # the query picked a
    d.delete_due()
    assert Path(a).exists() and not Path(b).exists()
    pins[0] = None
    d.delete_due(now=10**9)  # long past the grace: pins unknown no longer hold it
    assert not Path(a).exists() and len(d) == 0
