"""Tables made up front and deleted with their data (POST/DELETE /api/v3/configure/table)."""
import pytest

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.errors import AlreadyExists, DatabaseNotFound, InvalidName, LimitExceeded, TableNotFound
from pe_engine.lineprotocol.types import FieldType
from pe_engine.storage.catalog import Catalog


def cfg(tmp_path, **kw):
    return EngineConfig(data_dir=tmp_path / "data", wal_flush_interval=0.005, **kw)


async def rows(e, db, sql="SELECT * FROM cpu"):
    return (await e.query(db, sql)).to_pylist()


# ------------------------------------------------------------------ catalog rules
def test_create_table_schema_in_influx_order():
    c = Catalog()
    db = c.create_db("d")
    v = c.version
    t = c.create_table(db, "cpu", ["host", "region"], [("usage", "float64"), ("n", "int64"), ("u", "uint64"),
                                                       ("s", "utf8"), ("ok", "bool")])
    assert c.version > v
    assert t.arrow_schema.names == ["host", "region", "usage", "n", "u", "s", "ok", "time"]
    assert [t.columns[n].field_type for n in ("usage", "n", "u", "s", "ok")] == [
        FieldType.FLOAT, FieldType.INT, FieldType.UINT, FieldType.STRING, FieldType.BOOL]
    with pytest.raises(AlreadyExists):
        c.create_table(db, "cpu", ["host"], [])


@pytest.mark.parametrize("tags, fields, words", [
    ([], [], "at least one tag"),
    (["host"], [("v", "float")], "invalid type 'float'"),
    (["host", "host"], [], "given twice"),
    (["host"], [("host", "utf8")], "given twice"),
    (["time"], [], "'time'"),
    ([""], [], "empty"),
])
def test_create_table_rejects_bad_schemas(tags, fields, words):
    c = Catalog()
    db = c.create_db("d")
    with pytest.raises(InvalidName) as e:
        c.create_table(db, "cpu", tags, fields)
    assert e.value.status == 400 and words in e.value.message
    assert "cpu" not in db.tables


def test_create_table_limits():
    c = Catalog(max_tables_per_database=1, max_columns_per_table=3)
    db = c.create_db("d")
    with pytest.raises(LimitExceeded):
        c.create_table(db, "wide", ["a", "b"], [("c", "int64")])
    c.create_table(db, "one", ["a"], [])
    with pytest.raises(LimitExceeded):
        c.create_table(db, "two", ["a"], [])


def test_delete_table_tombstone():
    c = Catalog()
    db = c.create_db("d")
    c.create_table(db, "cpu", ["host"], [])
    assert c.table_deleted_through(db.id, "cpu") == -1
    c.delete_table(db, "cpu", 7)
    assert "cpu" not in db.tables and c.table_deleted_through(db.id, "cpu") == 7
    with pytest.raises(TableNotFound):
        c.delete_table(db, "cpu", 8)


