"""Governed queries on a real QueryEngine: timeouts and cancels stop the query where it is, the
per-query memory limit answers a clear error, admission bounds what runs and waits, queries of
one database run side by side, and system.queries lists them."""
from __future__ import annotations

import threading
from collections.abc import Callable

import pyarrow as pa
import pytest

from pe_engine.errors import QueryError
from pe_engine.lineprotocol.types import FieldType, ParsedTable
from pe_engine.storage.batch import to_record_batch
from pe_engine.storage.buffer import BufferStore
from pe_engine.storage.catalog import Catalog
from pe_engine.storage.query import QueryEngine
from pe_engine.storage.query_governor import (
    QueryCancelled,
    QueryGovernor,
    QueryLimits,
    QueryMemoryExceeded,
    QueryRejected,
    QueryStatus,
    QueryTimedOut,
)
from pe_engine.storage.system_tables import SystemTables
from support.waiting import wait_until

MiB = 1024 * 1024
# Minutes of work on 2 cores unless stopped: a three-way cross join of 2,000 rows.
SLOW = "SELECT count(*) AS n FROM t a CROSS JOIN t b CROSS JOIN t c WHERE a.v + b.v + c.v = -1"
INFLUX_COLUMNS = ["id", "phase", "issue_time", "query_type", "query_text", "partitions", "parquet_files",
                  "plan_duration", "permit_duration", "execute_duration", "end2end_duration", "compute_duration",
                  "max_memory", "success", "running", "cancelled", "trace_id"]


def fill(catalog: Catalog, buffers: BufferStore, db: str, table: str, n: int, seq: int = 1) -> None:
    dbdef = catalog.create_db(db, exist_ok=True)
    pt = ParsedTable(table, n, list(range(1, n + 1)), list(range(1, n + 1)),
                     {"k": [f"k{i % 7}" for i in range(n)]}, {"v": (FieldType.INT, list(range(n)))})
    plan = catalog.plan_write(dbdef, {table: pt})
    assert not plan.errors
    catalog.apply_plan(dbdef, plan)
    buffers.table(db, table).append(to_record_batch(dbdef.tables[table], pt), seq)


def make(rows: int = 2000, **limits) -> QueryEngine:
    catalog, buffers = Catalog(), BufferStore()
    fill(catalog, buffers, "db", "t", rows)
    return QueryEngine(catalog, buffers, SystemTables(), limits=QueryLimits(**limits))


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - the test reads it
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def statuses(qe: QueryEngine) -> dict[str, str]:
    return {r.text: str(r.status) for r in qe.governor.records()}


