"""The `influxdb3_local` object (reference §3), the zero-copy table batches, and plugin dry runs
(`pe_engine.processing.dry_run`, reference §6.1).

Most checks run inside a request plugin written by the test: the plugin exercises the API and
returns what it saw as JSON, so the test reads one synchronous answer. Everything is real: an
Engine on tmp_path, plugin files on disk, the worker threads.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pyarrow as pa
import pytest

from pe_engine.engine import Engine
from pe_engine.processing.py_api import TableBatch, table_to_rows
from pe_engine.processing.dry_run import run_schedule_test, run_wal_test
from pe_engine.storage.flush import FlushCallback
from support.engines import GLOBAL, acts, gget, plugin, poll_rows, rows, wait_acts, wait_for


async def call(e: Engine, name: str, source: str, *, db: str = "db", query: dict | None = None) -> Any:
    """Run `source`'s process_request once through a request trigger and decode its JSON answer."""
    pe = e.processing
    plugin(e, f"{name}.py", source)
    if (db, name) not in pe.triggers:
        await pe.create_trigger(db, name, f"{name}.py", f"request:{name}")
    resp = await pe.handle_request(name, query or {}, {}, b"")
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


async def seed(e: Engine) -> None:
    await e.write_lp("db", "cpu,host=a usage=10i,load=0.5 1000\ncpu,host=b usage=20i 2000\ncpu,host=a usage=30i,load=1.5 3000")


# ------------------------------------------------------------------------------------- logging


WARNS = """
import threading
import warnings

def process_writes(influxdb3_local, table_batches, args=None):
    barrier = influxdb3_local.cache.get("barrier", None, use_global=True)
    if barrier is not None:
        barrier.wait(5)  # both triggers warn at the same time, in two worker threads
    warnings.warn("careful from " + args["me"])
    warnings.warn("odd in " + args["me"], RuntimeWarning)
"""


async def test_plugin_warnings_go_to_their_own_trigger_log_as_warn(eng: Engine, capfd, plugin_isolation: str) -> None:
    import threading

    pe = eng.processing
    plugin(eng, "warns_a.py", WARNS)
    plugin(eng, "warns_b.py", WARNS)  # two modules, so each location warns once in each
    if plugin_isolation == "thread":  # a barrier cannot reach a worker process, nor does one share a hook
        barrier = threading.Barrier(2)
        pe.caches.trigger_cache("test", "harness").put("barrier", barrier, use_global=True)
    await pe.create_trigger("db", "wa", "warns_a.py", "table:cpu", arguments={"me": "wa"})
    await pe.create_trigger("db", "wb", "warns_b.py", "table:cpu", arguments={"me": "wb"})
    await eng.write_lp("db", "cpu,host=a usage=1i 1")
    await wait_acts(eng, "wa", 1, "ok")
    await wait_acts(eng, "wb", 1, "ok")
    for me in ("wa", "wb"):
        got = await rows(eng, "db", "SELECT log_level, log_text FROM system.processing_engine_logs "
                                    f"WHERE trigger_name = '{me}' AND log_level = 'WARN' ORDER BY event_time")
        texts = [r["log_text"] for r in got]
        assert len(texts) == 2, texts
        assert texts[0].startswith(f"UserWarning: careful from {me} (") and "warns_" in texts[0]
        assert texts[1].startswith(f"RuntimeWarning: odd in {me} (")
        [a] = acts(eng, me)
        assert any(line.startswith(f"WARN: UserWarning: careful from {me}") for line in a.logs)
    assert "careful from" not in capfd.readouterr().err


