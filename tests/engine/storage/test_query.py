"""QueryEngine: SQL over memory batches + Parquet, the InfluxDB 3 SQL surface plugins use,
re-registration on change, system tables and thread safety."""
from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pe_engine.errors import DatabaseNotFound, QueryError
from pe_engine.lineprotocol.types import FieldType, ParsedTable
from pe_engine.storage.batch import to_record_batch, widen
from pe_engine.storage.buffer import BufferStore
from pe_engine.storage.catalog import TAG_TYPE, Catalog
from pe_engine.storage.query import QueryEngine, influx_type_name
from pe_engine.storage.system_tables import SystemTables

F, I, U, S, B = FieldType.FLOAT, FieldType.INT, FieldType.UINT, FieldType.STRING, FieldType.BOOL
SEC = 1_000_000_000


class Store:
    """Catalog + buffers filled the way the engine does: plan, apply, to_record_batch, append."""

    def __init__(self) -> None:
        self.catalog = Catalog()
        self.buffers = BufferStore()
        self.system = SystemTables()
        self.seq = 0

    def engine(self, **kw) -> QueryEngine:
        return QueryEngine(self.catalog, self.buffers, self.system, **kw)

    def write(self, db: str, table: str, time_ns: list[int], tags=None, fields=None) -> pa.RecordBatch:
        dbdef = self.catalog.create_db(db, exist_ok=True)
        n = len(time_ns)
        pt = ParsedTable(table, n, list(range(1, n + 1)), list(time_ns), dict(tags or {}), dict(fields or {}))
        plan = self.catalog.plan_write(dbdef, {table: pt})
        assert not plan.errors, plan.errors
        self.catalog.apply_plan(dbdef, plan)
        batch = to_record_batch(dbdef.tables[table], pt)
        self.seq += 1
        self.buffers.table(db, table).append(batch, self.seq)
        return batch

    def snapshot(self, db: str, table: str, path) -> None:
        """Persist every memory batch of the table to one Parquet file, as a snapshot would."""
        td = self.buffers.table(db, table)
        schema = self.catalog.databases[db].tables[table].arrow_schema
        batches = td.cut(self.seq)
        pq.write_table(pa.Table.from_batches([widen(b, schema) for b in batches], schema=schema), str(path))
        td.replace_with_parquet(self.seq, str(path), sum(b.num_rows for b in batches))


@pytest.fixture
def store() -> Store:
    return Store()


def rows(table: pa.Table) -> list[dict]:
    """Rows with timestamps as integer nanoseconds (datetime cannot hold ns)."""
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        cols[name] = col.to_pylist()
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())] if cols else []


def cpu(store: Store, db="db", hosts=("a", "b"), start=0, usage=None) -> None:
    n = len(hosts)
    store.write(
        db,
        "cpu",
        [(start + i) * SEC for i in range(n)],
        tags={"host": list(hosts)},
        fields={"usage": (F, usage if usage is not None else [float(i) for i in range(n)])},
    )


# -- basics ------------------------------------------------------------------
def test_select_returns_arrow_with_tags_as_dictionaries(store):
    cpu(store)
    out = store.engine().execute("db", "SELECT * FROM cpu ORDER BY time")
    assert out.schema.field("host").type == TAG_TYPE
    assert out.schema.field("time").type == pa.timestamp("ns")
    assert rows(out) == [
        {"host": "a", "usage": 0.0, "time": 0},
        {"host": "b", "usage": 1.0, "time": SEC},
    ]


def test_iox_schema_qualified_names_work(store):
    cpu(store)
    qe = store.engine()
    assert qe.execute("db", "SELECT count(*) AS n FROM iox.cpu").column("n").to_pylist() == [2]
    assert qe.execute("db", "SELECT count(*) AS n FROM public.iox.cpu").column("n").to_pylist() == [2]


def test_table_in_catalog_without_data_is_empty(store):
    cpu(store)
    store.buffers.dbs["db"].pop("cpu")  # catalog entry, no TableData
    out = store.engine().execute("db", "SELECT * FROM cpu")
    assert out.num_rows == 0
    assert out.column_names == ["host", "usage", "time"]


