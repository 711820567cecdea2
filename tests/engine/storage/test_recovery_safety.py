"""Start-up never deletes or silently drops data: lost/corrupt pe.sqlite, files the catalog does not
know, WAL gaps and unreadable segments, unreadable Parquet files (storage/startup.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.storage.persist import safe_name

DB = "rec"


def cfg(tmp_path: Path, **kw) -> EngineConfig:
    return EngineConfig(data_dir=tmp_path / "data", wal_flush_interval=0.01, snapshot_every_flushes=10_000, **kw)


async def write(e: Engine, first: int, last: int, table: str = "t") -> None:
    body = "".join(f"{table},host=h{i % 3} v={i}i {1_700_000_000_000_000_000 + i * 1000}\n" for i in range(first, last + 1))
    await e.write_lp(DB, body)
    await e.flush()


async def values(e: Engine, table: str = "t") -> list[int]:
    return sorted(e_ for e_ in (await e.query(DB, f"SELECT v FROM {table}")).column("v").to_pylist())


async def problems(e: Engine) -> list[dict]:
    return (await e.query(DB, "SELECT kind, path, detail, level FROM system.startup_problems")).to_pylist()


def kinds(e: Engine) -> list[str]:
    return e.startup_problems.kinds()


def parquet_files(data: Path) -> list[Path]:
    return sorted(p for p in (data / "parquet").rglob("*.parquet") if "_orphaned" not in p.parts)


def orphaned(data: Path) -> list[Path]:
    return sorted((data / "parquet" / "_orphaned").rglob("*.parquet"))


async def test_clean_restart_reports_nothing(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await write(e, 1, 10)
        await e.snapshot()
        await write(e, 11, 20)
    async with Engine(cfg(tmp_path)) as e:
        assert await values(e) == list(range(1, 21))
        assert kinds(e) == []
        assert await problems(e) == []


async def test_deleted_store_rebuilds_from_parquet_and_wal(tmp_path, caplog):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)
        await e.snapshot()
        await write(e, 11, 15, table="u")
        await e.snapshot()
        await write(e, 16, 20)  # only in the WAL
    files = parquet_files(c.data_dir)
    assert files
    (c.data_dir / "pe.sqlite").unlink()
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 11)) + list(range(16, 21))
        assert await values(e, "u") == list(range(11, 16))
        assert parquet_files(c.data_dir) == files  # nothing deleted, nothing moved
        k = kinds(e)
        assert "catalog_missing" in k and "catalog_rebuilt" in k and "state_lost" in k
        assert k.count("parquet_recovered") == len(files)
        assert any(p["kind"] == "catalog_rebuilt" for p in await problems(e))
        await write(e, 21, 22)
    assert "catalog rebuilt" in caplog.text
    async with Engine(c) as e:  # the rebuilt catalog is durable: a second start is quiet
        assert await values(e) == list(range(1, 11)) + list(range(16, 23))
        assert kinds(e) == []


async def test_corrupt_store_header_is_set_aside_and_rebuilt(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)
        await e.snapshot()
        await write(e, 11, 12)
    db = c.data_dir / "pe.sqlite"
    raw = bytearray(db.read_bytes())
    raw[:100] = b"\xff" * 100
    db.write_bytes(bytes(raw))
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 13))
        assert "catalog_corrupt" in kinds(e) and "catalog_rebuilt" in kinds(e)
    kept = list(c.data_dir.glob("pe.sqlite.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes()[:100] == b"\xff" * 100


async def test_stale_store_recovers_newer_files(tmp_path):
    """pe.sqlite from before the last snapshots (as when its -wal is lost): their files are
    recovered, not deleted, and nothing is served twice."""
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)
        await e.snapshot()
    old = tmp_path / "old.sqlite"
    shutil.copy(c.data_dir / "pe.sqlite", old)
    async with Engine(c) as e:
        await write(e, 11, 20)
        await e.snapshot()
        await write(e, 21, 25)
    shutil.copy(old, c.data_dir / "pe.sqlite")
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 26))
        assert kinds(e).count("parquet_recovered") >= 1
        assert "wal_gap" not in kinds(e)


async def test_unrecorded_snapshot_file_is_set_aside_not_doubled(tmp_path, monkeypatch):
    """A snapshot that wrote its file but crashed before recording it: the WAL still has the rows,
    so the file is moved to _orphaned (with an ERROR) and every row is served once."""
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)

        async def crash(*a, **kw):
            raise RuntimeError("killed before the record")
        monkeypatch.setattr(e.store, "record_snapshot", crash)
        with pytest.raises(RuntimeError):
            await e.snapshot()
        monkeypatch.undo()
        written = parquet_files(c.data_dir)
        assert written
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 11))
        assert "parquet_set_aside" in kinds(e)
        assert parquet_files(c.data_dir) == []
        assert len(orphaned(c.data_dir)) == len(written)


async def test_tmp_leftovers_removed_with_a_warning(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 3)
    tmp = c.data_dir / "parquet" / "x.parquet.tmp"
    tmp.write_bytes(b"half")
    async with Engine(c) as e:
        assert not tmp.exists()
        assert kinds(e) == ["parquet_tmp_removed"]


async def test_unreadable_recorded_file_is_reported_and_the_rest_served(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)
        await e.snapshot()
        first = set(parquet_files(c.data_dir))
        await write(e, 11, 20)
        await e.snapshot()
        second = sorted(set(parquet_files(c.data_dir)) - first)
    assert second
    second[0].write_bytes(second[0].read_bytes()[:50])  # truncated
    async with Engine(c) as e:
        got = await values(e)
        assert set(range(1, 11)) <= set(got) and len(got) < 20
        assert "parquet_unreadable" in kinds(e)
        assert second[0].exists()
    for f in first:
        f.unlink()  # a missing file
    async with Engine(c) as e:
        assert "parquet_missing" in kinds(e)
        await values(e)  # the table still answers


async def test_deleted_middle_wal_segment_is_reported(tmp_path):
    c = cfg(tmp_path, wal_segment_bytes=1)  # one record per segment
    async with Engine(c) as e:
        for i in range(1, 4):
            await write(e, i * 10, i * 10 + 4)
        segs = list(e.wal.segments)
    assert len(segs) == 3
    (c.data_dir / "wal" / segs[1]).unlink()
    async with Engine(c) as e:
        assert await values(e) == list(range(10, 15)) + list(range(30, 35))
        gaps = [p for p in await problems(e) if p["kind"] == "wal_gap"]
        assert len(gaps) == 1 and "seq 2..2" in gaps[0]["detail"]
        await write(e, 40, 41)
    async with Engine(c) as e:
        assert await values(e) == list(range(10, 15)) + list(range(30, 35)) + [40, 41]


async def test_lost_first_wal_segment_is_a_gap(tmp_path):
    c = cfg(tmp_path, wal_segment_bytes=1)
    async with Engine(c) as e:
        await write(e, 1, 2)
        await write(e, 3, 4)
        segs = list(e.wal.segments)
    (c.data_dir / "wal" / segs[0]).unlink()
    async with Engine(c) as e:
        assert await values(e) == [3, 4]
        assert "wal_gap" in kinds(e)


async def test_wal_segment_that_is_a_directory(tmp_path):
    c = cfg(tmp_path, wal_segment_bytes=1)
    async with Engine(c) as e:
        await write(e, 1, 3)
        await write(e, 4, 6)
        segs = list(e.wal.segments)
    bad = c.data_dir / "wal" / segs[1]
    bad.unlink()
    bad.mkdir()
    async with Engine(c) as e:
        assert await values(e) == [1, 2, 3]
        assert "wal_unreadable" in kinds(e)
        await write(e, 7, 8)
    async with Engine(c) as e:
        assert await values(e) == [1, 2, 3, 7, 8]
        assert bad.is_dir()


async def test_legacy_file_without_metadata_is_recovered_from_path_and_schema(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 2)
        db_id = e.catalog.databases[DB].id
    legacy = c.data_dir / "parquet" / db_id / safe_name("old") / f"{5:020d}.parquet"
    legacy.parent.mkdir(parents=True)
    t = pa.table({
        "host": pa.array(["a", "b"]).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string())),
        "v": pa.array([100, 200], pa.int64()),
        "time": pa.array([1, 2], pa.timestamp("ns")),
    })
    pq.write_table(t, legacy)
    (c.data_dir / "pe.sqlite").unlink()
    async with Engine(c) as e:
        assert await values(e, "old") == [100, 200]
        assert e.catalog.databases[DB].tables["old"].columns["host"].kind == "tag"
        assert "parquet_recovered" in kinds(e)
        assert legacy.exists()


# ----------------------------------------------------------------------------- snapshot failures
class Flaky:
    """Wraps persist.write_partitions: fails `n` times (for `table`, or any table when None)."""

    def __init__(self, real, n: int, table: str | None = None):
        self.real, self.n, self.table, self.calls, self.failed = real, n, table, 0, 0

    def __call__(self, fs, root, table_dir, meta, schema, batches):
        self.calls += 1
        if (self.table is None or meta.table == self.table) and self.failed < self.n:
            self.failed += 1
            raise OSError(28, "No space left on device (injected)")
        return self.real(fs, root, table_dir, meta, schema, batches)


async def wait_until(cond, timeout: float = 20.0) -> None:
    import asyncio
    import time
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_failing_snapshot_retries_with_backoff_without_piling_up_wal(tmp_path, monkeypatch, caplog):
    import pe_engine.storage.persist as persist

    flaky = Flaky(persist.write_partitions, 4)
    monkeypatch.setattr(persist, "write_partitions", flaky)
    c = cfg(tmp_path)
    c.snapshot_every_flushes = 1
    async with Engine(c) as e:
        e.persister.retry_first = 0.02
        segs_before = len(e.wal.segments)
        for i in range(30):  # keeps flushing (and asking for snapshots) while the snapshot fails
            await write(e, i * 10, i * 10 + 9)
        await wait_until(lambda: flaky.failed == 4 and e.persister.failures == 0 and e.stats.snapshots >= 1)
        # one rotation per cut, never one per retry
        assert len(e.wal.segments) <= segs_before + 2
        assert e.stats.snapshot_failures == 4
        assert parquet_files(c.data_dir)
        await e.snapshot()
        assert await values(e) == sorted(range(0, 300))
    errors = [r for r in caplog.records if "snapshot failed" in r.getMessage()]
    assert len(errors) == 4 and all("No space left on device" in r.getMessage() for r in errors)
    assert "attempt 1" in errors[0].getMessage() and "retrying in" in errors[0].getMessage()
    assert "never retrieved" not in caplog.text
    async with Engine(c) as e:
        assert await values(e) == sorted(range(0, 300))


async def test_one_failing_table_does_not_hold_back_the_others(tmp_path, monkeypatch):
    import pe_engine.storage.persist as persist

    flaky = Flaky(persist.write_partitions, 10**6, table="bad")
    monkeypatch.setattr(persist, "write_partitions", flaky)
    c = cfg(tmp_path)
    async with Engine(c) as e:
        e.persister.retry_first = 0.02
        await write(e, 1, 10, table="good")
        await write(e, 11, 20, table="bad")
        with pytest.raises(persist.SnapshotFailed, match="bad"):
            await e.snapshot()
        assert e.buffers.table(DB, "good").rows_in_memory == 0  # persisted
        assert e.buffers.table(DB, "bad").rows_in_memory == 10
        segs = len(e.wal.segments)
        with pytest.raises(persist.SnapshotFailed):
            await e.snapshot()  # the same cut again: no new rotation
        assert len(e.wal.segments) == segs
        assert await values(e, "good") == list(range(1, 11))
    monkeypatch.undo()
    async with Engine(c) as e:  # the good table's rows are not replayed on top of its file
        assert await values(e, "good") == list(range(1, 11))
        assert await values(e, "bad") == list(range(11, 21))
        await e.snapshot()
        assert e.buffers.table(DB, "bad").rows_in_memory == 0
    async with Engine(c) as e:
        assert await values(e, "good") == list(range(1, 11))
        assert await values(e, "bad") == list(range(11, 21))
        assert kinds(e) == []


# ----------------------------------------------------------------------------- compaction leftovers
async def _two_files(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)
        await e.snapshot()
        await write(e, 11, 20)
        await e.snapshot()
        recs = await e.store.parquet_file_records()
    assert len(recs) == 2 and recs[0].partition == recs[1].partition
    return c, recs


def _merge(c, recs):
    from pe_engine.storage.parquet_meta import read_file_meta
    from pe_engine.storage.partitions import file_path, write_file
    import dataclasses
    import pyarrow.fs as pafs

    fs = pafs.LocalFileSystem()
    metas = [read_file_meta(fs, r.path) for r in recs]
    table = pa.concat_tables([pq.read_table(r.path) for r in recs])
    meta = dataclasses.replace(metas[0], min_seq=metas[0].min_seq, max_seq=metas[1].max_seq, rows=table.num_rows,
                               max_time=metas[1].max_time)
    root, _, rest = recs[0].path.partition("/parquet/")
    db_id, table_dir = rest.split("/")[:2]
    path = file_path(root + "/parquet", db_id, table_dir, meta.partition, meta.min_seq, meta.max_seq)
    return write_file(fs, path, table, meta)


async def test_compaction_output_never_swapped_in_is_set_aside(tmp_path):
    c, recs = await _two_files(tmp_path)
    out = _merge(c, recs)
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 21))
        assert kinds(e) == ["parquet_set_aside"]
    assert not Path(out.path).exists() and len(orphaned(c.data_dir)) == 1


async def test_compaction_inputs_left_after_the_swap_are_set_aside(tmp_path):
    c, recs = await _two_files(tmp_path)
    async with Engine(c) as e:  # the swap is recorded, then the kill lands before the inputs go
        out = _merge(c, recs)
        await e.store.replace_files([r.path for r in recs], [out])
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 21))
        assert kinds(e) == ["parquet_set_aside", "parquet_set_aside"]
    assert parquet_files(c.data_dir) == [Path(out.path)]


async def test_store_failing_integrity_check_is_set_aside_and_rebuilt(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 10)
        await e.snapshot()
        await write(e, 11, 12)
    db = c.data_dir / "pe.sqlite"
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big") or 65536
    assert len(raw) >= 3 * page
    raw[page:len(raw)] = b"\x5a" * (len(raw) - page)  # header intact, every other page garbage
    db.write_bytes(bytes(raw))
    async with Engine(c) as e:
        assert await values(e) == list(range(1, 13))
        assert {"catalog_corrupt", "catalog_rebuilt"} <= set(kinds(e))
    assert list(c.data_dir.glob("pe.sqlite.corrupt-*"))


async def test_file_of_a_deleted_table_is_not_resurrected(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await write(e, 1, 5, table="gone")
        await write(e, 6, 7)
        await e.snapshot()
        files = [p for p in parquet_files(c.data_dir) if "gone" in str(p)]
        saved = [(p, p.read_bytes()) for p in files]
        await e.delete_table(DB, "gone")
    for p, data in saved:  # a kill between the tombstone and removing the directory
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    async with Engine(c) as e:
        assert "gone" not in e.catalog.databases[DB].tables
        assert kinds(e) == ["parquet_set_aside"] * len(saved)
        assert await values(e) == [6, 7]


# ----------------------------------------------------------------------------- the WAL's own report
def _wal_with(tmp_path: Path, n: int, per_segment: int):
    from pe_engine.storage.wal import Wal, WalEntry, WalRecord

    w = Wal(tmp_path / "wal", segment_bytes=10**9)
    w.open_for_append()
    for seq in range(1, n + 1):
        b = pa.record_batch({"v": pa.array([seq], pa.int64())})
        w.append(WalRecord(seq, [WalEntry("id", "db", "t", b)]))
        if seq % per_segment == 0:
            w.rotate()
    w.close()
    return sorted((tmp_path / "wal").glob("*.wal"))


def _replay(tmp_path: Path):
    from pe_engine.storage.wal import Wal

    w = Wal(tmp_path / "wal")
    seqs = [r.seq for r in w.replay()]
    w.open_for_append()
    w.close()
    return seqs, w.report


def test_garbage_inside_an_old_segment_is_a_gap_and_the_rest_replays(tmp_path):
    segs = _wal_with(tmp_path, 6, 3)  # 1..3 | 4..6
    raw = bytearray(segs[0].read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 16] = b"\xff" * 16
    segs[0].write_bytes(bytes(raw))
    seqs, rep = _replay(tmp_path)
    assert seqs[-3:] == [4, 5, 6] and 1 in seqs and len(seqs) < 6
    assert rep.gaps and rep.gaps[0][1] == 3 and rep.gaps[0][2] == segs[1].name
    assert not rep.covers(1, 6) and rep.covers(4, 6)


def test_unreadable_segment_is_reported_and_new_segments_sort_after_it(tmp_path):
    segs = _wal_with(tmp_path, 4, 2)  # 1..2 | 3..4
    segs[1].unlink()
    segs[1].mkdir()
    seqs, rep = _replay(tmp_path)
    assert seqs == [1, 2]
    assert [n for n, _ in rep.unreadable] == [segs[1].name]
    from pe_engine.storage.wal import Wal, WalEntry, WalRecord

    w = Wal(tmp_path / "wal")
    list(w.replay())
    w.open_for_append()
    w.append(WalRecord(5, [WalEntry("id", "db", "t", pa.record_batch({"v": pa.array([5], pa.int64())}))]))
    w.close()
    assert max(p.name for p in (tmp_path / "wal").glob("*.wal") if p.is_file()) > segs[1].name
    seqs, rep = _replay(tmp_path)
    assert seqs == [1, 2, 5] and rep.gaps == [(3, 4, w.segments[-1])]


async def test_concurrent_snapshots_write_a_cut_once(tmp_path):
    import asyncio

    async with Engine(cfg(tmp_path)) as e:
        await write(e, 1, 10)
        await asyncio.gather(e.snapshot(), e.snapshot(), e.snapshot())
        recs = await e.store.parquet_file_records()
        assert len(recs) == 1 and recs[0].rows == 10
        assert len(parquet_files(e.config.data_dir)) == 1