def test_warnings_outside_plugin_threads_go_to_the_previous_hook(monkeypatch) -> None:
    import threading
    import warnings

    from pe_engine.processing import plugin_warnings

    seen: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda m, c, f, n, file=None, line=None: seen.append(str(m)))
    plugin_warnings.install()
    plugin_warnings.install()  # once: the previous hook stays the fallback, not itself
    routed: list[tuple[str, str]] = []

    def in_plugin() -> None:
        with plugin_warnings.routed_to(lambda level, text: routed.append((level, text))):
            warnings.warn_explicit("inside", UserWarning, "p.py", 1)
    t = threading.Thread(target=in_plugin)
    t.start()
    t.join()
    warnings.warn_explicit("outside", UserWarning, "q.py", 2)
    assert routed == [("WARN", "UserWarning: inside (p.py:1)")] and seen == ["outside"]


async def test_log_methods_join_args_with_spaces_into_the_logs_table(eng: Engine) -> None:
    got = await call(eng, "logger", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            out = [influxdb3_local.info("hello", 1, 2.5, None, [1, "x"]),
                   influxdb3_local.warn("careful"),
                   influxdb3_local.error("bad", "thing")]
            return {"returns": out}
    """)
    assert got == {"returns": [None, None, None]}
    table = await eng.query(
        "db",
        "SELECT event_time, time, trigger_name, log_level, log_text FROM system.processing_engine_logs "
        "WHERE trigger_name = 'logger' ORDER BY event_time",
    )
    assert table.schema.field("event_time").type == pa.timestamp("ns")
    assert table.schema.field("time").type == pa.timestamp("ns")
    got = [(r["log_level"], r["log_text"]) for r in table_to_rows(table)]
    assert ("INFO", "hello 1 2.5 None [1, 'x']") in got
    assert ("WARN", "careful") in got
    assert ("ERROR", "bad thing") in got
    assert got[0] == ("INFO", "starting execution of request plugin.")
    assert got[-1][1].startswith("finished execution in ")
    assert all(r["event_time"] == r["time"] for r in table_to_rows(table))
    # the same process-wide buffer is served in every database (InfluxDB Core)
    await eng.create_database("other")
    other = await rows(eng, "other", "SELECT log_text FROM system.processing_engine_logs WHERE log_text = 'careful'")
    assert other == [{"log_text": "careful"}]


# --------------------------------------------------------------------------------------- query


QUERY_PROBE = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    out = {}
    out["param"] = influxdb3_local.query("SELECT host, usage FROM cpu WHERE host = $h ORDER BY time", {"h": "a"})
    out["all"] = influxdb3_local.query("SELECT * FROM cpu ORDER BY time")
    out["empty"] = influxdb3_local.query("SELECT usage FROM cpu WHERE usage > 1000")
    out["other_db"] = influxdb3_local.query("SELECT v FROM elsewhere", database="other")
    try:
        influxdb3_local.query("SELECT usage FROM cpu WHERE usage > $n", {"n": 5})
    except TypeError as e:
        out["non_str_param"] = "TypeError"
    for key, fn in (
        ("bad_db", lambda: influxdb3_local.query("SELECT 1", database="nope")),
        ("bad_sql", lambda: influxdb3_local.query("SELECT nosuchcolumn FROM cpu")),
    ):
        try:
            fn()
        except Exception as e:
            out[key] = [type(e).__name__, str(e), isinstance(e, Exception)]
    try:
        QueryError
    except NameError:
        out["query_error_injected"] = False
    arrow = influxdb3_local.query_arrow("SELECT host, usage FROM cpu ORDER BY time")
    out["arrow"] = [type(arrow).__module__ + "." + type(arrow).__name__, arrow.num_rows, arrow.column_names]
    return out
"""


async def test_query_params_databases_errors_nulls_and_arrow(eng: Engine) -> None:
    await seed(eng)
    await eng.write_lp("other", "elsewhere v=7i 5")
    got = await call(eng, "q", QUERY_PROBE)
    assert got["param"] == [{"host": "a", "usage": 10}, {"host": "a", "usage": 30}]
    assert got["all"] == [
        {"host": "a", "load": 0.5, "time": 1000, "usage": 10},
        {"host": "b", "load": None, "time": 2000, "usage": 20},  # SQL NULL -> None
        {"host": "a", "load": 1.5, "time": 3000, "usage": 30},
    ]
    columns = (await eng.query("db", "SELECT * FROM cpu")).column_names
    assert [list(r) for r in got["all"]] == [columns] * 3  # keys in result-schema order
    assert got["empty"] == []
    assert got["other_db"] == [{"v": 7}]
    assert got["non_str_param"] == "TypeError"
    assert got["bad_db"] == ["QueryError", "invalid database name provided: nope", True]
    name, text, _ = got["bad_sql"]
    assert name == "QueryError"
    assert text.startswith("error: ") and text.endswith(" executing query on db: SELECT nosuchcolumn FROM cpu")
    assert "nosuchcolumn" in text[len("error: "):-len(" executing query on db: SELECT nosuchcolumn FROM cpu")]
    assert got["query_error_injected"] is False
    assert got["arrow"] == ["pyarrow.lib.Table", 3, ["host", "usage"]]


async def test_query_row_keys_follow_the_result_schema(eng: Engine) -> None:
    await seed(eng)
    got = await call(eng, "keys", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            return [list(r) for r in influxdb3_local.query("SELECT usage, time, host FROM cpu LIMIT 1")]
    """)
    assert got == [["usage", "time", "host"]]


# -------------------------------------------------------------------------------------- writes


async def test_queued_writes_are_flushed_after_success_to_each_database(eng: Engine) -> None:
    got = await call(eng, "writer", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            influxdb3_local.write(LineBuilder("queued").tag("t", "x").int64_field("n", 1).time_ns(10))
            influxdb3_local.write(LineBuilder("queued").tag("t", "y").int64_field("n", 2).time_ns(20))
            influxdb3_local.write_to_db("brand_new_db", LineBuilder("remote").float64_field("f", 3).time_ns(30))
            # nothing is written until the call returns
            return {"tables": [r["table_name"] for r in influxdb3_local.query("SHOW TABLES") if r["table_schema"] == "iox"]}
    """)
    assert "queued" not in got["tables"]

    assert await poll_rows(eng, "db", "SELECT t, n, time FROM queued ORDER BY time", 2) == [
        {"t": "x", "n": 1, "time": 10}, {"t": "y", "n": 2, "time": 20}]
    assert await poll_rows(eng, "brand_new_db", "SELECT f FROM remote", 1) == [{"f": 3.0}]
    assert acts(eng, "writer")[0].lines_out == 3


async def test_queued_writes_are_discarded_when_the_plugin_raises_but_sync_writes_stay(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "half.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.write_sync(LineBuilder("kept").int64_field("n", 1), False)
            influxdb3_local.write(LineBuilder("lost").int64_field("n", 1))
            influxdb3_local.write_to_db("other", LineBuilder("lost").int64_field("n", 1))
            raise RuntimeError("after writing")
    """)
    await pe.create_trigger("db", "half", "half.py", "table:src")
    await pe.create_trigger("db", "marker", "wal_plugin.py", "all_tables")
    await eng.write_lp("db", "src v=1i")
    [rec] = await wait_for(lambda: acts(eng, "half"), "the failed activation")
    assert rec.status == "error" and rec.error == "RuntimeError: after writing"
    assert await rows(eng, "db", "SELECT n FROM kept") == [{"n": 1}]  # written before the raise: stays
    # a later successful activation's write-back lands; the failed one's queued lines never do
    await eng.write_lp("db", "src2 v=1i")

    await poll_rows(eng, "db", "SELECT row_count FROM write_reports WHERE table_name = 'src2'", 1)
    assert "lost" not in eng.catalog.databases["db"].tables
    assert "other" not in eng.catalog.databases


async def test_write_sync_is_visible_inside_the_same_call(eng: Engine) -> None:
    await eng.create_database("other")
    got = await call(eng, "syncer", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            influxdb3_local.write_sync(LineBuilder("now").tag("k", "v").int64_field("n", 41), False)
            influxdb3_local.write_sync_to_db("other", LineBuilder("there").int64_field("n", 42), no_sync=False)
            out = {
                "here": influxdb3_local.query("SELECT k, n FROM now"),
                "there": influxdb3_local.query("SELECT n FROM there", database="other"),
            }
            try:
                influxdb3_local.write_sync(LineBuilder("now").int64_field("n", 1))
            except TypeError:
                out["no_sync_required"] = True
            try:
                influxdb3_local.write_sync(LineBuilder("now").string_field("n", "text"), False)
            except Exception as e:
                out["conflict"] = [type(e).__name__, str(e)]
            return out
    """)
    assert got["here"] == [{"k": "v", "n": 41}]
    assert got["there"] == [{"n": 42}]
    assert got["no_sync_required"] is True
    assert got["conflict"][0] == "Exception"
    assert got["conflict"][1].startswith("error writing line protocol to db: ")
    assert acts(eng, "syncer")[0].lines_out == 2


async def test_writes_to_internal_raise(eng: Engine) -> None:
    got = await call(eng, "internal", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            out = {}
            for name, fn in (
                ("write_to_db", lambda: influxdb3_local.write_to_db("_internal", LineBuilder("x").int64_field("n", 1))),
                ("write_sync_to_db", lambda: influxdb3_local.write_sync_to_db("_internal", LineBuilder("x").int64_field("n", 1), False)),
            ):
                try:
                    fn()
                    out[name] = "no error"
                except Exception as e:
                    out[name] = type(e).__name__
            return out
    """)
    assert got == {"write_to_db": "ValueError", "write_sync_to_db": "ValueError"}


async def test_invalid_line_raises_at_the_call_and_bad_write_back_is_only_logged(eng: Engine) -> None:
    pe = eng.processing
    await seed(eng)
    got = await call(eng, "badline", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            out = {}
            try:
                influxdb3_local.write(LineBuilder("nofields"))
            except Exception as e:
                out["build"] = type(e).__name__
            # a type conflict is only found when the queued lines are written back
            influxdb3_local.write(LineBuilder("cpu").string_field("usage", "text"))
            return out
    """)
    assert got == {"build": "InvalidLineError"}
    await wait_for(
        lambda: any(
            x.level == "ERROR" and x.text.startswith("error running request plugin: error writing back lines to db: ")
            for x in pe.logs.entries() if x.trigger == "badline"
        ),
        "the write-back error",
    )
    assert acts(eng, "badline")[0].status == "ok"  # write-back failures are not plugin errors


# --------------------------------------------------------------------------------------- cache


CACHE_PROBE = """
import math
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    c = influxdb3_local.cache
    op = query_parameters["op"]
    if op == "basics":
        out = {"missing": c.get("k"), "default": c.get("k", default="d")}
        c.put("k", {"nested": [1, 2]})
        out["got"] = c.get("k")
        out["same_object"] = c.get("k") is c.get("k")
        c.put("positional_ttl", "v", 3600)
        out["positional_ttl"] = c.get("positional_ttl")
        out["delete_existing"] = c.delete("k")
        out["delete_missing"] = c.delete("k")
        out["after_delete"] = c.get("k")
        c.put("short", "soon gone", ttl=0.05)
        out["before_expiry"] = c.get("short")
        time.sleep(0.15)
        out["after_expiry"] = c.get("short", "expired")
        out["delete_expired"] = c.delete("short")
        errors = []
        for bad in (-1, float("nan"), float("inf")):
            try:
                c.put("bad", 1, ttl=bad)
                errors.append("accepted")
            except ValueError:
                errors.append("ValueError")
        out["bad_ttl"] = errors
        return out
    if op == "put":
        c.put("k", query_parameters["value"])
        c.put("shared", query_parameters["value"], use_global=True)
        return {}
    if op == "get":
        return {"local": c.get("k"), "global": c.get("shared", use_global=True), "global_k": c.get("k", use_global=True)}
    raise AssertionError(op)
"""


async def test_cache_get_put_delete_and_ttl(eng: Engine, plugin_isolation: str) -> None:
    got = await call(eng, "cache_a", CACHE_PROBE, query={"op": "basics"})
    assert got == {
        "missing": None,
        "default": "d",
        "got": {"nested": [1, 2]},
        "same_object": plugin_isolation == "thread",  # a worker process gets a pickled copy each time
        "positional_ttl": "v",
        "delete_existing": True,
        "delete_missing": False,
        "after_delete": None,
        "before_expiry": "soon gone",
        "after_expiry": "expired",
        "delete_expired": False,
        "bad_ttl": ["ValueError", "ValueError", "ValueError"],
    }


async def test_trigger_caches_are_isolated_and_the_global_one_is_shared(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "cache_probe.py", CACHE_PROBE)
    await eng.create_database("db2")
    await pe.create_trigger("db", "a", "cache_probe.py", "request:a")
    await pe.create_trigger("db", "b", "cache_probe.py", "request:b")
    await pe.create_trigger("db2", "a", "cache_probe.py", "request:a_db2")  # same name, other database

    async def req(path: str, **q: str) -> dict:
        r = await pe.handle_request(path, q, {}, b"")
        assert r.status == 200, r.body
        return json.loads(r.body)

    await req("a", op="put", value="from a")
    assert await req("b", op="get") == {"local": None, "global": "from a", "global_k": None}
    assert await req("a_db2", op="get") == {"local": None, "global": "from a", "global_k": None}
    await req("b", op="put", value="from b")
    assert await req("a", op="get") == {"local": "from a", "global": "from b", "global_k": None}
    assert await req("b", op="get") == {"local": "from b", "global": "from b", "global_k": None}
    assert pe.caches.get_value(("trigger", "db", "a"), "k") == "from a"
    assert pe.caches.get_value(("trigger", "db", "b"), "k") == "from b"
    assert pe.caches.get_value(GLOBAL, "shared") == "from b"


# --------------------------------------------------------------------------------- zero copy


async def test_arrow_entry_is_the_flushed_batch_and_rows_are_never_built_for_arrow_readers(
        eng: Engine, plugin_isolation: str) -> None:
    pe = eng.processing
    flushed: list = []
    eng.subscribe(FlushCallback(flushed.extend))  # a second, real subscriber to the engine's flush
    plugin(eng, "keep_batches.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            kept = influxdb3_local.cache.get("kept", [], use_global=True)
            kept.append(table_batches)
            influxdb3_local.cache.put("kept", kept, use_global=True)
            for tb in table_batches:
                influxdb3_local.info(tb["table_name"], tb["arrow"].num_rows)
    """)
    await pe.create_trigger("db", "keeper", "keep_batches.py", "all_tables")
    await pe.create_trigger("db", "summer", "arrow_sum.py", "table:m", arguments={"field": "v"})
    await eng.write_lp("db", "m,host=a v=1.5 1\nm,host=b v=2.5 2\nn x=1i 3")
    await wait_for(lambda: acts(eng, "keeper"), "the keeper trigger")
    kept = gget(eng, "kept")[0]  # the first flush (arrow_sum's write-back makes another one)
    await wait_for(lambda: [a for a in acts(eng, "summer") if a.status == "ok"], "the arrow_sum trigger")
    [fw] = [f for f in flushed if f.database == "db" and "m" in f.tables]
    by_name = {tb["table_name"]: tb for tb in kept}
    assert set(by_name) == {"m", "n"}
    for name, tb in by_name.items():
        assert isinstance(tb["arrow"], pa.RecordBatch)
        if plugin_isolation == "thread":
            assert tb["arrow"] is fw.tables[name]  # the flushed batch itself, not a copy
        else:  # a worker maps the one shared-memory copy; what it put in the cache crossed pickled
            assert tb["arrow"].equals(fw.tables[name])
        assert not dict.__contains__(tb, "rows")  # the plugin read only arrow: no rows were built
    assert pe.caches.get_value(("trigger", "db", "summer"), "total:m") == 4.0
    assert await poll_rows(eng, "db", "SELECT table_name, sum, rows FROM arrow_sums", 1) == [
        {"table_name": "m", "sum": 4.0, "rows": 2}]


@pytest.mark.parametrize(
    "access",
    [
        lambda tb: tb["rows"],
        lambda tb: tb.get("rows"),
        lambda tb: "rows" in tb and tb["rows"],
        lambda tb: list(tb) and tb["rows"],
        lambda tb: dict(tb)["rows"],
        lambda tb: dict(tb.items())["rows"],
        lambda tb: dict(zip(tb.keys(), tb.values()))["rows"],
        lambda tb: {**tb}["rows"],
        lambda tb: json.loads(json.dumps(tb, default=str))["rows"],
        lambda tb: tb.copy()["rows"],
    ],
    ids=["getitem", "get", "contains", "list", "dict", "items", "keys_values", "unpack", "json", "copy"],
)
def test_every_ordinary_dict_access_sees_rows(access) -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "host": pa.array(["a", "b"], pa.dictionary(pa.int32(), pa.string())),
            "v": pa.array([1, None], pa.int64()),
            "time": pa.array([1, 2], pa.timestamp("ns")),
        }
    )
    tb = TableBatch("m", batch)
    assert not dict.__contains__(tb, "rows")
    got = access(tb)
    assert got == [{"host": "a", "v": 1, "time": 1}, {"host": "b", "time": 2}]
    assert "rows" in list(tb) and len(tb) == 3
    assert tb["table_name"] == "m"


# ------------------------------------------------------------------------------------ dry runs


async def test_wal_dry_run_captures_writes_instead_of_writing(eng: Engine) -> None:
    pe = eng.processing
    out = await run_wal_test(
        pe, filename="wal_plugin.py", database="db",
        input_lp="cpu,host=a usage=1i\ncpu,host=b usage=2i\nmem free=3i",
        input_arguments={"double_count_table": "mem"},
    )
    assert set(out) == {"log_lines", "database_writes", "errors"}
    assert out["errors"] == []
    assert out["database_writes"] == {
        "db": ["write_reports,table_name=cpu row_count=2i", "write_reports,table_name=mem row_count=2i"]}
    assert out["log_lines"][0] == "INFO: starting execution of wal plugin."
    assert "INFO: wal_plugin.py done" in out["log_lines"]
    assert out["log_lines"][-1].startswith("INFO: finished execution in ")
    assert "write_reports" not in eng.catalog.databases["db"].tables  # captured, not written
    assert "cpu" not in eng.catalog.databases["db"].tables  # the input is not written either


async def test_wal_dry_run_reports_plugin_errors_and_bad_writes(eng: Engine) -> None:
    pe = eng.processing
    out = await run_wal_test(pe, filename="raises.py", database="db", input_lp="cpu v=1i")
    assert out["errors"] == ["ValueError: boom"]
    out = await run_wal_test(pe, filename="no_entry_point.py", database="db", input_lp="cpu v=1i")
    assert out["errors"] == [
        "the process_writes function is not present in the plugin. Should be defined as: "
        "process_writes(influxdb3_local, table_batches, args=None)"]
    await eng.write_lp("db", "cpu usage=1i")
    plugin(eng, "conflict.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.write(LineBuilder("cpu").string_field("usage", "now a string"))
    """)
    out = await run_wal_test(pe, filename="conflict.py", database="db", input_lp="x v=1i")
    assert out["database_writes"] == {"db": ['cpu usage="now a string"']}
    assert len(out["errors"]) == 1 and "usage" in out["errors"][0]


async def test_schedule_dry_run_returns_trigger_time(eng: Engine) -> None:
    pe = eng.processing
    t0 = (int(time.time()) // 3600 - 2) * 3600  # an hour bucket well inside the window
    await eng.write_lp("db", f"cpu,host=a usage=10 {t0}\ncpu,host=a usage=30 {t0 + 60}", precision="s")
    out = await run_schedule_test(
        pe, filename="downsample_schedule.py", database="db", schedule="*/5 * * * * *",
        input_arguments={"source_measurement": "cpu", "target_measurement": "cpu_ds", "field": "usage",
                         "window": "1d", "interval": "1h"},
    )
    assert set(out) == {"trigger_time", "log_lines", "database_writes", "errors"}
    assert out["errors"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:[0-5]\dZ", out["trigger_time"])
    assert int(out["trigger_time"][-3:-1]) % 5 == 0
    assert out["log_lines"][0].startswith("INFO: starting execution with scheduled time ")
    assert any("downsampled 1 bucket(s) from cpu into cpu_ds" in line for line in out["log_lines"])
    assert out["database_writes"] == {"db": [f"cpu_ds,host=a usage=20.0,record_count=2i {t0 * 10**9}"]}
    assert "cpu_ds" not in eng.catalog.databases["db"].tables
    out = await run_schedule_test(pe, filename="downsample_schedule.py", database="missing_db")
    assert out["errors"] and "missing_db" in out["errors"][0]


async def test_dry_run_of_a_runaway_plugin_is_stopped_at_the_test_deadline(eng: Engine, monkeypatch, tmp_path) -> None:
    from pe_engine.processing import dry_run as testing

    monkeypatch.setattr(testing, "TEST_DEADLINE", 0.3)
    pe = eng.processing
    beat = tmp_path / "heartbeat"  # the loop's progress, readable whether it runs in a thread or a worker
    plugin(eng, "runaway.py", f"""
        def process_writes(influxdb3_local, table_batches, args=None):
            n = 0
            while True:
                n += 1
                if n % 20000 == 0:
                    with open({str(beat)!r}, "w") as f:
                        f.write(str(n))
    """)
    out = await run_wal_test(pe, filename="runaway.py", database="db", input_lp="x v=1i", cache_name="runaway")
    assert out["errors"] == ["plugin did not finish within 0.3s"]

    def read() -> str:
        try:
            return beat.read_text()
        except FileNotFoundError:
            return ""

    deadline = time.monotonic() + 10
    while True:  # no progress for 0.2 s: interrupted (a thread) or stopped (a worker), not left spinning
        before = read()
        await asyncio.sleep(0.2)
        if read() == before:
            break
        assert time.monotonic() < deadline, "the runaway loop is still running"


async def test_dry_run_contains_system_exit(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "exits.py", """
        import sys

        def process_scheduled_call(influxdb3_local, call_time, args=None):
            sys.exit(3)
    """)
    out = await run_schedule_test(pe, filename="exits.py", database="db")
    assert out["errors"] == ["SystemExit: 3"]


async def test_dry_runs_share_a_named_test_cache_that_expires_and_need_no_database(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "test_counter.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            n = influxdb3_local.cache.get("n", 0) + 1
            influxdb3_local.cache.put("n", n)
            influxdb3_local.cache.put("shared", n, use_global=True)
            influxdb3_local.info("run", n, "tables", ",".join(tb["table_name"] for tb in table_batches))
    """)

    async def run(cache_name: str | None, database: str = "db") -> list[str]:
        out = await run_wal_test(pe, filename="test_counter.py", database=database, input_lp="a v=1i\nb v=2i",
                                 cache_name=cache_name)
        assert out["errors"] == []
        return [line for line in out["log_lines"] if line.startswith("INFO: run")]

    assert await run(None) == ["INFO: run 1 tables a,b"]
    assert await run(None) == ["INFO: run 2 tables a,b"]  # default cache "_shared_test" is kept between runs
    assert await run("mine", database="not_created_yet") == ["INFO: run 1 tables a,b"]
    assert "not_created_yet" not in eng.catalog.databases
    [entry] = [x for x in pe.caches.entries(("test", "_shared_test")) if x.key == "n"]
    assert entry.ttl_remaining is not None and 1700 < entry.ttl_remaining <= 1800  # 30 minutes without ttl
    # test runs never touch production caches
    assert all(ns[0] == "test" for ns in pe.caches.namespaces())