def test_schema_evolution_old_batches_read_new_columns_as_null(store):
    cpu(store, hosts=("a",))
    store.write("db", "cpu", [5 * SEC], tags={"host": ["b"], "region": ["eu"]}, fields={"temp": (I, [7])})
    out = store.engine().execute("db", "SELECT host, region, usage, temp, time FROM cpu ORDER BY time")
    assert rows(out) == [
        {"host": "a", "region": None, "usage": 0.0, "temp": None, "time": 0},
        {"host": "b", "region": "eu", "usage": None, "temp": 7, "time": 5 * SEC},
    ]


@pytest.mark.parametrize("cache_bytes", [1 << 30, 0], ids=["parquet-cached", "parquet-from-disk"])
def test_parquet_and_memory_union_with_older_narrower_file(store, tmp_path, cache_bytes):
    cpu(store, hosts=("a", "b"))
    store.snapshot("db", "cpu", tmp_path / "1.parquet")  # written with the old schema: host, usage, time
    store.write("db", "cpu", [10 * SEC], tags={"host": ["c"]}, fields={"usage": (F, [9.0]), "load": (I, [3])})
    qe = store.engine(parquet_cache_bytes=cache_bytes)
    out = qe.execute("db", "SELECT host, usage, load, time FROM cpu ORDER BY time")
    assert rows(out) == [
        {"host": "a", "usage": 0.0, "load": None, "time": 0},
        {"host": "b", "usage": 1.0, "load": None, "time": SEC},
        {"host": "c", "usage": 9.0, "load": 3, "time": 10 * SEC},
    ]
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu WHERE host = 'b'").column("n").to_pylist() == [1]
    assert (qe.parquet_cache_bytes > 0) == (cache_bytes > 0)


def test_new_rows_tables_and_columns_are_seen_after_first_query(store):
    cpu(store)
    qe = store.engine()
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu").column("n").to_pylist() == [2]
    cpu(store, hosts=("c",), start=10)
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu").column("n").to_pylist() == [3]
    store.write("db", "cpu", [20 * SEC], fields={"extra": (S, ["x"])})  # schema change
    assert rows(qe.execute("db", "SELECT extra FROM cpu WHERE extra IS NOT NULL")) == [{"extra": "x"}]
    store.write("db", "mem", [0], fields={"free": (U, [5])})  # new table
    assert rows(qe.execute("db", "SELECT free FROM mem")) == [{"free": 5}]
    del store.catalog.databases["db"].tables["mem"]  # table gone from the catalog
    with pytest.raises(QueryError, match="not found"):
        qe.execute("db", "SELECT * FROM mem")


def test_recreated_table_data_is_not_mistaken_for_the_old_one(store):
    cpu(store, hosts=("a", "b", "c"))
    qe = store.engine()
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu").column("n").to_pylist() == [3]
    old_version = store.buffers.dbs["db"]["cpu"].version
    store.buffers.dbs["db"].pop("cpu")  # table data dropped and rebuilt: its version restarts
    for i in range(old_version):
        cpu(store, hosts=("z",), start=100 + i)
    assert store.buffers.dbs["db"]["cpu"].version == old_version
    assert qe.execute("db", "SELECT DISTINCT host FROM cpu").column("host").to_pylist() == ["z"]


def test_unreadable_parquet_file_is_a_query_error_and_leaks_nothing(store, tmp_path):
    cpu(store)
    store.buffers.table("db", "cpu").add_parquet(str(tmp_path / "missing.parquet"), 10)
    qe = store.engine()
    with pytest.raises(QueryError, match="missing.parquet"):
        qe.execute("db", "SELECT * FROM cpu")
    assert qe.parquet_cache_bytes == 0  # nothing of the unreadable file is kept


def test_unchanged_tables_are_not_registered_again(store, monkeypatch):
    cpu(store)
    store.write("db", "mem", [0], fields={"free": (U, [5])})
    qe = store.engine()
    built: list[int] = []
    original = qe._provider
    monkeypatch.setattr(qe, "_provider", lambda state: built.append(1) or original(state))
    qe.execute("db", "SELECT * FROM cpu")
    assert len(built) == 2
    qe.execute("db", "SELECT * FROM cpu")
    assert len(built) == 2
    cpu(store, hosts=("z",), start=50)
    qe.execute("db", "SELECT * FROM cpu")
    assert len(built) == 3  # only cpu


