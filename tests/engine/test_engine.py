"""The engine in-process: write path, durability across restarts, snapshots, deletes."""
import asyncio
import os

import pyarrow as pa
import pytest

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.errors import BadRequest, DatabaseNotFound, InvalidName
from pe_engine.events import SnapshotDone, WalFlushed
from pe_engine.storage.flush import FlushCallback


def cfg(tmp_path, **kw):
    kw.setdefault("wal_flush_interval", 0.005)
    return EngineConfig(data_dir=tmp_path / "data", **kw)


async def count(engine, db, table="cpu"):
    t = await engine.query(db, f'SELECT count(*) AS n FROM "{table}"')
    return t.column("n")[0].as_py()


async def test_write_then_query(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        r = await e.write_lp("db1", "cpu,host=a usage=1.5,n=3i 1000\ncpu,host=b usage=2.5 2000\n")
        assert r.lines_written == 2 and not r.errors
        t = await e.query("db1", "SELECT host, usage, n, time FROM cpu ORDER BY time")
        assert t.column("host").to_pylist() == ["a", "b"]
        assert t.column("usage").to_pylist() == [1.5, 2.5]
        assert t.column("n").to_pylist() == [3, None]
        assert t.schema.field("time").type == pa.timestamp("ns")
        assert e.list_databases() == ["db1"]


async def test_partial_write_keeps_good_lines_and_reports_bad(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m v=1.0 1")
        r = await e.write_lp("d", "m v=2.0 2\nm v=\"str\" 3\nbad line\nm v=4.0 4")
        assert r.lines_written == 2
        assert [x.line_number for x in r.errors] == [2, 3]
        assert r.errors[0].original_line == 'm v="str" 3'
        assert "iox::column_type::field::float" in r.errors[0].message
        assert await count(e, "d", "m") == 3


async def test_accept_partial_false_writes_nothing(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        r = await e.write_lp("d", "m v=1 1\nnot valid", accept_partial=False)
        assert r.rejected_all and r.lines_written == 0
        assert "d" not in e.list_databases()  # an all-rejected body creates nothing


async def test_bad_inputs_raise_clear_errors(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        with pytest.raises(InvalidName):
            await e.write_lp("bad name", "m v=1")
        with pytest.raises(BadRequest):
            await e.write_lp("d", "m v=1", precision="fortnight")
        with pytest.raises(DatabaseNotFound):
            await e.query("nope", "SELECT 1")


async def test_precision_scales_timestamps(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m v=1 5", precision="s")
        t = await e.query("d", "SELECT CAST(time AS BIGINT) AS t FROM m")
        assert t.column("t").to_pylist() == [5_000_000_000]


async def test_schema_grows_and_old_rows_read_null(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m,a=x v=1 1")
        await e.write_lp("d", "m,a=y,b=z v=2,w=true 2")
        t = await e.query("d", "SELECT a, b, v, w FROM m ORDER BY time")
        assert t.to_pylist() == [
            {"a": "x", "b": None, "v": 1.0, "w": None},
            {"a": "y", "b": "z", "v": 2.0, "w": True},
        ]


async def test_restart_replays_wal(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        for i in range(20):
            await e.write_lp("d", f"cpu,host=h{i % 3} v={i} {i}")
    async with Engine(c) as e:
        assert await count(e, "d") == 20
        assert e.replay_report.records >= 1
        # and it accepts new writes after replay
        await e.write_lp("d", "cpu,host=h v=99 100")
        assert await count(e, "d") == 21
    async with Engine(c) as e:
        assert await count(e, "d") == 21


async def test_no_sync_is_flushed_on_stop(tmp_path):
    c = cfg(tmp_path, wal_flush_interval=60)
    async with Engine(c) as e:
        await e.write_lp("d", "m v=1 1", no_sync=True)
    async with Engine(c) as e:
        assert await count(e, "d", "m") == 1


async def test_snapshot_to_parquet_then_restart(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        sub = e.bus.subscribe()
        for i in range(10):
            await e.write_lp("d", f"cpu,host=h{i % 2} v={i} {i}")
        rows = await e.snapshot()
        assert rows == 10
        assert any(isinstance(ev, SnapshotDone) for ev in sub.drain())
        assert e.buffers.table("d", "cpu").rows_in_parquet == 10
        await e.write_lp("d", "cpu,host=h9,extra=x v=100,new=1i 100")
        assert await count(e, "d") == 11
        wal_files = os.listdir(tmp_path / "data" / "wal")
    async with Engine(c) as e:
        assert await count(e, "d") == 11
        t = await e.query("d", "SELECT sum(v) AS s, count(new) AS n FROM cpu")
        assert t.to_pylist() == [{"s": 145.0, "n": 1}]
    assert len(wal_files) >= 1


async def test_unreadable_unknown_parquet_is_set_aside_never_deleted(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await e.write_lp("d", "m v=1 1")
    orphan = tmp_path / "data" / "parquet" / "x" / "m" / "00000000000000000009.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"junk")
    async with Engine(c) as e:
        assert await count(e, "d", "m") == 1
        assert e.startup_problems.kinds() == ["parquet_set_aside"]
    assert not orphan.exists()
    kept = tmp_path / "data" / "parquet" / "_orphaned" / "x" / "m" / "00000000000000000009.parquet"
    assert kept.read_bytes() == b"junk"


async def test_delete_database_survives_restart_and_name_can_be_reused(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await e.write_lp("d", "m v=1 1")
        await e.write_lp("keep", "m v=1 1")
        await e.delete_database("d")
        assert e.list_databases() == ["keep"]
    async with Engine(c) as e:
        assert e.list_databases() == ["keep"]
        await e.write_lp("d", "m v=2 2")
        t = await e.query("d", "SELECT v FROM m")
        assert t.column("v").to_pylist() == [2.0]
    async with Engine(c) as e:
        t = await e.query("d", "SELECT v FROM m")
        assert t.column("v").to_pylist() == [2.0]


async def test_concurrent_writers_share_one_flush(tmp_path):
    async with Engine(cfg(tmp_path, wal_flush_interval=0.05)) as e:
        sub = e.bus.subscribe()
        await asyncio.gather(*(e.write_lp("d", f"m,w={i} v={i} {i}") for i in range(50)))
        flushes = [ev for ev in sub.drain() if isinstance(ev, WalFlushed)]
        assert sum(f.rows for f in flushes) == 50
        assert len(flushes) < 50
        assert await count(e, "d", "m") == 50


async def test_flush_listener_gets_batches_per_database(tmp_path):
    got = []
    async with Engine(cfg(tmp_path)) as e:
        e.subscribe(FlushCallback(got.extend))
        await asyncio.gather(e.write_lp("a", "m v=1 1\nn v=2 2"), e.write_lp("b", "m v=3 3"))
    by_db = {}
    for fw in got:
        for t, b in fw.tables.items():
            by_db.setdefault(fw.database, {})[t] = by_db.get(fw.database, {}).get(t, 0) + b.num_rows
    assert by_db == {"a": {"m": 1, "n": 1}, "b": {"m": 1}}


async def test_wal_write_failure_fails_the_writers_not_the_engine(tmp_path, monkeypatch):
    async with Engine(cfg(tmp_path)) as e:
        real = e.wal.append

        def broken(*a, **k):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(e.wal, "append", broken)
        from pe_engine.errors import StorageError

        with pytest.raises(StorageError):
            await e.write_lp("d", "m v=1 1")
        monkeypatch.setattr(e.wal, "append", real)
        await e.write_lp("d", "m v=2 2")
        t = await e.query("d", "SELECT v FROM m")
        assert t.column("v").to_pylist() == [2.0]


async def test_catalog_conflict_in_the_first_line_rejects_only_that_line(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m v=1.0 1")  # v is a float
        r = await e.write_lp("d", 'm v="text" 2\nm v=2.5 3\nm v=3i 4\nm v=4.5,w=1i 5')
        assert [x.line_number for x in r.errors] == [1, 3]
        assert "expected iox::column_type::field::float" in r.errors[0].message
        assert r.errors[0].original_line == 'm v="text" 2'
        t = await e.query("d", "SELECT v, w FROM m ORDER BY time")
        assert t.to_pylist() == [
            {"v": 1.0, "w": None},
            {"v": 2.5, "w": None},
            {"v": 4.5, "w": 1},
        ]


async def test_auto_precision_guesses_each_timestamp_unit(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        body = "m v=1 1700000000\nm v=2 1700000000001\nm v=3 1700000000000002\nm v=4 1700000000000000003"
        await e.write_lp("d", body, precision="auto")
        t = await e.query("d", "SELECT CAST(time AS BIGINT) AS t FROM m ORDER BY v")
        assert t.column("t").to_pylist() == [
            1700000000_000000000, 1700000000_001000000, 1700000000_000002000, 1700000000_000000003,
        ]
