"""Retention: the period's grammar, the cutoff, and rows past it hidden from every query."""
import time

import pytest

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.storage.catalog import DatabaseDef
from pe_engine.storage.retention import (
    RetentionError,
    cutoff_ns,
    format_retention_period,
    is_expired,
    parse_retention_period,
)

DAY = 86_400 * 10**9
HOUR = 3600 * 10**9


@pytest.mark.parametrize("text, ns", [
    ("30d", 30 * DAY), ("24h", 24 * HOUR), ("1h", HOUR), ("2w", 14 * DAY), ("0d", 0),
    ("1h 30m", HOUR + 30 * 60 * 10**9), ("3mo", 3 * 2_630_016 * 10**9), ("1M", 2_630_016 * 10**9),
    ("1y", 31_557_600 * 10**9),
])
def test_parse_durations(text, ns):
    assert parse_retention_period(text) == ns


@pytest.mark.parametrize("value", [None, "", "none", "infinite", "  "])
def test_no_expiry(value):
    assert parse_retention_period(value) is None


@pytest.mark.parametrize("value", ["-1d", "30", "abc", "1.5d", "30 parsecs", 30, ["1d"]])
def test_bad_values_are_400_with_the_value(value):
    with pytest.raises(RetentionError) as e:
        parse_retention_period(value)
    assert e.value.status == 400
    assert "retention_period" in e.value.message


def test_cutoff_and_expiry():
    db = DatabaseDef("d", retention_period_ns=DAY)
    assert cutoff_ns(db, 10 * DAY) == 9 * DAY
    assert cutoff_ns(DatabaseDef("forever"), 10 * DAY) is None
    assert is_expired(9 * DAY - 1, 9 * DAY) and not is_expired(9 * DAY, 9 * DAY)
    assert not is_expired(0, None)
    assert format_retention_period(30 * DAY) == "30days" and format_retention_period(None) is None


def cfg(tmp_path):
    return EngineConfig(data_dir=tmp_path / "data", wal_flush_interval=0.005)


def lines(now):
    return (
        f"cpu,host=old v=1 {now - 3 * DAY}\n"
        f"cpu,host=edge v=2 {now - 2 * HOUR}\n"
        f"cpu,host=new v=3 {now - 60 * 10**9}\n"
    )


async def hosts(e, db):
    t = await e.query(db, "SELECT host FROM cpu")
    return sorted(t.column("host").to_pylist())


async def test_rows_past_retention_never_shown_buffer_parquet_restart(tmp_path):
    now = time.time_ns()
    async with Engine(cfg(tmp_path)) as e:
        await e.create_database("r", "1d")
        await e.create_database("keep")
        await e.write_lp("r", lines(now))
        await e.write_lp("keep", lines(now))
        assert await hosts(e, "r") == ["edge", "new"]
        assert await hosts(e, "keep") == ["edge", "new", "old"]
        t = await e.query("r", "SELECT count(*) AS n FROM cpu WHERE host = 'old'")
        assert t.column("n").to_pylist() == [0]
        t = await e.query("r", "SELECT count(*) AS n, sum(v) AS s FROM cpu")
        assert t.to_pylist() == [{"n": 2, "s": 5.0}]
        await e.snapshot()  # the old row is now in Parquet: still hidden
        assert await hosts(e, "r") == ["edge", "new"]
        assert e.catalog.databases["r"].retention_period_ns == DAY
    async with Engine(cfg(tmp_path)) as e:  # retention is in the catalog; WAL + Parquet reloaded
        assert e.catalog.databases["r"].retention_period_ns == DAY
        assert e.catalog.databases["keep"].retention_period_ns is None
        assert await hosts(e, "r") == ["edge", "new"]
        await e.write_lp("r", f"cpu,host=old2 v=9 {now - 5 * DAY}\n")
        assert await hosts(e, "r") == ["edge", "new"]


