"""The tag value index behind SHOW TAG VALUES: learnt by one scan, kept current by flushes
(also those during the scan), started over for a re-created table, bounded."""
from __future__ import annotations

import pyarrow as pa

from pe_engine.storage.catalog import Catalog
from pe_engine.storage.flush import FlushedWrites
from pe_engine.storage.tag_values import TagValueIndex


def _catalog() -> Catalog:
    c = Catalog()
    db = c.create_db("db")
    c.create_table(db, "cpu", ["host", "region"], [("usage", "float64")])
    return c


def _flush(host: list[str | None], db: str = "db", seq: int = 1) -> FlushedWrites:
    batch = pa.RecordBatch.from_pydict({"host": pa.array(host, pa.string()).dictionary_encode(),
                                        "usage": pa.array([1.0] * len(host))})
    return FlushedWrites(seq, db, {"cpu": batch}, 0)


def test_learnt_once_then_kept_current_by_flushes():
    idx = TagValueIndex(_catalog())
    scans = []

    def scan() -> list[str]:
        scans.append(1)
        return ["b", "a"]

    assert idx.values("db", "cpu", "host", scan) == ["a", "b"]
    idx.on_flush([_flush(["c", None, "a"]), _flush(["z"], db="other")])
    assert idx.values("db", "cpu", "host", scan) == ["a", "b", "c"]
    assert len(scans) == 1  # answered from the index
    assert idx.values("db", "nope", "host", scan) == []


def test_a_flush_during_the_scan_is_not_lost():
    idx = TagValueIndex(_catalog())

    def scan() -> list[str]:
        idx.on_flush([_flush(["late"])])  # written while the scan ran
        return ["a"]

    assert idx.values("db", "cpu", "host", scan) == ["a", "late"]


def test_a_recreated_table_starts_over():
    c = _catalog()
    idx = TagValueIndex(c)
    assert idx.values("db", "cpu", "host", lambda: ["old"]) == ["old"]
    db = c.databases["db"]
    del db.tables["cpu"]
    c.create_table(db, "cpu", ["host"], [("usage", "float64")])
    assert idx.values("db", "cpu", "host", lambda: ["new"]) == ["new"]


def test_too_many_values_are_not_indexed():
    idx = TagValueIndex(_catalog(), max_values=3)
    many = [f"h{i}" for i in range(5)]
    assert idx.values("db", "cpu", "host", lambda: many) == sorted(many)  # the scan still answers
    assert idx.values("db", "cpu", "host", lambda: many) is None  # then: scan each time
    small = TagValueIndex(_catalog(), max_values=3)
    assert small.values("db", "cpu", "host", lambda: ["a"]) == ["a"]
    small.on_flush([_flush(["b", "c", "d"])])
    assert small.values("db", "cpu", "host", lambda: ["a"]) is None
