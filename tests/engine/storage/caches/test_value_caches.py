"""Last/distinct value caches in-process: semantics (§8), SQL functions, system tables, restarts."""
from __future__ import annotations

import asyncio
import time

import pyarrow as pa
import pytest

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.errors import AlreadyExists, BadRequest, DatabaseNotFound, NotFound, QueryError, TableNotFound
from pe_engine.storage.caches.sql_pushdown import find_calls, simple_shape, tokenize

S = 1_000_000_000


class Clock:
    """Injected wall clock (ns); starts at the real time so data timestamps look current."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * S)


def cfg(tmp_path, **kw):
    kw.setdefault("wal_flush_interval", 0.005)
    return EngineConfig(data_dir=tmp_path / "data", **kw)


@pytest.fixture
async def eng(tmp_path):
    e = Engine(cfg(tmp_path))
    e.value_caches.clock = Clock()
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


async def q(e, sql, params=None, db="db"):
    t = await e.query(db, sql, params)
    if "time" in t.column_names:
        t = t.set_column(t.column_names.index("time"), "time", t.column("time").cast(pa.int64()))
    return t.to_pylist()


def ts(clock, offset_s: float = 0) -> int:
    return clock.now + int(offset_s * S)


# --------------------------------------------------------------------- LVC semantics
async def test_lvc_defaults_keys_are_tags_values_follow_new_columns(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"cpu,host=a,region=us usage=1.0 {ts(c, -3)}\ncpu,host=b,region=eu usage=2.0 {ts(c, -3)}")
    d = await eng.value_caches.create_last_cache("db", "cpu")
    assert d.name == "cpu_host_region_last_cache"
    assert d.key_columns == ["host", "region"] and d.value_columns is None
    assert d.count == 1 and d.ttl == 14400
    # filled from the data already there
    assert [r["usage"] for r in await q(eng, "SELECT * FROM last_cache('cpu')")] == [1.0, 2.0]
    # a field added later is picked up; rows without it get null
    await eng.write_lp("db", f"cpu,host=a,region=us usage=3.0,temp=40i {ts(c, -2)}")
    got = await q(eng, "SELECT * FROM last_cache('cpu') ORDER BY host")
    assert got == [
        {"host": "a", "region": "us", "usage": 3.0, "temp": 40, "time": ts(c, -2)},
        {"host": "b", "region": "eu", "usage": 2.0, "temp": None, "time": ts(c, -3)},
    ]
    t = await eng.query("db", "SELECT * FROM last_cache('cpu')")
    assert t.column_names == ["host", "region", "usage", "temp", "time"]
    assert t.schema.field("host").type == pa.string() and not t.schema.field("host").nullable


async def test_lvc_explicit_values_fixed_time_always_last(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"cpu,host=a usage=1.0,idle=9.0 {ts(c)}")
    d = await eng.value_caches.create_last_cache("db", "cpu", name="few", value_columns=["time", "usage"])
    assert d.value_columns == ["usage", "time"]
    await eng.write_lp("db", f"cpu,host=a usage=2.0,idle=8.0,new=1i {ts(c, 1)}")
    t = await eng.query("db", "SELECT * FROM last_cache('cpu', 'few')")
    assert t.column_names == ["host", "usage", "time"]
    assert t.column("usage").to_pylist() == [2.0]


async def test_lvc_count_keeps_newest_n_per_key_newest_first(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", "cpu,host=a usage=0.0 1")  # create the table
    await eng.value_caches.create_last_cache("db", "cpu", count=3, key_columns=["host"])
    body = "\n".join(f"cpu,host={h} usage={i}.0 {ts(c, i)}" for i in range(1, 6) for h in ("a", "b"))
    await eng.write_lp("db", body)
    got = await q(eng, "SELECT host, usage FROM last_cache('cpu')")
    assert got == [{"host": h, "usage": u} for h in ("a", "b") for u in (5.0, 4.0, 3.0)]
    # one more row for a: the oldest of a's three goes, b is untouched
    await eng.write_lp("db", f"cpu,host=a usage=6.0 {ts(c, 6)}")
    got = await q(eng, "SELECT host, usage FROM last_cache('cpu') WHERE host = 'a'")
    assert [r["usage"] for r in got] == [6.0, 5.0, 4.0]
    assert len(await q(eng, "SELECT * FROM last_cache('cpu')")) == 6


async def test_lvc_late_rows_ignored_also_within_a_batch(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", "cpu,host=x usage=0.0 1")
    await eng.value_caches.create_last_cache("db", "cpu", count=3, key_columns=["host"])
    # arrival order 5, 3, 7: 3 is late against 5 and is not cached
    await eng.write_lp("db", f"cpu,host=a usage=5.0 {ts(c, 5)}\ncpu,host=a usage=3.0 {ts(c, 3)}\n"
                             f"cpu,host=a usage=7.0 {ts(c, 7)}")
    assert [r["usage"] for r in await q(eng, "SELECT usage FROM last_cache('cpu') WHERE host='a'")] == [7.0, 5.0]
    # same time as the newest, or older: ignored
    await eng.write_lp("db", f"cpu,host=a usage=70.0 {ts(c, 7)}\ncpu,host=a usage=6.0 {ts(c, 6)}")
    assert [r["usage"] for r in await q(eng, "SELECT usage FROM last_cache('cpu') WHERE host='a'")] == [7.0, 5.0]


async def test_lvc_ttl_from_insertion_wall_clock(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"cpu,host=a usage=1.0 {ts(c)}\ncpu,host=b usage=1.0 {ts(c)}")
    await eng.value_caches.create_last_cache("db", "cpu", ttl=60)
    c.advance(30)
    await eng.write_lp("db", f"cpu,host=b usage=2.0 {ts(c)}")
    c.advance(31)  # a's row entered 61 s ago, b's 31 s ago
    got = await q(eng, "SELECT host, usage FROM last_cache('cpu')")
    assert got == [{"host": "b", "usage": 2.0}]
    # a expired: an older timestamp than the evicted one is accepted again
    await eng.write_lp("db", f"cpu,host=a usage=9.0 {ts(c, -3600)}")
    got = await q(eng, "SELECT host, usage FROM last_cache('cpu') ORDER BY host")
    assert got == [{"host": "a", "usage": 9.0}, {"host": "b", "usage": 2.0}]
    c.advance(3600)
    assert await q(eng, "SELECT * FROM last_cache('cpu')") == []


async def test_lvc_nulls_cached_and_rows_without_key_skipped(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"m,k=a,j=x f=1.0,g=1i {ts(c)}")
    await eng.value_caches.create_last_cache("db", "m", key_columns=["k"])
    await eng.write_lp("db", f"m,k=a g=2i {ts(c, 1)}\nm,j=y f=5.0 {ts(c, 2)}")  # second row has no key
    got = await q(eng, "SELECT k, j, f, g FROM last_cache('m')")
    assert got == [{"k": "a", "j": None, "f": None, "g": 2}]


async def test_lvc_field_keys_of_every_allowed_type(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f't i=1i,u=2u,b=true,s="x",v=1.0 {ts(c)}')
    d = await eng.value_caches.create_last_cache("db", "t", key_columns=["i", "u", "b", "s"])
    assert d.name == "t_i_u_b_s_last_cache"
    await eng.write_lp("db", f't i=1i,u=2u,b=true,s="x",v=2.0 {ts(c, 1)}\nt i=-3i,u=4u,b=false,s="y",v=3.0 {ts(c, 1)}')
    got = await q(eng, "SELECT i, u, b, s, v FROM last_cache('t') WHERE i = -3 AND b = false")
    assert got == [{"i": -3, "u": 4, "b": False, "s": "y", "v": 3.0}]
    got = await q(eng, "SELECT v FROM last_cache('t') WHERE s = $s AND u = $u", {"s": "x", "u": 2})
    assert got == [{"v": 2.0}]


async def test_lvc_create_errors(eng):
    vc = eng.value_caches
    await eng.write_lp("db", 'cpu,host=a usage=1.0,n=1i,s="t" 1')
    with pytest.raises(DatabaseNotFound):
        await vc.create_last_cache("nope", "cpu")
    with pytest.raises(TableNotFound):
        await vc.create_last_cache("db", "nope")
    with pytest.raises(BadRequest, match="float"):
        await vc.create_last_cache("db", "cpu", key_columns=["usage"])
    with pytest.raises(BadRequest, match="does not exist"):
        await vc.create_last_cache("db", "cpu", key_columns=["zzz"])
    with pytest.raises(BadRequest, match="time"):
        await vc.create_last_cache("db", "cpu", key_columns=["time"])
    with pytest.raises(BadRequest, match="does not exist"):
        await vc.create_last_cache("db", "cpu", value_columns=["zzz"])
    with pytest.raises(BadRequest, match="count"):
        await vc.create_last_cache("db", "cpu", count=0)
    with pytest.raises(BadRequest, match="ttl"):
        await vc.create_last_cache("db", "cpu", ttl="soon")
    assert (await vc.create_last_cache("db", "cpu", ttl="2 hours")).ttl == 7200
    with pytest.raises(AlreadyExists):
        await vc.create_last_cache("db", "cpu")
    with pytest.raises(NotFound):
        await vc.delete("last", "db", "cpu", "nope")
    await vc.delete("last", "db", "cpu", "cpu_host_last_cache")
    assert vc.list() == []


# --------------------------------------------------------------------- DVC semantics
async def test_dvc_hierarchy_sorted_prefix_and_predicates(eng):
    c = eng.value_caches.clock
    body = "\n".join(f"cpu,region={r},host={h} usage=1.0 {ts(c)}"
                     for r, h in [("us", "b"), ("us", "a"), ("eu", "c"), ("us", "a")])
    await eng.write_lp("db", body)
    d = await eng.value_caches.create_distinct_cache("db", "cpu", columns=["region", "host"])
    assert d.name == "cpu_region_host_distinct_cache" and d.max_cardinality == 100_000 and d.max_age == 86_400
    assert await q(eng, "SELECT * FROM distinct_cache('cpu')") == [
        {"region": "eu", "host": "c"}, {"region": "us", "host": "a"}, {"region": "us", "host": "b"}]
    # only the first level asked for: its distinct values (InfluxDB's projection)
    assert await q(eng, "SELECT region FROM distinct_cache('cpu')") == [{"region": "eu"}, {"region": "us"}]
    assert await q(eng, "SELECT host FROM distinct_cache('cpu') WHERE region = $r", {"r": "us"}) == [
        {"host": "a"}, {"host": "b"}]
    # rows without every column are not cached
    await eng.write_lp("db", f"cpu,host=z usage=1.0 {ts(c)}")
    assert len(await q(eng, "SELECT * FROM distinct_cache('cpu')")) == 3


async def test_dvc_max_cardinality_prunes_oldest(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"cpu,host=h0 usage=1.0 {ts(c, -100)}")
    await eng.value_caches.create_distinct_cache("db", "cpu", columns=["host"], max_cardinality=3)
    await eng.write_lp("db", "\n".join(f"cpu,host=h{i} usage=1.0 {ts(c, -100 + i)}" for i in range(1, 5)))
    assert [r["host"] for r in await q(eng, "SELECT host FROM distinct_cache('cpu')")] == ["h2", "h3", "h4"]
    # seeing h2 again (newer) makes h3 the oldest
    await eng.write_lp("db", f"cpu,host=h2 usage=1.0 {ts(c)}\ncpu,host=h5 usage=1.0 {ts(c)}")
    assert [r["host"] for r in await q(eng, "SELECT host FROM distinct_cache('cpu')")] == ["h2", "h4", "h5"]


async def test_dvc_max_age_on_data_timestamps(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"cpu,host=old usage=1.0 {ts(c, -7200)}\ncpu,host=new usage=1.0 {ts(c, -10)}")
    await eng.value_caches.create_distinct_cache("db", "cpu", columns=["host"], max_age="1h")
    assert [r["host"] for r in await q(eng, "SELECT host FROM distinct_cache('cpu')")] == ["new"]
    await eng.write_lp("db", f"cpu,host=ancient usage=1.0 {ts(c, -4000)}")  # older than max_age: never cached
    assert [r["host"] for r in await q(eng, "SELECT host FROM distinct_cache('cpu')")] == ["new"]
    c.advance(3600)
    assert await q(eng, "SELECT host FROM distinct_cache('cpu')") == []


async def test_dvc_rejects_non_string_columns(eng):
    await eng.write_lp("db", 'cpu,host=a usage=1.0,n=1i,s="x" 1')
    with pytest.raises(BadRequest, match="only tags and string fields"):
        await eng.value_caches.create_distinct_cache("db", "cpu", columns=["host", "n"])
    with pytest.raises(BadRequest, match="at least one"):
        await eng.value_caches.create_distinct_cache("db", "cpu", columns=[])
    d = await eng.value_caches.create_distinct_cache("db", "cpu", columns=["host", "s"])
    assert d.columns == ["host", "s"]


# --------------------------------------------------------------------- SQL
async def test_sql_predicates_are_looked_up_not_scanned(eng):
    c = eng.value_caches.clock
    await eng.write_lp("db", "\n".join(f"cpu,host=h{i} usage={i}.0 {ts(c)}" for i in range(100)))
    await eng.value_caches.create_last_cache("db", "cpu")
    plan = await eng.query("db", "EXPLAIN ANALYZE SELECT * FROM last_cache('cpu') WHERE host = $h", {"h": "h7"})
    text = "\n".join(plan.column(1).to_pylist())
    assert "selectivity=100% (1/1)" in text  # the cache handed DataFusion the one matching row
    plan = await eng.query("db", "EXPLAIN SELECT * FROM last_cache('cpu') WHERE host = 'h7'")
    assert "TableScan: last_cache()" in plan.column(1)[0].as_py() and "TableScan: cpu" not in plan.column(1)[0].as_py()
    plan = await eng.query("db", "EXPLAIN ANALYZE SELECT * FROM last_cache('cpu') WHERE host IN ('h1', 'h2', 'zz')")
    assert "(2/2)" in "\n".join(plan.column(1).to_pylist())


@pytest.mark.parametrize("sql, params, expected", [
    ("SELECT host FROM last_cache('cpu') WHERE host = 'a' OR host = 'b' ORDER BY host", None, ["a", "b"]),
    ("SELECT host FROM last_cache('cpu') WHERE host = 'a' AND usage > 5", None, []),
    ("SELECT host FROM last_cache('cpu') WHERE usage BETWEEN 1 AND 2 AND host = 'b'", None, ["b"]),
    ("SELECT c.host FROM last_cache('cpu') AS c WHERE c.host = $h", {"h": "c"}, ["c"]),
    ("SELECT host FROM last_cache('cpu') c WHERE 'b' = host", None, ["b"]),
    ("SELECT host FROM last_cache('cpu') WHERE NOT host = 'a' ORDER BY host", None, ["b", "c"]),
    ("SELECT host FROM last_cache('cpu') WHERE CASE WHEN usage > 0 AND host = 'a' THEN true ELSE false END",
     None, ["a"]),
    ("SELECT l.host FROM last_cache('cpu') l JOIN cpu ON l.host = cpu.host WHERE l.host = 'b'", None, ["b"]),
    ("SELECT host FROM (SELECT * FROM last_cache('cpu') WHERE host <> 'a') WHERE host = 'c'", None, ["c"]),
    ("SELECT host FROM last_cache('cpu') WHERE host = 'a' -- AND host = 'b'", None, ["a"]),
    ("SELECT host FROM last_cache('cpu') WHERE host = 'it''s'", None, []),
    ("SELECT count(*) AS n FROM last_cache('cpu') WHERE host IN ('a', 'c')", None, None),
    # text the reader does not tokenize (`~`): the table function serves the whole cache itself
    ("SELECT host FROM last_cache('cpu') WHERE host ~ '^[ab]$' ORDER BY host", None, ["a", "b"]),
])
async def test_sql_shapes_give_the_same_rows_as_sql_would(eng, sql, params, expected):
    c = eng.value_caches.clock
    await eng.write_lp("db", f"cpu,host=a usage=1.0 {ts(c)}\ncpu,host=b usage=2.0 {ts(c)}\ncpu,host=c usage=3.0 {ts(c)}")
    await eng.value_caches.create_last_cache("db", "cpu")
    got = await q(eng, sql, params)
    if expected is None:
        assert got == [{"n": 2}]
    else:
        assert [r["host"] for r in got] == expected


async def test_sql_cache_name_rules(eng):
    await eng.write_lp("db", "cpu,host=a,region=us usage=1.0 1\nmem,host=a free=1i 1")
    with pytest.raises(QueryError, match="could not find cache for the given arguments"):
        await eng.query("db", "SELECT * FROM last_cache('cpu')")
    await eng.value_caches.create_last_cache("db", "cpu")
    await eng.query("db", "SELECT * FROM last_cache('cpu')")
    await eng.value_caches.create_last_cache("db", "cpu", name="by_region", key_columns=["region"])
    with pytest.raises(QueryError, match="could not find cache for the given arguments"):
        await eng.query("db", "SELECT * FROM last_cache('cpu')")
    await eng.query("db", "SELECT * FROM last_cache('cpu', 'by_region')")
    with pytest.raises(QueryError, match="could not find cache"):
        await eng.query("db", "SELECT * FROM last_cache('cpu', 'nope')")
    with pytest.raises(QueryError, match="provided table name is invalid"):
        await eng.query("db", "SELECT * FROM last_cache('nope')")
    with pytest.raises(QueryError, match="could not find cache"):
        await eng.query("db", "SELECT * FROM distinct_cache('cpu')")
    with pytest.raises(QueryError, match="first argument must be the table name"):
        await eng.query("db", "SELECT * FROM last_cache(1)")


def test_sql_reader_only_trusts_plain_statements():
    def shape(sql):
        toks = tokenize(sql)
        calls = find_calls(toks)
        return simple_shape(toks, calls[0])

    s = shape("SELECT * FROM last_cache('cpu', 'c') WHERE host = $h AND region IN ('a', 'b') AND usage > 1")
    assert [(c.value, [v.text for v in vs]) for c, vs in s.conjuncts] == [("host", ["$h"]), ("region", ["'a'", "'b'"])]
    assert shape("SELECT * FROM last_cache('cpu') WHERE host = 'a' OR region = 'b'").conjuncts == []
    assert shape("SELECT * FROM last_cache('cpu') WHERE x BETWEEN 1 AND 2 AND host = 'a'").conjuncts == []
    assert shape("SELECT * FROM last_cache('cpu'), cpu WHERE host = 'a'") is None
    assert shape("WITH x AS (SELECT 1) SELECT * FROM last_cache('cpu') WHERE host = 'a'") is None
    assert shape("SELECT * FROM cpu WHERE host IN (SELECT host FROM last_cache('cpu'))") is None
    assert tokenize("SELECT 'unterminated FROM last_cache('cpu')") is None
    assert find_calls(tokenize("SELECT * FROM last_cache($t)"))[0].table is None


# --------------------------------------------------------------------- system tables, console API
async def test_system_tables_list_definitions(eng):
    await eng.write_lp("db", 'cpu,host=a,region=us usage=1.0,s="x" 1')
    await eng.value_caches.create_last_cache("db", "cpu", key_columns=["host"], value_columns=["usage"], count=2, ttl=60)
    await eng.value_caches.create_last_cache("db", "cpu", name="all")
    await eng.value_caches.create_distinct_cache("db", "cpu", columns=["region", "host"], max_cardinality=10,
                                                 max_age=3600)
    t = await eng.query("db", "SELECT * FROM system.last_caches ORDER BY name")
    ids = {name: i for i, name in enumerate(eng.catalog.databases["db"].tables["cpu"].columns)}
    assert t.column_names == ["table", "name", "key_column_ids", "key_column_names", "value_column_ids",
                              "value_column_names", "count", "ttl"]
    assert rows(t) == [
        {"table": "cpu", "name": "all", "key_column_ids": [ids["host"], ids["region"]],
         "key_column_names": ["host", "region"], "value_column_ids": None, "value_column_names": None,
         "count": 1, "ttl": 14400},
        {"table": "cpu", "name": "cpu_host_last_cache", "key_column_ids": [ids["host"]], "key_column_names": ["host"],
         "value_column_ids": [ids["usage"], ids["time"]], "value_column_names": ["usage", "time"],
         "count": 2, "ttl": 60},
    ]
    assert t.schema.field("count").type == pa.uint64()
    t = await eng.query("db", "SELECT * FROM system.distinct_caches")
    assert rows(t) == [{"table": "cpu", "name": "cpu_region_host_distinct_cache",
                        "column_ids": [ids["region"], ids["host"]], "column_names": ["region", "host"],
                        "max_cardinality": 10, "max_age_seconds": 3600}]


async def test_console_entries_and_version(eng):
    c = eng.value_caches.clock
    vc = eng.value_caches
    await eng.write_lp("db", f"cpu,host=a usage=1.0 {ts(c)}")
    v0 = vc.version
    await vc.create_last_cache("db", "cpu")
    await vc.create_distinct_cache("db", "cpu", columns=["host"])
    assert vc.version > v0
    v1 = vc.version
    c.advance(2)
    await eng.write_lp("db", f"cpu,host=b usage=2.0 {ts(c, -1)}")
    assert vc.version > v1
    c.advance(1)
    entries = vc.entries("db", "cpu")
    assert [(e.key, e.values["usage"]) for e in entries] == [(("a",), 1.0), (("b",), 2.0)]
    assert entries[0].age == pytest.approx(3.0) and entries[1].age == pytest.approx(1.0)
    assert entries[1].values["time"] == ts(c, -2)
    d = vc.entries("db", "cpu", kind="distinct")
    assert [(e.values, round(e.age)) for e in d] == [(("a",), 3), (("b",), 2)]
    assert [x.name for x in vc.list("db")] == ["cpu_host_distinct_cache", "cpu_host_last_cache"]


async def test_deleted_database_takes_its_caches(eng):
    await eng.write_lp("db", "cpu,host=a usage=1.0 1")
    await eng.value_caches.create_last_cache("db", "cpu")
    await eng.delete_database("db")
    assert eng.value_caches.list() == []
    await eng.write_lp("db", "cpu,host=a usage=1.0 1")
    with pytest.raises(QueryError, match="could not find cache"):
        await eng.query("db", "SELECT * FROM last_cache('cpu')")
    await eng.value_caches.create_last_cache("db", "cpu")  # the name is free again


# --------------------------------------------------------------------- restarts
async def test_restart_refills_from_memory_and_parquet(tmp_path):
    now = time.time_ns()
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("db", "\n".join(f"cpu,host=h{i % 3} usage={i}.0 {now - (100 - i) * S}" for i in range(10)))
        await e.write_lp("db", f"cpu,host=old usage=1.0 {now - 5 * 3600 * S}")  # older than the 4 h TTL
        await e.value_caches.create_last_cache("db", "cpu", count=2)
        await e.value_caches.create_distinct_cache("db", "cpu", columns=["host"], max_age="2h")
        await e.snapshot()  # part of the data in Parquet
        await e.write_lp("db", f"cpu,host=h0 usage=99.0 {now - 1 * S}")
        before_l = await e.query("db", "SELECT host, usage FROM last_cache('cpu')")
        before_d = await e.query("db", "SELECT * FROM distinct_cache('cpu')")
    assert before_l.column("usage").to_pylist() == [99.0, 9.0, 7.0, 4.0, 8.0, 5.0]
    assert before_d.column("host").to_pylist() == ["h0", "h1", "h2"]
    async with Engine(cfg(tmp_path)) as e:
        assert [d.name for d in e.value_caches.list()] == ["cpu_host_distinct_cache", "cpu_host_last_cache"]
        assert (await e.query("db", "SELECT host, usage FROM last_cache('cpu')")).equals(before_l)
        assert (await e.query("db", "SELECT * FROM distinct_cache('cpu')")).equals(before_d)
        await e.write_lp("db", f"cpu,host=h1 usage=100.0 {now}")
        got = await e.query("db", "SELECT usage FROM last_cache('cpu') WHERE host = 'h1'")
        assert got.column("usage").to_pylist() == [100.0, 7.0]


async def test_flushes_during_a_refill_are_applied_after_it(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        now = time.time_ns()
        await e.write_lp("db", "\n".join(f"cpu,host=h{i % 50} usage={i}.0 {now - (5000 - i) * 1000}"
                                         for i in range(5000)))
        create = asyncio.create_task(e.value_caches.create_last_cache("db", "cpu", count=3))
        writes = [e.write_lp("db", f"cpu,host=h{i} usage={1000 + i}.0 {now + i}") for i in range(5)]
        await asyncio.gather(create, *writes)
        for i in range(5):
            got = await e.query("db", f"SELECT usage FROM last_cache('cpu') WHERE host = 'h{i}'")
            assert got.column("usage").to_pylist()[0] == 1000.0 + i
            assert len(got) == 3
