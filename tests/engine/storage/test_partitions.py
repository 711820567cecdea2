"""Parquet per table and UTC day: file layout and metadata, pruning by time, a missing file."""
from __future__ import annotations

import os
import re
import time

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.errors import QueryError
from pe_engine.storage.parquet_meta import read_file_meta
from pe_engine.storage.partitions import DAY_NS, partition_bounds, partition_of

HOUR = 3600 * 10**9


def cfg(tmp_path, **kw):
    kw.setdefault("wal_flush_interval", 0.005)
    return EngineConfig(data_dir=tmp_path / "data", **kw)


def fragments(plan: str) -> list[int]:
    return [int(n) for n in re.findall(r"number_of_fragments=(\d+)", plan)]


async def explain(e, sql: str) -> str:
    t = await e.query("d", "EXPLAIN " + sql)
    return "\n".join(t.column(1).to_pylist())


def test_partition_names():
    assert partition_of(0) == "1970-01-01"
    assert partition_of(DAY_NS - 1) == "1970-01-01"
    assert partition_of(-1) == "1969-12-31"
    assert partition_bounds("1970-01-02") == (DAY_NS, 2 * DAY_NS - 1)


async def test_a_snapshot_writes_one_sorted_file_per_day_with_its_metadata(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        lines = [f"cpu,host=h{i % 3} v={i} {i * 8 * HOUR}" for i in range(9)]  # 3 days
        await e.write_lp("d", "\n".join(reversed(lines)))
        await e.snapshot()
        files = e.buffers.table("d", "cpu").files
        assert sorted(f.partition for f in files) == ["1970-01-01", "1970-01-02", "1970-01-03"]
        fs = pafs.LocalFileSystem()
        for f in files:
            meta = read_file_meta(fs, f.path)
            assert meta is not None
            assert (meta.db_name, meta.table, meta.partition, meta.rows) == ("d", "cpu", f.partition, 3)
            assert (meta.min_time, meta.max_time) == (f.min_time, f.max_time)
            assert {(c.name, c.kind, c.field_type) for c in meta.columns} == {
                ("host", "tag", None), ("v", "field", "FLOAT"), ("time", "time", None)}
            assert meta.table_def().arrow_schema == e.catalog.databases["d"].tables["cpu"].arrow_schema
            assert f"/{f.partition}/" in f.path
            hosts = pq.read_table(f.path).column("host").to_pylist()
            assert hosts == sorted(hosts)
        db_id = e.catalog.databases["d"].id
        recorded = await e.store.parquet_file_records()
        assert {(r.db_id, r.partition, r.rows) for r in recorded} == {(db_id, f.partition, 3) for f in files}
        assert all(r.bytes > 0 and r.min_seq <= r.max_seq for r in recorded)


@pytest.mark.parametrize("cache", [0, 256 << 20], ids=["streamed", "cached"])
async def test_last_hour_query_over_30_days_opens_one_file(tmp_path, cache):
    now = time.time_ns()
    async with Engine(cfg(tmp_path, parquet_mem_cache_size=cache)) as e:
        for day in range(30, 0, -1):  # one snapshot per day of history, oldest first
            t0 = now - day * DAY_NS
            body = "\n".join(f"cpu,host=h{h} v={h} {t0 + h * HOUR}" for h in range(24))
            await e.write_lp("d", body)
            await e.snapshot()
        await e.write_lp("d", f"cpu,host=h0 v=1 {now - 60 * 10**9}")
        await e.snapshot()
        files = e.buffers.table("d", "cpu").files
        assert len({f.partition for f in files}) >= 30
        sql = "SELECT count(*) FROM cpu WHERE time > now() - interval '1 hour'"
        n = fragments(await explain(e, sql))
        assert n and sum(n) <= 2, n
        assert sum(fragments(await explain(e, "SELECT count(*) FROM cpu"))) >= 28
        # a file no time predicate needs can vanish without breaking last-hour queries
        old = min(files, key=lambda f: f.min_time)
        os.remove(old.path)
        got = await e.query("d", sql.replace("count(*)", "count(*) AS n"))
        assert got.column("n").to_pylist()[0] >= 1
        with pytest.raises(QueryError, match=re.escape(os.path.basename(old.path))):
            await e.query("d", "SELECT count(*) FROM cpu")


async def test_missing_file_fails_only_queries_that_need_it(tmp_path):
    async with Engine(cfg(tmp_path, parquet_mem_cache_size=0)) as e:
        await e.write_lp("d", f"cpu,host=a v=1 {HOUR}")
        await e.write_lp("d", "mem,host=a v=1 1")
        await e.snapshot()
        await e.write_lp("d", f"cpu,host=a v=2 {5 * DAY_NS}")
        await e.snapshot()
        first = min(e.buffers.table("d", "cpu").files, key=lambda f: f.min_time)
        os.remove(first.path)
        assert (await e.query("d", "SELECT count(*) AS n FROM mem")).to_pylist() == [{"n": 1}]
        t = await e.query("d", f"SELECT v FROM cpu WHERE time >= arrow_cast({4 * DAY_NS}, 'Timestamp(Nanosecond, None)')")
        assert t.column("v").to_pylist() == [2.0]
        with pytest.raises(QueryError, match=re.escape(first.path)):
            await e.query("d", "SELECT * FROM cpu")


async def test_a_data_dir_from_before_partitioning_still_loads(tmp_path):
    """Files recorded without partition or time range (and possibly with repeated points)."""
    import sqlite3

    import pyarrow as pa

    c = cfg(tmp_path)
    async with Engine(c) as e:
        await e.write_lp("d", f"cpu,host=a v=1 {HOUR}\ncpu,host=b v=2 {2 * HOUR}")
        await e.snapshot()
        f = e.buffers.table("d", "cpu").files[0]
    # rewrite it the old way: no pe metadata, a repeated point, unsorted
    t = pq.read_table(f.path).replace_schema_metadata(None)
    pq.write_table(pa.concat_tables([t, t.slice(0, 1)]), f.path)
    con = sqlite3.connect(tmp_path / "data" / "pe.sqlite")
    con.execute("UPDATE parquet_files SET partition=NULL, min_time=NULL, max_time=NULL, rows=3")
    con.commit()
    con.close()
    async with Engine(c) as e:
        assert (await e.query("d", "SELECT count(*) AS n FROM cpu")).to_pylist() == [{"n": 2}]
        [rec] = await e.store.parquet_file_records()
        assert (rec.min_time, rec.max_time, rec.partition) == (HOUR, 2 * HOUR, None)
        sql = f"SELECT count(*) AS n FROM cpu WHERE time > arrow_cast({3 * HOUR}, 'Timestamp(Nanosecond, None)')"
        assert (await e.query("d", sql)).to_pylist() == [{"n": 0}]