# ------------------------------------------------------------------ engine
async def test_created_table_is_queryable_empty_and_types_are_enforced(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.create_table("newdb", "cpu", ["host"], [("usage", "float64")])  # database made on the way
        assert "newdb" in e.list_databases()
        assert await rows(e, "newdb") == []
        r = await e.write_lp("newdb", 'cpu,host=a usage="high" 1\ncpu,host=a usage=0.5 2\n')
        assert r.lines_written == 1 and "expected" in r.errors[0].message
        assert await rows(e, "newdb", "SELECT host, usage FROM cpu") == [{"host": "a", "usage": 0.5}]
    async with Engine(cfg(tmp_path)) as e:
        assert e.catalog.databases["newdb"].tables["cpu"].arrow_schema.names == ["host", "usage", "time"]


async def test_bad_create_in_a_new_database_leaves_no_database(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        with pytest.raises(InvalidName):
            await e.create_table("ghost", "cpu", [], [])
        assert "ghost" not in e.list_databases()


async def test_delete_table_removes_rows_files_and_caches_not_triggers(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem,host=a free=3 3\n")
        await e.snapshot()  # some rows in Parquet
        await e.write_lp("d", "cpu,host=c v=3 4\n")  # some in the WAL/buffer only
        await e.value_caches.create_last_cache("d", "cpu", name="cpu_last")
        await e.value_caches.create_last_cache("d", "mem", name="mem_last")
        dbid = e.catalog.databases["d"].id
        files_before = sorted((tmp_path / "data" / "parquet" / dbid).rglob("*.parquet"))
        assert any("cpu" in str(p) for p in files_before)

        await e.delete_table("d", "cpu")

        assert "cpu" not in e.catalog.databases["d"].tables
        assert not any("cpu" in str(p) for p in (tmp_path / "data" / "parquet" / dbid).rglob("*.parquet"))
        assert [c.d.name for c in e.value_caches.caches("d")] == ["mem_last"]
        assert await rows(e, "d", "SELECT host, free FROM mem") == [{"host": "a", "free": 3.0}]
        with pytest.raises(Exception):
            await e.query("d", "SELECT * FROM cpu")
        with pytest.raises(TableNotFound):
            await e.delete_table("d", "cpu")
        with pytest.raises(DatabaseNotFound):
            await e.delete_table("nope", "cpu")
        # re-created with the same name: it starts empty
        await e.write_lp("d", "cpu,host=z v=9 5\n")
        assert await rows(e, "d", "SELECT host, v FROM cpu") == [{"host": "z", "v": 9.0}]
    async with Engine(cfg(tmp_path)) as e:  # WAL replay and Parquet: nothing of the old table comes back
        assert await rows(e, "d", "SELECT host, v FROM cpu") == [{"host": "z", "v": 9.0}]
        assert [c.d.name for c in e.value_caches.caches("d")] == ["mem_last"]
        assert await rows(e, "d", "SELECT host FROM mem") == [{"host": "a"}]


async def test_deleted_table_rows_only_in_the_wal_stay_dead_after_restart(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "cpu,host=a v=1 1\nmem,host=a free=3 3\n")
        await e.delete_table("d", "cpu")
    async with Engine(cfg(tmp_path)) as e:
        assert "cpu" not in e.catalog.databases["d"].tables
        assert await rows(e, "d", "SELECT host FROM mem") == [{"host": "a"}]
        await e.snapshot()
    async with Engine(cfg(tmp_path)) as e:
        assert "cpu" not in e.catalog.databases["d"].tables


async def test_system_tables_lists_tables_with_cache_counts(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.create_table("d", "cpu", ["host", "region"], [("v", "float64")])
        await e.value_caches.create_last_cache("d", "cpu", name="c1")
        t = await e.query("_internal", "SELECT database_name, table_name, column_count, series_key_columns, "
                                       "last_cache_count, distinct_cache_count FROM system.tables")
        assert t.to_pylist() == [{"database_name": "d", "table_name": "cpu", "column_count": 4,
                                  "series_key_columns": "host, region", "last_cache_count": 1,
                                  "distinct_cache_count": 0}]


async def test_delete_table_keeps_triggers_running(eng):
    from support.engines import wait_acts

    pe = eng.processing
    await pe.create_trigger("db", "on_cpu", "wal_plugin.py", "table:cpu")
    await eng.write_lp("db", "cpu,host=a v=1 1\n")
    await wait_acts(eng, "on_cpu", 1)
    await eng.delete_table("db", "cpu")
    assert [t.name for t in pe.list_triggers("db")] == ["on_cpu"]
    await eng.write_lp("db", "cpu,host=b v=2 2\n")  # the table comes back empty; the trigger still fires
    await wait_acts(eng, "on_cpu", 2)
    assert await rows(eng, "db", "SELECT host FROM cpu") == [{"host": "b"}]