def test_database_recreated_with_same_name_starts_fresh(store):
    cpu(store)
    qe = store.engine()
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu").column("n").to_pylist() == [2]
    store.catalog.delete_db("db")
    store.buffers.drop_db("db")
    with pytest.raises(DatabaseNotFound):
        qe.execute("db", "SELECT 1")
    store.write("db", "other", [0], fields={"v": (F, [1.0])})
    with pytest.raises(QueryError):
        qe.execute("db", "SELECT * FROM cpu")
    assert rows(qe.execute("db", "SELECT v FROM other")) == [{"v": 1.0}]


def test_forget_releases_cached_parquet(store, tmp_path):
    cpu(store)
    store.snapshot("db", "cpu", tmp_path / "1.parquet")
    qe = store.engine()
    qe.execute("db", "SELECT * FROM cpu")
    assert qe.parquet_cache_bytes > 0
    qe.forget("db")
    assert qe.parquet_cache_bytes == 0
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu").column("n").to_pylist() == [2]


# -- the SQL surface plugins rely on ----------------------------------------
def test_show_tables_lists_user_tables_as_base_tables_in_iox(store):
    cpu(store)
    store.system.register("things", lambda db: pa.table({"x": [1]}))
    out = rows(store.engine().execute("db", "SHOW TABLES"))
    assert {"table_catalog": "public", "table_schema": "iox", "table_name": "cpu", "table_type": "BASE TABLE"} in out
    assert {"table_catalog": "public", "table_schema": "system", "table_name": "things", "table_type": "VIEW"} in out
    kinds = {(r["table_schema"], r["table_type"]) for r in out}
    assert kinds == {("iox", "BASE TABLE"), ("system", "VIEW"), ("information_schema", "VIEW")}
    base = [r["table_name"] for r in out if r["table_type"] == "BASE TABLE"]
    assert base == ["cpu"]


def test_information_schema_columns_data_types_match_influxdb3(store):
    store.write(
        "db",
        "m",
        [0],
        tags={"t": ["x"]},
        fields={"f": (F, [1.0]), "i": (I, [1]), "u": (U, [1]), "s": (S, ["s"]), "b": (B, [True])},
    )
    sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $t"
    out = rows(store.engine().execute("db", sql, {"t": "m"}))
    assert {r["column_name"]: r["data_type"] for r in out} == {
        "t": "Dictionary(Int32, Utf8)",
        "f": "Float64",
        "i": "Int64",
        "u": "UInt64",
        "s": "Utf8",
        "b": "Boolean",
        "time": "Timestamp(Nanosecond, None)",
    }


def test_information_schema_filters_on_influxdb3_type_names(store):
    cpu(store)
    qe = store.engine()
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 'cpu' AND data_type = $dt"
    assert rows(qe.execute("db", sql, {"dt": "Timestamp(Nanosecond, None)"})) == [{"column_name": "time"}]
    sql = "SELECT column_name FROM information_schema.columns WHERE data_type = 'Dictionary(Int32, Utf8)'"
    assert rows(qe.execute("db", sql)) == [{"column_name": "host"}]
    out = rows(qe.execute("db", "SHOW COLUMNS FROM cpu"))
    assert {r["column_name"]: r["data_type"] for r in out}["time"] == "Timestamp(Nanosecond, None)"


@pytest.mark.parametrize(
    "df_name, influx",
    [
        ("Timestamp(ns)", "Timestamp(Nanosecond, None)"),
        ("Timestamp(ms)", "Timestamp(Millisecond, None)"),
        ('Timestamp(ns, "UTC")', 'Timestamp(Nanosecond, Some("UTC"))'),
        ("Duration(s)", "Duration(Second)"),
        ("Dictionary(Int32, Utf8)", "Dictionary(Int32, Utf8)"),
        ("Int64", "Int64"),
    ],
)
def test_type_name_rewrite(df_name, influx):
    assert influx_type_name(df_name) == influx


