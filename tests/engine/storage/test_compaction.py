"""Compaction: a partition's files merged into one, deduplicated and sorted, crash-safe order,
queries planned before the swap still answer, failures retried and logged once; files that
overlap in time merged at two; idle ticks settle the newest day without more writes."""
from __future__ import annotations

import os

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.storage.parquet_meta import read_file_meta

HOUR = 3600 * 10**9


def cfg(tmp_path, **kw):
    kw.setdefault("wal_flush_interval", 0.005)
    kw.setdefault("compaction_min_files", 3)
    return EngineConfig(data_dir=tmp_path / "data", **kw)


async def snapshots(e, n, base=0):
    for i in range(n):
        await e.write_lp("d", f"cpu,host=h{i % 2} v={i},w={base + i}i {HOUR}\ncpu,host=z v={i} {HOUR + i}")
        await e.snapshot()


async def held(e, n, base=0):
    """`snapshots` with compaction not kicked (these files overlap, so it would merge at two)."""
    hook, e.persister.after_snapshot = e.persister.after_snapshot, None
    try:
        await snapshots(e, n, base)
    finally:
        e.persister.after_snapshot = hook


async def test_three_files_of_a_day_become_one_deduplicated_sorted_file(tmp_path):
    async with Engine(cfg(tmp_path, query_timeout=0.0)) as e:
        await held(e, 3)
        e.compactor.kick()
        await e.compactor.wait()
        files = e.buffers.table("d", "cpu").files
        assert len(files) == 1 and e.compactor.merged == 1
        f = files[0]
        meta = read_file_meta(pafs.LocalFileSystem(), f.path)
        assert meta is not None and meta.merged_files == 3
        assert (meta.min_seq, meta.max_seq) == (f.min_seq, f.max_seq)
        assert f.rows == 2 + 3  # h0 and h1 at one time; z at three times
        t = pq.read_table(f.path)
        assert t.column("host").to_pylist() == ["h0", "h1", "z", "z", "z"]
        assert t.column("v").to_pylist()[:2] == [2.0, 1.0]  # the later write of h0 wins
        recorded = await e.store.parquet_file_records()
        assert [r.path for r in recorded] == [f.path]
        parquet_on_disk = [p for p in (tmp_path / "data" / "parquet").rglob("*.parquet")]
        assert parquet_on_disk == [type(parquet_on_disk[0])(f.path)]  # no grace: old files gone
        got = await e.query("d", "SELECT host, v, w FROM cpu WHERE host <> 'z' ORDER BY host")
        assert got.to_pylist() == [{"host": "h0", "v": 2.0, "w": 2}, {"host": "h1", "v": 1.0, "w": 1}]
    async with Engine(cfg(tmp_path)) as e:  # and after a restart
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 5}]


async def test_old_files_stay_while_a_query_planned_before_the_swap_reads_them(tmp_path):
    async with Engine(cfg(tmp_path, query_timeout=3600.0)) as e:
        await held(e, 2)
        old = [f.path for f in e.buffers.table("d", "cpu").files]
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 4}]
        running = object()  # a query still reading what it planned before the swap
        e.query_engine._running[running] = [tuple(old)]
        await snapshots(e, 1, base=10)
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 1
        assert all(os.path.exists(p) for p in old)
        e.query_engine._running.pop(running)
        e.compactor.delete_due()
        assert not any(os.path.exists(p) for p in old)
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 4}]
        got = await e.query("d", "SELECT w FROM cpu WHERE host = 'h0'")
        assert got.to_pylist() == [{"w": 10}]  # the third snapshot's write of h0 wins
        assert e.query_engine.files_in_use() == set()  # nothing pinned once queries end


async def test_a_failing_compaction_is_logged_once_and_keeps_the_files(tmp_path, monkeypatch):
    async with Engine(cfg(tmp_path)) as e:
        logged = []
        e.compactor._report = lambda level, msg: logged.append((level, msg))

        def boom(*a, **k):
            raise OSError("disk on fire")

        monkeypatch.setattr("pe_engine.storage.compaction.merge_files", boom)
        await snapshots(e, 3)
        await e.compactor.wait()
        e.compactor._not_before = 0.0
        e.compactor.kick()
        await e.compactor.wait()
        assert [lvl for lvl, _ in logged] == ["ERROR"] and "disk on fire" in logged[0][1]
        assert len(e.buffers.table("d", "cpu").files) == 3
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 5}]
        monkeypatch.undo()
        e.compactor._not_before = 0.0
        e.compactor.kick()
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 1