def test_timeout_stops_the_query_and_frees_its_slot():
    qe = make(max_concurrent=1, max_queued=0)
    with pytest.raises(QueryTimedOut, match="within 0.3 s"):
        qe.execute("db", SLOW, timeout=0.3)
    assert qe.governor.active == 0
    # the only slot is free again: the next query runs instead of being rejected
    assert qe.execute("db", "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 2000
    assert statuses(qe)[SLOW] == "timeout"


def test_cancel_from_another_thread_and_poll():
    qe = make()
    h = qe.governor.open("db", SLOW)
    t, out = in_thread(lambda: qe.execute("db", SLOW, handle=h))
    wait_until(lambda: qe.governor.active == 1 and h.record.phase == "planned", "the query to run")
    h.cancel()
    t.join(30)
    assert not t.is_alive() and isinstance(out[0], QueryCancelled)
    gone = threading.Event()
    t, out = in_thread(lambda: qe.execute("db", SLOW, poll=gone.is_set))
    wait_until(lambda: qe.governor.active == 1, "the second query to run")
    gone.set()  # e.g. a Flight client cancelled the call
    t.join(30)
    assert not t.is_alive() and isinstance(out[0], QueryCancelled)
    assert qe.governor.active == 0
    rows = [r for r in qe.governor.records() if r.text == SLOW]
    assert [str(r.status) for r in rows] == ["cancelled", "cancelled"]


def test_cross_join_past_the_memory_limit_is_a_clear_error():
    qe = make(rows=10_000, memory_limit=16 * MiB, memory_budget=64 * MiB)
    sql = "SELECT a.v AS x, b.v AS y FROM t a CROSS JOIN t b"  # 100M rows
    with pytest.raises(QueryMemoryExceeded, match=f"query exceeded its memory limit of {16 * MiB} bytes") as e:
        qe.execute("db", sql)
    assert e.value.status == 422 and isinstance(e.value, QueryError)
    assert qe.execute("db", "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 10_000
    assert statuses(qe)[sql] == "failed"


def test_a_sort_larger_than_the_limit_spills_instead_of_failing():
    qe = make(rows=200_000, memory_limit=8 * MiB, memory_budget=64 * MiB)
    got = qe.execute("db", "SELECT v FROM t ORDER BY k, v DESC LIMIT 3")
    assert got.num_rows == 3


def test_queue_is_bounded_and_fifo():
    qe = make(max_concurrent=1, max_queued=1)
    first = qe.governor.open("db", SLOW)
    t1, out1 = in_thread(lambda: qe.execute("db", SLOW, handle=first))
    wait_until(lambda: qe.governor.active == 1, "the first query to run")
    t2, out2 = in_thread(lambda: qe.execute("db", "SELECT 2 AS x"))
    wait_until(lambda: qe.governor.waiting == 1, "the second query to wait")
    with pytest.raises(QueryRejected, match="too many queries") as e:
        qe.execute("db", "SELECT 3 AS x")
    assert e.value.status == 503 and e.value.retry_after >= 1
    first.cancel()
    t1.join(30)
    t2.join(30)
    assert isinstance(out1[0], QueryCancelled)
    assert out2[0].column("x").to_pylist() == [2]  # the waiting one ran once the slot was free


def test_a_waiting_query_times_out_in_the_queue():
    qe = make(max_concurrent=1, max_queued=4)
    first = qe.governor.open("db", SLOW)
    t1, out1 = in_thread(lambda: qe.execute("db", SLOW, handle=first))
    wait_until(lambda: qe.governor.active == 1, "the first query to run")
    with pytest.raises(QueryTimedOut):
        qe.execute("db", "SELECT 2 AS x", timeout=0.2)
    assert qe.governor.waiting == 0
    first.cancel()
    t1.join(30)


def test_queries_of_one_database_run_side_by_side():
    qe = make(max_concurrent=4)
    handles = [qe.governor.open("db", SLOW) for _ in range(3)]
    runs = [in_thread(lambda h=h: qe.execute("db", SLOW, handle=h)) for h in handles]
    # all three are executing at once: planned, none waiting for another's lock
    wait_until(lambda: all(h.record.phase == "planned" for h in handles), "three queries executing together")
    assert qe.governor.active == 3
    for h in handles:
        h.cancel()
    for t, out in runs:
        t.join(30)
        assert isinstance(out[0], QueryCancelled)


def test_answers_stay_consistent_while_writes_land():
    catalog, buffers = Catalog(), BufferStore()
    fill(catalog, buffers, "db", "t", 100)
    qe = QueryEngine(catalog, buffers, SystemTables(), limits=QueryLimits(max_concurrent=4))
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.append(qe.execute("db", "SELECT count(*) AS n FROM t").column("n")[0].as_py())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for seq in range(2, 60):
            td = buffers.table("db", "t")
            schema = catalog.databases["db"].tables["t"].arrow_schema
            batch = td.view(schema).mem[0].batch
            td.append(batch.slice(0, 100), seq)  # the same points again: every answer still has 100
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert seen and all(n == 100 for n in seen)  # repeated points never show twice


def test_system_queries_lists_running_and_recent_queries():
    qe = make()
    qe.execute("db", "SELECT 1 AS one")
    with pytest.raises(QueryError):
        qe.execute("db", "SELECT nope FROM t")
    got = qe.execute("db", "SELECT * FROM system.queries ORDER BY issue_time")
    assert got.schema.names[:len(INFLUX_COLUMNS)] == INFLUX_COLUMNS
    assert {"database", "status", "rows", "error"} <= set(got.schema.names)
    times = [n for n in got.schema.names if n == "issue_time" or n.endswith("_duration")]
    assert got.column("end2end_duration").null_count == 0
    rows = got.drop_columns(times).to_pylist()
    by_text = {r["query_text"]: r for r in rows}
    ok = by_text["SELECT 1 AS one"]
    assert ok["success"] and not ok["running"] and ok["status"] == "success" and ok["rows"] == 1
    assert ok["phase"] == "success"
    bad = by_text["SELECT nope FROM t"]
    assert not bad["success"] and bad["status"] == "failed" and "nope" in bad["error"]
    me = by_text["SELECT * FROM system.queries ORDER BY issue_time"]
    assert me["running"] and me["status"] == "running"
    # another database's system.queries does not list them; _internal lists all
    fill(qe.catalog, qe.buffers, "other", "t", 1)
    assert "SELECT 1 AS one" not in qe.execute("other", "SELECT query_text FROM system.queries") \
        .column("query_text").to_pylist()
    assert "SELECT 1 AS one" in qe.execute("_internal", "SELECT query_text FROM system.queries") \
        .column("query_text").to_pylist()


def test_recent_queries_are_a_bounded_ring():
    catalog, buffers = Catalog(), BufferStore()
    fill(catalog, buffers, "db", "t", 10)
    qe = QueryEngine(catalog, buffers, SystemTables(), governor=QueryGovernor(history=5))
    for i in range(12):
        qe.execute("db", f"SELECT {i} AS i")
    texts = [r.text for r in qe.governor.records()]
    assert texts == [f"SELECT {i} AS i" for i in range(7, 12)]


def test_limits_resolve_within_the_budget():
    lim = QueryLimits(max_concurrent=8, memory_limit=3 * MiB, memory_budget=10 * MiB).resolved()
    assert lim.slots == 3  # three queries of 3 MiB fit in 10 MiB
    lim = QueryLimits(memory_limit=100 * MiB, memory_budget=10 * MiB).resolved()
    assert lim.memory_limit == 10 * MiB and lim.slots == 1
    assert QueryLimits().resolved().max_concurrent >= 2
    assert QueryStatus.TIMEOUT == "timeout"


def test_answer_types_unchanged_for_empty_results():
    qe = make(rows=10)
    got = qe.execute("db", "SELECT k, v FROM t WHERE v < 0")
    assert got.num_rows == 0 and got.schema.field("v").type == pa.int64()