def test_date_bin_now_and_intervals(store):
    now = time.time_ns()
    minute = 60 * SEC
    base = now - now % minute - 10 * minute
    store.write(
        "db",
        "cpu",
        [base, base + SEC, base + minute + 5 * SEC, now - 3 * 3600 * SEC],
        tags={"host": ["a", "a", "a", "old"]},
        fields={"usage": (F, [1.0, 3.0, 5.0, 100.0])},
    )
    sql = (
        "SELECT date_bin(INTERVAL '1 minute', time) AS minute, avg(usage) AS u FROM cpu "
        "WHERE time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1"
    )
    assert rows(store.engine().execute("db", sql)) == [
        {"minute": base, "u": 2.0},
        {"minute": base + minute, "u": 5.0},
    ]


def test_time_compares_with_string_literals(store):
    store.write("db", "cpu", [1_704_067_200 * SEC, 1_704_153_600 * SEC], fields={"v": (F, [1.0, 2.0])})
    qe = store.engine()
    assert rows(qe.execute("db", "SELECT v FROM cpu WHERE time >= '2024-01-02T00:00:00Z'")) == [{"v": 2.0}]
    assert rows(qe.execute("db", "SELECT v FROM cpu WHERE time < '2024-01-01T12:00:00'")) == [{"v": 1.0}]
    assert rows(qe.execute("db", "SELECT v FROM cpu WHERE time > $t", {"t": "2024-01-01T12:00:00Z"})) == [{"v": 2.0}]


def test_double_quoted_identifiers_keep_case_and_spaces(store):
    store.write("db", "My Table", [0], tags={"Host Name": ["h"]}, fields={"Value": (F, [1.5])})
    qe = store.engine()
    out = rows(qe.execute("db", 'SELECT "Host Name", "Value" FROM "My Table"'))
    assert out == [{"Host Name": "h", "Value": 1.5}]
    assert rows(qe.execute("db", 'SELECT "Value" FROM iox."My Table"')) == [{"Value": 1.5}]
    with pytest.raises(QueryError):
        qe.execute("db", "SELECT Value FROM cpu")


def test_parameters_of_each_type(store):
    store.write(
        "db",
        "m",
        [0, SEC],
        tags={"host": ["a", "b"]},
        fields={"f": (F, [1.5, 2.5]), "i": (I, [10, 20]), "b": (B, [True, False]), "s": (S, ["x", "y"])},
    )
    qe = store.engine()

    def hosts(where: str, params: dict) -> list[str]:
        return qe.execute("db", f"SELECT host FROM m WHERE {where} ORDER BY host", params).column("host").to_pylist()

    assert hosts("host = $h", {"h": "b"}) == ["b"]
    assert hosts("i > $n", {"n": 15}) == ["b"]
    assert hosts("f < $x", {"x": 2.0}) == ["a"]
    assert hosts("b = $flag", {"flag": True}) == ["a"]
    assert hosts("s = $s AND host = $h", {"s": "y", "h": "b"}) == ["b"]
    assert rows(qe.execute("db", "SELECT $v AS v", {"v": "lit"})) == [{"v": "lit"}]
    with pytest.raises(QueryError, match=r"\$missing"):
        qe.execute("db", "SELECT * FROM m WHERE host = $missing")
    with pytest.raises(QueryError, match="unsupported type"):
        qe.execute("db", "SELECT * FROM m WHERE host = $h", {"h": ["a"]})


# -- errors ------------------------------------------------------------------
def test_unknown_database(store):
    with pytest.raises(DatabaseNotFound):
        store.engine().execute("nope", "SELECT 1")


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELEC 1", "SQL error"),
        ("SELECT * FROM nope", "not found"),
        ("SELECT nope FROM cpu", "nope"),
        ("CREATE TABLE x AS SELECT 1", "DDL not supported"),
        ("INSERT INTO cpu (usage, time) VALUES (1.0, now())", "DML not supported"),
        ("SET datafusion.execution.batch_size = 1", "not supported"),
    ],
)
def test_bad_sql_raises_query_error_with_datafusion_message(store, sql, message):
    cpu(store)
    with pytest.raises(QueryError, match=message) as e:
        store.engine().execute("db", sql)
    assert e.value.status == 400