async def test_an_unrecorded_compacted_file_is_recognisable_as_superseding(tmp_path):
    """Crash between 'new file durable' and the store transaction: the file's seq range covers
    the recorded ones of its partition (what start-up recovery checks)."""
    async with Engine(cfg(tmp_path, compaction_min_files=100)) as e:
        await held(e, 3)
        files = list(e.buffers.table("d", "cpu").files)
        db = e.catalog.databases["d"]
        from pe_engine.storage.compaction import merge_files
        from pe_engine.storage.parquet_meta import FileMeta
        from pe_engine.storage.persist import safe_name

        tdef = db.tables["cpu"]
        meta = FileMeta(db.name, db.id, "cpu", "", 0, 0, 0, 0, 0, FileMeta.columns_of(tdef))
        new = merge_files(e.persister.fs, str(tmp_path / "data" / "parquet"), safe_name("cpu"), meta,
                          tdef.arrow_schema, files)
        fs = pafs.LocalFileSystem()
        m_new = read_file_meta(fs, new.path)
        assert m_new is not None
        for f in files:
            m_old = read_file_meta(fs, f.path)
            assert m_old is not None and m_new.supersedes(m_old)


async def test_files_that_overlap_in_time_are_merged_at_two_regardless_of_min_files(tmp_path):
    async with Engine(cfg(tmp_path, compaction_min_files=100, compaction_idle_interval=0)) as e:
        await snapshots(e, 2)  # both files hold HOUR: they overlap
        await e.compactor.wait()
        files = e.buffers.table("d", "cpu").files
        assert len(files) == 1 and e.compactor.merged == 1
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 4}]


async def test_files_of_the_newest_day_that_do_not_overlap_wait_for_min_files(tmp_path):
    async with Engine(cfg(tmp_path, compaction_min_files=100, compaction_idle_interval=0)) as e:
        for i in range(3):
            await e.write_lp("d", f"cpu,host=a v={i} {HOUR + i}")
            await e.snapshot()
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 3 and e.compactor.merged == 0


async def test_idle_ticks_bring_every_day_to_one_file_without_more_writes(tmp_path):
    """Driven by `tick` (the timer is off): the first tick after writes is a plain pass (the
    newest day, not overlapping, keeps its files below min_files); a tick with no write and no
    snapshot since the previous one settles it."""
    day = 24 * HOUR
    async with Engine(cfg(tmp_path, compaction_min_files=100, compaction_idle_interval=0)) as e:
        for d in range(3):
            for i in range(3):
                await e.write_lp("d", f"cpu,host=a v={i} {d * day + HOUR + i}")
                await e.snapshot()
        await e.compactor.wait()
        # the older days had two or more files: merged after the snapshots; the newest waits
        by_day: dict = {}
        for f in e.buffers.table("d", "cpu").files:
            by_day[f.partition] = by_day.get(f.partition, 0) + 1
        assert by_day == {"1970-01-01": 1, "1970-01-02": 1, "1970-01-03": 3}
        e.compactor.tick()  # snapshots since the last tick: not idle yet
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 5
        e.compactor.tick()  # nothing written since: idle, the newest day settles
        await e.compactor.wait()
        files = e.buffers.table("d", "cpu").files
        assert sorted(f.partition for f in files) == ["1970-01-01", "1970-01-02", "1970-01-03"]
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 9}]
        recorded = await e.store.parquet_file_records()
        assert sorted(r.path for r in recorded) == sorted(f.path for f in files)
        e.compactor.tick()  # settled: nothing more to do
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 3
        # a write in between: that tick is not idle, the newest day waits for min_files again
        await e.write_lp("d", f"cpu,host=a v=9 {2 * day + HOUR + 9}")
        await e.snapshot()
        e.compactor.tick()
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 4
        e.compactor.tick()
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 3


async def test_the_engine_timer_settles_the_newest_day(tmp_path):
    """The engine's own timer (a short interval): wait on the condition, no timing assert."""
    import asyncio

    async with Engine(cfg(tmp_path, compaction_min_files=100, compaction_idle_interval=0.01)) as e:
        for i in range(3):
            await e.write_lp("d", f"cpu,host=a v={i} {HOUR + i}")
            await e.snapshot()
        for _ in range(2000):
            if len(e.buffers.table("d", "cpu").files) == 1:
                break
            await asyncio.sleep(0.005)
        await e.compactor.wait()
        assert len(e.buffers.table("d", "cpu").files) == 1
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 3}]