async def test_short_retention_cutoff_moves_with_the_clock(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.create_database("r", "2s")
        now = time.time_ns()
        await e.write_lp("r", f"cpu,host=a v=1 {now}\n")
        assert await hosts(e, "r") == ["a"]
        deadline = time.monotonic() + 10
        while await hosts(e, "r") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert await hosts(e, "r") == []  # same registered table: the cutoff is now() at each query


async def test_bad_retention_creates_nothing(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        with pytest.raises(RetentionError):
            await e.create_database("bad", "forever and a day")
        assert "bad" not in e.list_databases()


async def test_system_databases_in_internal(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.create_database("r", "30d")
        await e.create_database("keep")
        t = await e.query("_internal", "SELECT database_name, retention_period_ns, deleted FROM system.databases "
                                       "ORDER BY database_name")
        assert t.to_pylist() == [
            {"database_name": "keep", "retention_period_ns": None, "deleted": False},
            {"database_name": "r", "retention_period_ns": 30 * DAY, "deleted": False},
        ]


# ------------------------------------------------------------------ enforcement: snapshots and files
def parquet_files(tmp_path, e, db):
    return sorted((tmp_path / "data" / "parquet" / e.catalog.databases[db].id).rglob("*.parquet"))


async def test_snapshot_does_not_persist_expired_rows(tmp_path):
    now = time.time_ns()
    async with Engine(cfg(tmp_path)) as e:
        await e.create_database("r", "1d")
        await e.write_lp("r", lines(now))
        await e.snapshot()
        td = e.buffers.dbs["r"]["cpu"]
        assert td.rows_in_memory == 0 and td.rows_in_parquet == 2  # the 3-day-old row was dropped
        assert all(f.min_time >= now - DAY for f in td.files)
        assert await hosts(e, "r") == ["edge", "new"]
        await e.write_lp("r", f"cpu,host=gone v=1 {now - 5 * DAY}\n")  # a batch wholly past retention
        await e.snapshot()
        assert e.buffers.dbs["r"]["cpu"].rows_in_memory == 0
        assert await hosts(e, "r") == ["edge", "new"]


async def test_sweeper_removes_whole_expired_files_store_buffers_disk(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.create_database("r", "2s")
        await e.create_database("keep")
        now = time.time_ns()
        await e.write_lp("r", f"cpu,host=a v=1 {now}\n")
        await e.write_lp("keep", f"cpu,host=a v=1 {now - 10 * DAY}\n")
        await e.snapshot()
        assert len(parquet_files(tmp_path, e, "r")) == 1
        assert await e.retention.sweep() == 0  # not expired yet
        deadline = time.monotonic() + 10
        while not e.retention.expired() and time.monotonic() < deadline:
            time.sleep(0.1)
        expired = [f.path for f in e.buffers.dbs["r"]["cpu"].files]
        running = object()  # a query still reading what it planned before the sweep
        e.query_engine._running[running] = [tuple(expired)]
        assert await e.retention.sweep() == 1
        assert e.buffers.dbs["r"]["cpu"].files == ()
        assert [f for f in await e.store.parquet_file_records() if f.db_id == e.catalog.databases["r"].id] == []
        assert len(parquet_files(tmp_path, e, "r")) == 1  # still on disk for queries already planned
        e.retention.delete_due()
        assert len(parquet_files(tmp_path, e, "r")) == 1  # that query still runs
        del e.query_engine._running[running]
        e.retention.delete_due()
        assert parquet_files(tmp_path, e, "r") == []  # deleted once no query reads it
        assert len(parquet_files(tmp_path, e, "keep")) == 1  # no retention: never swept
        assert await hosts(e, "keep") == ["a"]
    async with Engine(cfg(tmp_path)) as e:  # the removal was durable
        assert "cpu" not in e.buffers.dbs.get("r", {}) or e.buffers.dbs["r"]["cpu"].files == ()
        assert await hosts(e, "keep") == ["a"]