# -- system tables -----------------------------------------------------------
def test_system_tables_are_built_on_demand_per_database(store):
    cpu(store)
    calls: list[str] = []

    def triggers(db: str) -> pa.Table:
        calls.append(db)
        return pa.table({"trigger_name": [f"{db}-t1"], "disabled": [False]})

    store.system.register("processing_engine_triggers", triggers)
    assert store.system.names() == ["processing_engine_triggers"]
    qe = store.engine()
    qe.execute("db", "SELECT * FROM cpu")
    assert calls == []  # not mentioned, not built
    out = qe.execute("db", "SELECT * FROM system.processing_engine_triggers")
    assert rows(out) == [{"trigger_name": "db-t1", "disabled": False}]
    assert calls == ["db"]
    store.write("other", "x", [0], fields={"v": (F, [1.0])})
    assert rows(qe.execute("other", 'SELECT trigger_name FROM "system"."processing_engine_triggers"')) == [
        {"trigger_name": "other-t1"}
    ]


def test_system_tables_are_fresh_each_query_and_can_be_removed(store):
    cpu(store)
    counter = {"n": 0}

    def provider(db: str) -> pa.Table:
        counter["n"] += 1
        return pa.table({"n": [counter["n"]]})

    store.system.register("counter", provider)
    qe = store.engine()
    assert rows(qe.execute("db", "SELECT n FROM system.counter")) == [{"n": 1}]
    assert rows(qe.execute("db", "SELECT n FROM system.counter")) == [{"n": 2}]
    store.system.register("empty", lambda db: pa.table({"a": pa.array([], pa.int64())}))
    assert qe.execute("db", "SELECT * FROM system.empty").num_rows == 0
    store.system.unregister("counter")
    with pytest.raises(QueryError, match="not found"):
        qe.execute("db", "SELECT * FROM system.counter")


def test_system_table_provider_can_hide_a_table_in_some_databases(store):
    cpu(store, db="db")
    cpu(store, db="other")
    store.system.register("only_other", lambda db: pa.table({"x": [1]}) if db == "other" else None)
    qe = store.engine()
    assert rows(qe.execute("other", "SELECT x FROM system.only_other")) == [{"x": 1}]
    with pytest.raises(QueryError, match="not found"):
        qe.execute("db", "SELECT x FROM system.only_other")
    names = [r["table_name"] for r in rows(qe.execute("db", "SHOW TABLES")) if r["table_schema"] == "system"]
    assert names == ["queries"]  # system.queries is in every database


def test_system_table_registry_validates():
    st = SystemTables()
    with pytest.raises(ValueError):
        st.register("", lambda db: pa.table({}))
    st.register("bad", lambda db: {"not": "a table"})
    with pytest.raises(TypeError):
        st.build("db")


# -- threads -----------------------------------------------------------------
def test_concurrent_queries_while_appending(store):
    cpu(store, hosts=("h0",), start=0)
    qe = store.engine()
    errors: list[BaseException] = []
    seen: list[list[int]] = [[] for _ in range(4)]
    stop = threading.Event()

    def reader(k: int) -> None:
        try:
            while not stop.is_set():
                n = qe.execute("db", "SELECT count(*) AS n FROM cpu WHERE usage >= 0").column("n")[0].as_py()
                seen[k].append(n)
                if k == 0:
                    qe.execute("db", "SHOW TABLES")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 200):
            cpu(store, hosts=(f"h{i}",), start=i, usage=[float(i)])
            if i == 100:
                store.write("db", "cpu", [1000 * SEC], fields={"late": (I, [1])})  # schema change mid-way
                store.write("db", "second", [0], fields={"v": (F, [1.0])})
            time.sleep(0.0005)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    for counts in seen:
        assert counts, "a reader never completed a query"
        assert counts == sorted(counts)  # each reader sees a growing table
    assert qe.execute("db", "SELECT count(*) AS n FROM cpu WHERE usage >= 0").column("n").to_pylist() == [200]
