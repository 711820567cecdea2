"""Processing engine, execution side: how plugins are called (reference §2), ordering and
concurrency, queue overflow, deadlines and resource limits, error behaviours (§5.4), hot reload,
and an engine that keeps serving while plugins misbehave.

Everything runs for real: an Engine on tmp_path, plugin files from tests/support/plugins (copied into the
plugin dir) or written by the test, the real worker pool and watchdog threads, or worker processes:
every test that takes `eng` runs in both isolation modes. Plugins report what they saw through
the plugin cache; the tests that share a live object with them (stored by reference, which only
a thread can see) run in thread mode only.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from typing import Any

import pytest

from pe_engine.engine import Engine
from pe_engine.processing import runtime as dispatcher
from pe_engine.processing.triggers import TriggerSettings
from support.engines import acts, gget, gput, log_texts, plugin, rows, wait_acts, wait_for


MISSING = {
    "wal": "the process_writes function is not present in the plugin. Should be defined as: "
    "process_writes(influxdb3_local, table_batches, args=None)",
    "schedule": "the process_scheduled_call function is not present in the plugin. Should be defined as: "
    "process_scheduled_call(influxdb3_local, call_time, args=None)",
    "request": "the process_request function is not present in the plugin. Should be defined as: "
    "process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None) "
    "-> Tuple[str, Optional[Dict[str, str]]]",
}


# ---------------------------------------------------------------------------------------- helpers


class Probe:
    """Shared with plugins through the global cache: counts who runs at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.active = 0
        self.max_active = 0
        self.seen: list[Any] = []

    def enter(self, item: Any) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.seen.append(item)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1


BLOCKING_PROBE = """
import time

def process_writes(influxdb3_local, table_batches, args=None):
    probe = influxdb3_local.cache.get("probe", use_global=True)
    probe.enter(table_batches[0]["rows"][0]["v"])
    try:
        if args and args.get("mode") == "sleep":
            time.sleep(0.03)
        else:
            probe.release.wait(20)
    finally:
        probe.leave()
"""


# ------------------------------------------------------------------------- call semantics (§2)


async def test_wal_rows_have_only_present_columns_typed_in_tag_field_time_order(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "rows_probe.py", """
        def process_writes(api, batches, a):  # no defaults: works only if called positionally
            calls = api.cache.get("calls", [], use_global=True)
            calls.append({"args": a, "batches": [(tb["table_name"], tb["rows"]) for tb in batches]})
            api.cache.put("calls", calls, use_global=True)
    """)
    await pe.create_trigger("db", "with_args", "rows_probe.py", "table:cpu", arguments={"k": "v", "eq": "a=b"})
    lp = (
        'cpu,host=A,region=west usage=1i,system=23.2 100\n'
        'cpu,host=B free=7u,ok=true,msg="hi \\"there\\"" 200\n'
        'cpu,region=east usage=-3i 300'
    )
    await eng.write_lp("db", lp)
    calls = await wait_for(lambda: gget(eng, "calls"), "the plugin call")
    assert len(calls) == 1
    assert calls[0]["args"] == {"k": "v", "eq": "a=b"}
    [(table, got)] = calls[0]["batches"]
    assert table == "cpu"
    assert got == [
        {"host": "A", "region": "west", "usage": 1, "system": 23.2, "time": 100},
        {"host": "B", "free": 7, "ok": True, "msg": 'hi "there"', "time": 200},
        {"region": "east", "usage": -3, "time": 300},
    ]
    assert [list(r) for r in got] == [
        ["host", "region", "usage", "system", "time"],
        ["host", "free", "ok", "msg", "time"],
        ["region", "usage", "time"],
    ]
    first, second, _ = got
    assert type(first["host"]) is str and type(first["usage"]) is int and type(first["system"]) is float
    assert type(second["free"]) is int and type(second["ok"]) is bool and type(second["msg"]) is str
    assert type(first["time"]) is int
    # a later flush adds a tag after the fields already exist: still tags, fields, time
    await eng.write_lp("db", "cpu,host=C,zone=z usage=5i,system=1 400")
    calls = await wait_for(lambda: len(gget(eng, "calls")) == 2 and gget(eng, "calls"), "the second call")
    [(_, [row])] = calls[1]["batches"]
    assert list(row.items()) == [("host", "C"), ("zone", "z"), ("usage", 5), ("system", 1.0), ("time", 400)]
    assert type(row["system"]) is float


async def test_args_is_none_without_arguments(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "args_probe.py", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            return {"args": args, "is_none": args is None}
    """)
    await pe.create_trigger("db", "no_args", "args_probe.py", "request:noargs")
    await pe.create_trigger("db", "empty_args", "args_probe.py", "request:emptyargs", arguments={})
    await pe.create_trigger("db", "some_args", "args_probe.py", "request:someargs", arguments={"a": "1"})
    for path, expected in (("noargs", None), ("emptyargs", None), ("someargs", {"a": "1"})):
        resp = await pe.handle_request(path, {}, {}, b"")
        assert resp.status == 200
        assert json.loads(resp.body) == {"args": expected, "is_none": expected is None}


async def test_call_time_is_naive_scheduled_time_truncated_to_seconds(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "time_probe.py", """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            seen = influxdb3_local.cache.get("call_times", [], use_global=True)
            seen.append(call_time)
            influxdb3_local.cache.put("call_times", seen, use_global=True)
    """)
    await pe.create_trigger("db", "ticks", "time_probe.py", "every:1s")
    done = await wait_acts(eng, "ticks", 2, "ok")
    seen = gget(eng, "call_times")
    assert len(seen) >= 2
    for rec, call_time in zip(done, seen):
        assert type(call_time) is dt.datetime
        assert call_time.tzinfo is None and call_time.microsecond == 0
        assert rec.scheduled_at == int(rec.scheduled_at)  # fired on a whole second
        # naive *local* time of the scheduled instant, as datetime.fromtimestamp gives
        assert call_time == dt.datetime.fromtimestamp(rec.scheduled_at)
        assert call_time.timestamp() == rec.scheduled_at
    assert seen[1] - seen[0] == dt.timedelta(seconds=1)


async def test_request_inputs_headers_body_and_query_last_wins_over_http(eng: Engine) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from pe_engine.http.app import create_app

    pe = eng.processing
    plugin(eng, "echo.py", """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            return {
                "query": query_parameters,
                "headers": {k: v for k, v in request_headers.items() if k.startswith("x-") or k == "authorization"},
                "lower": all(k == k.lower() for k in request_headers),
                "body_type": type(request_body).__name__,
                "body": request_body.decode(),
            }
    """)
    await pe.create_trigger("db", "echo", "echo.py", "request:echo/deep")
    async with TestClient(TestServer(create_app(eng))) as client:
        r = await client.post(
            "/api/v3/engine/echo/deep?a=1&b=x%20y&a=2",
            data=b'{"hello": 1}',
            headers={"X-Custom-Thing": "Value", "Authorization": "Bearer secret"},
        )
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/json")
        got = await r.json()
        assert got["query"] == {"a": "2", "b": "x y"}
        assert got["headers"] == {"x-custom-thing": "Value"}  # lowercased, Authorization removed
        assert got["lower"] is True
        assert got["body_type"] == "bytes" and got["body"] == '{"hello": 1}'
        r = await client.get("/api/v3/engine/echo/deep")
        got = await r.json()
        assert got["body_type"] == "bytes" and got["body"] == "" and got["query"] == {}
        r = await client.get("/api/v3/engine/echo")
        assert r.status == 404
        assert await r.read() == b'{error: "not found"}'
        plugin(eng, "bad_headers.py", """
            def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
                return "ok", 200, {"X-Bad": "a\\r\\nInjected: 1", "Content-type": "text/plain"}
        """)
        await pe.create_trigger("db", "bad_headers", "bad_headers.py", "request:bad_headers")
        r = await client.get("/api/v3/engine/bad_headers")
        assert (r.status, await r.text(), r.headers["X-Bad"]) == (200, "ok", "")
        assert r.headers.getall("Content-Type") == ["text/plain"] and "Injected" not in r.headers


RESPONSES = """
class FlaskLike:
    status_code = 203
    headers = {"Content-Type": "application/xml", "X-Flask": "yes"}

    def __init__(self, data):
        self.data = data

    def __flask_response__(self):
        return True

    def get_data(self):
        return self.data


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    mode = query_parameters["mode"]
    if mode == "str":
        return "<b>hi</b>"
    if mode == "dict":
        return {"a": 1, "b": [1, 2], "c": "\u00e9"}
    if mode == "list":
        return [1, "two"]
    if mode == "tuple_status":
        return "created", 201
    if mode == "tuple_status_headers":
        return {"ok": True}, 202, {"X-Extra": "1"}
    if mode == "tuple_headers":
        return "with headers", {"X-Second": "2"}
    if mode == "tuple_ctype":
        return "plain", 200, {"Content-Type": "text/plain"}
    if mode == "tuple_ctype_case":
        return "plain", {"content-TYPE": "text/csv", "X-A": "1"}
    if mode == "bad_header_value":
        return "x", 200, {"X-Bad": "a\\r\\nInjected: 1", "X-Num": 5}
    if mode == "bad_header_name":
        return "x", 200, {"X Bad": "v"}
    if mode == "tuple_other":
        return 42, 418
    if mode == "generator":
        return (part for part in ["a", b"b", "c"])
    if mode == "set":
        return {"only"}
    if mode == "bytes":
        return b"raw"
    if mode == "none":
        return None
    if mode == "int":
        return 5
    if mode == "bad_status":
        return "x", 1000
    if mode == "flask":
        return FlaskLike("<x/>")
    if mode == "flask_bytes":
        return FlaskLike(b"<x/>")
    if mode == "bad_third":
        return "x", 200, "not a dict"
    raise AssertionError(mode)
"""


@pytest.mark.parametrize(
    "mode, status, body, ctype, headers",
    [
        ("str", 200, b"<b>hi</b>", "text/html", {}),
        ("dict", 200, b'{"a": 1, "b": [1, 2], "c": "\\u00e9"}', "application/json", {}),
        ("list", 200, b'[1, "two"]', "application/json", {}),
        ("tuple_status", 201, b"created", "text/html", {}),
        ("tuple_status_headers", 202, b'{"ok": true}', "application/json", {"X-Extra": "1"}),
        ("tuple_headers", 200, b"with headers", "text/html", {"X-Second": "2"}),
        ("tuple_ctype", 200, b"plain", "text/plain", {}),
        ("tuple_other", 418, b"42", "text/plain", {}),
        ("tuple_ctype_case", 200, b"plain", "text/csv", {"X-A": "1"}),
        ("bad_header_value", 200, b"x", "text/html", {"X-Bad": "", "X-Num": "5"}),
        ("generator", 200, b"abc", "text/html", {}),
        ("set", 200, b"only", "text/html", {}),
        ("bytes", 200, b"", "text/html", {}),
        ("flask", 203, b"<x/>", "application/xml", {"X-Flask": "yes"}),
    ],
)
async def test_request_return_value_conversions(eng: Engine, mode, status, body, ctype, headers) -> None:
    pe = eng.processing
    plugin(eng, "responses.py", RESPONSES)
    await pe.create_trigger("db", "resp", "responses.py", "request:resp")
    r = await pe.handle_request("resp", {"mode": mode}, {}, b"")
    assert (r.status, r.body, r.content_type, r.headers) == (status, body, ctype, headers)


@pytest.mark.parametrize("mode", ["none", "int", "bad_status", "bad_third", "flask_bytes", "bad_header_name"])
async def test_unsupported_return_values_answer_500(eng: Engine, mode: str) -> None:
    pe = eng.processing
    plugin(eng, "responses.py", RESPONSES)
    await pe.create_trigger("db", "resp", "responses.py", "request:resp")
    r = await pe.handle_request("resp", {"mode": mode}, {}, b"")
    assert r.status == 500
    assert r.content_type == "application/json"
    assert set(json.loads(r.body)) == {"error"}
    if mode in ("none", "int"):
        assert "Unsupported return type from Python function" in json.loads(r.body)["error"]


async def test_request_plugin_exception_answers_500_with_influx_message(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "boom", "raises.py", "request:boom", settings=TriggerSettings(error_behavior="disable"))
    r = await pe.handle_request("boom", {}, {}, b"")
    assert r.status == 500
    assert r.body == b'{"error": "Python function call failed: ValueError: boom"}'
    assert r.content_type == "application/json"
    assert any(x.level == "ERROR" and "ValueError: boom" in x.text for x in pe.logs.entries() if x.trigger == "boom")
    # request triggers ignore error_behavior: still enabled, still answering
    assert not pe.get("db", "boom").disabled
    assert (await pe.handle_request("boom", {}, {}, b"")).status == 500
    assert "raises_queued" not in eng.catalog.databases["db"].tables  # queued write discarded


async def test_missing_entry_point_exact_texts(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "w", "no_entry_point.py", "table:cpu")
    await pe.create_trigger("db", "s", "no_entry_point.py", "every:1h")
    await pe.create_trigger("db", "r", "no_entry_point.py", "request:nep")
    await eng.write_lp("db", "cpu v=1i")
    await pe.run_now("db", "s")
    r = await pe.handle_request("nep", {}, {}, b"")
    assert r.status == 500
    assert MISSING["request"] in json.loads(r.body)["error"]
    [w] = await wait_acts(eng, "w", 1)
    [s] = await wait_acts(eng, "s", 1)
    assert (w.status, w.error) == ("error", MISSING["wal"])
    assert (s.status, s.error) == ("error", MISSING["schedule"])
    await wait_for(lambda: f"error executing wal plugin: {MISSING['wal']}" in log_texts(eng, "w"), "the wal error log")
    await wait_for(
        lambda: f"error executing schedule plugin: {MISSING['schedule']}" in log_texts(eng, "s"), "the schedule error log"
    )


async def test_line_builder_needs_no_import_and_official_wal_plugin_semantics(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "reports", "wal_plugin.py", "all_tables", arguments={"double_count_table": "mem"})
    await eng.write_lp("db", "cpu,host=a usage=1i\ncpu,host=b usage=2i\nmem,host=a free=3i")
    async def reports() -> list[dict]:
        if "write_reports" not in eng.catalog.databases["db"].tables:
            return []
        return await rows(eng, "db", "SELECT table_name, row_count FROM write_reports ORDER BY table_name")

    deadline = time.monotonic() + 15
    while len(found := await reports()) < 2:
        assert time.monotonic() < deadline, f"write_reports never got 2 rows: {found}"
        await asyncio.sleep(0.02)
    assert found == [{"table_name": "cpu", "row_count": 2}, {"table_name": "mem", "row_count": 2}]
    assert "wal_plugin.py done" in log_texts(eng, "reports")
    # the plugin's own write came back through the WAL; it skips write_reports and reports nothing new
    await wait_acts(eng, "reports", 2)
    await eng.processing.wait_write_backs()  # a (wrong) third report would have landed by now
    assert len(await reports()) == 2


async def test_module_level_state_does_not_survive_between_calls(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "stateful.py", """
        CALLS = []

        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            CALLS.append(1)
            return str(len(CALLS))
    """)
    await pe.create_trigger("db", "stateful", "stateful.py", "request:stateful")
    bodies = [(await pe.handle_request("stateful", {}, {}, b"")).body for _ in range(3)]
    assert bodies == [b"1", b"1", b"1"]


# ------------------------------------------------------------------------ ordering, concurrency


@pytest.mark.thread_only("coordinates with the plugin through a Probe (a lock, an Event) the cache shares by reference")
async def test_sync_trigger_runs_one_at_a_time_in_order(eng: Engine) -> None:
    pe = eng.processing
    probe = Probe()
    gput(eng, "probe", probe)
    plugin(eng, "blocking_probe.py", BLOCKING_PROBE)
    await pe.create_trigger("db", "sync", "blocking_probe.py", "table:seq", arguments={"mode": "sleep"})
    n = 8
    for i in range(n):
        await eng.write_lp("db", f"seq v={i}i")  # each write waits for its own flush: one event each
    await wait_acts(eng, "sync", n, "ok")
    assert probe.seen == list(range(n))
    assert probe.max_active == 1


@pytest.mark.thread_only("coordinates with the plugin through a Probe (a lock, an Event) the cache shares by reference")
async def test_async_trigger_overlaps_up_to_concurrency_and_no_more(eng: Engine) -> None:
    pe = eng.processing
    probe = Probe()
    gput(eng, "probe", probe)
    plugin(eng, "blocking_probe.py", BLOCKING_PROBE)
    await pe.create_trigger(
        "db", "par", "blocking_probe.py", "table:par", settings=TriggerSettings(run_async=True, concurrency=3)
    )
    n = 8
    try:
        for i in range(n):
            await eng.write_lp("db", f"par v={i}i")
        await wait_for(lambda: probe.active == 3, "three activations running at once")
        assert len(pe.runtimes[("db", "par")].queue) == n - 3
    finally:
        probe.release.set()
    await wait_acts(eng, "par", n, "ok")
    assert probe.max_active == 3
    assert sorted(probe.seen) == list(range(n))


@pytest.mark.thread_only("coordinates with the plugin through a Probe (a lock, an Event) the cache shares by reference")
async def test_queue_overflow_drops_oldest_and_never_blocks_writes(eng: Engine, monkeypatch) -> None:
    monkeypatch.setattr(dispatcher, "QUEUE_CAPACITY", 3)
    pe = eng.processing
    probe = Probe()
    gput(eng, "probe", probe)
    plugin(eng, "blocking_probe.py", BLOCKING_PROBE)
    await pe.create_trigger("db", "slow", "blocking_probe.py", "table:q")
    n = 10
    try:
        await eng.write_lp("db", "q v=0i")
        await wait_for(lambda: probe.active == 1, "the first activation to block")
        for i in range(1, n):  # the plugin is stuck; every write must still be acknowledged
            res = await asyncio.wait_for(eng.write_lp("db", f"q v={i}i"), 10)
            assert res.rows == 1
        rt = pe.runtimes[("db", "slow")]
        assert len(rt.queue) == 3
        assert rt.dropped == n - 1 - 3
        assert pe.describe(pe.get("db", "slow"))["dropped"] == n - 1 - 3
    finally:
        probe.release.set()
    await wait_acts(eng, "slow", 4, "ok")
    dropped = acts(eng, "slow", "dropped")
    assert len(dropped) == n - 1 - 3
    assert all("queue was full" in d.error for d in dropped)
    assert probe.seen == [0, 7, 8, 9]  # the oldest waiting events went first
    assert any("queue full" in t for t in log_texts(eng, "slow"))
    assert len(await rows(eng, "db", "SELECT v FROM q")) == n  # the data itself was all written


# ----------------------------------------------------------------------------- deadlines, limits


async def test_pure_python_infinite_loop_times_out_and_trigger_keeps_working(eng: Engine) -> None:
    pe = eng.processing
    # 1 s: in a worker the plugin's first cache call is a round trip, which a busy box can make slow
    await pe.create_trigger("db", "spin", "infinite_loop.py", "table:spin", settings=TriggerSettings(deadline_seconds=1.0))
    await eng.write_lp("db", "spin v=1i")
    [first] = await wait_acts(eng, "spin", 1)
    assert first.status == "timeout"
    assert "deadline" in first.error
    assert pe.pool.written_off == 0  # interrupted inside Python: the thread was not lost
    await eng.write_lp("db", "spin v=2i")
    done = await wait_acts(eng, "spin", 2)
    assert [a.status for a in done] == ["timeout", "timeout"]  # the trigger ran the next event
    assert gget(eng, "infinite_loop_started") == 2
    assert not pe.get("db", "spin").disabled


@pytest.mark.thread_only("the watchdog writing off a thread stuck in C (a worker process is simply stopped)")
async def test_sleep_in_c_past_deadline_writes_the_thread_off(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger(
        "db", "sleepy", "sleeps.py", "table:sleepy", arguments={"seconds": "4"},
        settings=TriggerSettings(deadline_seconds=0.2),
    )
    await pe.create_trigger("db", "reports", "wal_plugin.py", "table:other")
    before = pe.pool.written_off
    await eng.write_lp("db", "sleepy v=1i")
    [rec] = await wait_acts(eng, "sleepy", 1)
    assert rec.status == "timeout"
    assert "written off" in rec.error
    assert pe.pool.written_off == before + 1
    # the engine and the other triggers carry on while that thread is still asleep
    for i in range(3):
        await asyncio.wait_for(eng.write_lp("db", f"other v={i}i"), 10)
    await wait_acts(eng, "reports", 3, "ok")
    assert len(await rows(eng, "db", "SELECT v FROM other")) == 3
    # the trigger itself takes the next event on a fresh thread
    await eng.write_lp("db", "sleepy v=2i")
    await wait_acts(eng, "sleepy", 2)
    assert "sleeps_done" not in eng.catalog.databases["db"].tables


async def test_memory_limit_stops_a_plugin_that_eats_memory(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger(
        "db", "hog", "eats_memory.py", "table:hog", arguments={"total_mb": "3000"},
        settings=TriggerSettings(memory_limit_bytes=200 * 1024 * 1024),
    )
    await eng.write_lp("db", "hog v=1i")
    [rec] = await wait_acts(eng, "hog", 1, timeout=30)
    assert rec.status == "memory_limit"
    assert "memory limit" in rec.error
    # near the limit: a thread is stopped just past it, a worker's allocation that would cross it fails
    assert rec.memory_peak is not None and rec.memory_peak > 150 * 1024 * 1024
    assert rec.memory_peak < 3000 * 1024 * 1024


async def test_cpu_limit_stops_a_busy_plugin(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger(
        "db", "burn", "infinite_loop.py", "table:burn", settings=TriggerSettings(cpu_limit_seconds=0.2)
    )
    await eng.write_lp("db", "burn v=1i")
    [rec] = await wait_acts(eng, "burn", 1)
    assert rec.status == "cpu_limit"
    assert "CPU-time limit" in rec.error
    assert rec.cpu_time >= 0.2


async def test_cpu_time_memory_peak_and_dispatch_latency_are_recorded(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "work.py", """
        import time

        def process_writes(influxdb3_local, table_batches, args=None):
            total = 0
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.05:
                total += 1
            block = bytearray(64 * 1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(0.2)  # keep it alive across many watchdog samples (5 ms apart)
            del block
    """)
    await pe.create_trigger("db", "work", "work.py", "table:work")
    await eng.write_lp("db", "work v=1i\nwork v=2i")
    [rec] = await wait_acts(eng, "work", 1)
    assert rec.status == "ok"
    assert rec.cpu_time >= 0.04
    assert rec.memory_peak is not None and rec.memory_peak >= 32 * 1024 * 1024
    assert rec.dispatch_latency >= 0 and rec.dispatched_at is not None and rec.started_at >= rec.dispatched_at
    assert rec.rows_in == 2 and rec.run_time >= rec.cpu_time * 0.5
    stats = pe.activations.trigger_stats("db", "work")
    assert stats.runs == 1 and stats.latency_p50 is not None and stats.cpu_time_total >= 0.04
    assert stats.memory_max >= 32 * 1024 * 1024


# ----------------------------------------------------------------------------- error behaviours


async def test_error_behavior_log_logs_and_goes_on(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "boom", "raises.py", "table:boom")
    await eng.write_lp("db", "boom v=1i")
    await eng.write_lp("db", "boom v=2i")
    done = await wait_acts(eng, "boom", 2)
    assert [(a.status, a.error) for a in done] == [("error", "ValueError: boom")] * 2
    assert "Traceback" in done[0].traceback and "ValueError: boom" in done[0].traceback
    await wait_for(
        lambda: log_texts(eng, "boom").count("error executing wal plugin: ValueError: boom") == 2, "two error lines"
    )
    errors = [x for x in pe.logs.entries() if x.trigger == "boom" and x.text.startswith("error executing")]
    assert all(x.level == "ERROR" for x in errors)
    assert not pe.get("db", "boom").disabled
    assert "raises_queued" not in eng.catalog.databases["db"].tables  # queued writes of failed calls are dropped


async def test_error_behavior_retry_backs_off_and_gives_up(eng: Engine, monkeypatch) -> None:
    monkeypatch.setattr(dispatcher, "RETRY_BASE", 0.1)
    pe = eng.processing
    await pe.create_trigger(
        "db", "flaky", "raises.py", "table:flaky", settings=TriggerSettings(error_behavior="retry", max_retries=2)
    )
    await eng.write_lp("db", "flaky v=1i")
    await wait_for(lambda: any("giving up after 3 attempts" in t for t in log_texts(eng, "flaky")), "the give-up line")
    done = acts(eng, "flaky")
    assert [a.attempt for a in done] == [1, 2, 3]  # max_retries + 1 attempts, then no more
    assert all(a.status == "error" and a.rows_in == 1 for a in done)
    gaps = [b.started_at - a.finished_at for a, b in zip(done, done[1:])]
    assert gaps[0] >= 0.1 * 0.5 and gaps[1] >= 0.2 * 0.5, gaps  # base, then doubled, jitter 0.5-1.5x
    assert sum("retrying in" in t for t in log_texts(eng, "flaky")) == 2
    # a later event is processed normally (and retried again)
    await eng.write_lp("db", "flaky v=2i")
    await wait_acts(eng, "flaky", 4)


async def test_error_behavior_disable_disables_with_reason(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "fragile", "raises.py", "table:fragile", settings=TriggerSettings(error_behavior="disable"))
    await eng.write_lp("db", "fragile v=1i")
    await wait_for(lambda: pe.get("db", "fragile").disabled, "the trigger to disable itself")
    trig = pe.get("db", "fragile")
    assert "ValueError: boom" in trig.disabled_reason
    assert pe.describe(trig)["state"] == "disabled_by_error"
    assert ("db", "fragile") not in pe.runtimes
    got = await rows(eng, "db", "SELECT disabled FROM system.processing_engine_triggers WHERE trigger_name = 'fragile'")
    assert got == [{"disabled": True}]
    await eng.write_lp("db", "fragile v=2i")  # no longer called
    await pe.create_trigger("db", "marker", "wal_plugin.py", "table:fragile")
    await eng.write_lp("db", "fragile v=3i")
    await wait_acts(eng, "marker", 1)
    assert len(acts(eng, "fragile")) == 1


# ------------------------------------------------------------------------------------ hot reload


async def test_hot_reload_and_last_good_version_on_syntax_error(eng: Engine) -> None:
    pe = eng.processing
    src = """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
            return "{}"
    """
    plugin(eng, "versioned.py", src.format("v1"))
    await pe.create_trigger("db", "ver", "versioned.py", "request:ver")
    assert (await pe.handle_request("ver", {}, {}, b"")).body == b"v1"

    plugin(eng, "versioned.py", src.format("version two"))

    async def answer() -> bytes:
        return (await pe.handle_request("ver", {}, {}, b"")).body

    deadline = time.monotonic() + 5
    while (body := await answer()) != b"version two":
        assert time.monotonic() < deadline, f"still answering {body!r}"
        await asyncio.sleep(0.05)

    plugin(eng, "versioned.py", "def process_request(influxdb3_local, q, h, b, args=None)\n    return 'broken'\n")
    await wait_for(
        lambda: any("versioned.py failed to load" in t and "SyntaxError" in t for t in log_texts(eng)),
        "the load error in the log", timeout=5,
    )
    assert await answer() == b"version two"  # the last good version keeps running
    assert pe.registry.last_error("versioned.py").startswith("SyntaxError")
    assert all(a.status == "ok" for a in acts(eng, "ver"))


# ------------------------------------------------------------------------ misbehaving neighbours


async def test_engine_keeps_serving_while_plugins_misbehave(eng: Engine) -> None:
    pe = eng.processing
    s = TriggerSettings
    await pe.create_trigger("db", "m_loop", "infinite_loop.py", "table:m_loop", settings=s(deadline_seconds=0.5))
    await pe.create_trigger("db", "m_sleep", "sleeps.py", "table:m_sleep", arguments={"seconds": "3"},
                            settings=s(deadline_seconds=0.3))
    await pe.create_trigger("db", "m_mem", "eats_memory.py", "table:m_mem", arguments={"total_mb": "2000"},
                            settings=s(memory_limit_bytes=300 * 1024 * 1024))
    await pe.create_trigger("db", "m_flood", "log_flood.py", "table:m_flood")
    await pe.create_trigger("db", "m_raise", "raises.py", "table:m_raise")
    await pe.create_trigger("db", "m_import", "import_error.py", "table:m_import")
    await pe.create_trigger("db", "m_req", "infinite_loop.py", "request:m_req", settings=s(deadline_seconds=0.5))
    await eng.write_lp("db", "\n".join(f"{t} v=1i" for t in ("m_loop", "m_sleep", "m_mem", "m_flood", "m_raise", "m_import")))
    stuck_request = asyncio.ensure_future(pe.handle_request("m_req", {}, {}, b""))

    await eng.create_database("ok")
    for i in range(20):
        res = await asyncio.wait_for(eng.write_lp("ok", f"healthy,host=h{i % 3} v={i}i"), 10)
        assert res.rows == 1
        got = await asyncio.wait_for(rows(eng, "ok", "SELECT count(*) AS n FROM healthy"), 10)
        assert got == [{"n": i + 1}]

    expected = {
        "m_loop": "timeout", "m_sleep": "timeout", "m_mem": "memory_limit", "m_flood": "ok",
        "m_raise": "error", "m_import": "error",
    }
    for trig, status in expected.items():
        [rec] = await wait_acts(eng, trig, 1, timeout=30)
        assert rec.status == status, (trig, rec.status, rec.error)
    assert "ModuleNotFoundError" in acts(eng, "m_import")[0].error
    resp = await asyncio.wait_for(stuck_request, 30)
    assert resp.status == 500 and "deadline" in json.loads(resp.body)["error"]
    flood = acts(eng, "m_flood")[0]
    assert len(flood.logs) == 50 and flood.logs_dropped == 10_002 - 50  # 10,000 lines + start + finish
    assert "flood line 9999 of 10000" in log_texts(eng, "m_flood")
    assert len(pe.logs.entries()) <= 10_000  # the ring stays bounded
    got = await rows(eng, "ok", "SELECT count(*) AS n FROM healthy")
    assert got == [{"n": 20}]


@pytest.mark.thread_only("coordinates with the plugin through a Probe (a lock, an Event) the cache shares by reference")
async def test_error_behavior_disable_drops_the_events_waiting_behind_the_failure(eng: Engine) -> None:
    pe = eng.processing
    probe = Probe()
    gput(eng, "probe", probe)
    plugin(eng, "blocks_then_raises.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            probe = influxdb3_local.cache.get("probe", use_global=True)
            probe.enter(table_batches[0]["rows"][0]["v"])
            try:
                probe.release.wait(20)
            finally:
                probe.leave()
            raise RuntimeError("stop here")
    """)
    await pe.create_trigger("db", "stopper", "blocks_then_raises.py", "table:d",
                            settings=TriggerSettings(error_behavior="disable"))
    try:
        await eng.write_lp("db", "d v=1i")
        await wait_for(lambda: probe.active == 1, "the first event to start")
        await eng.write_lp("db", "d v=2i")
        await eng.write_lp("db", "d v=3i")
        assert len(pe.runtimes[("db", "stopper")].queue) == 2
    finally:
        probe.release.set()
    await wait_for(lambda: pe.get("db", "stopper").disabled, "the disable")
    await pe.create_trigger("db", "marker", "wal_plugin.py", "table:d")
    await eng.write_lp("db", "d v=4i")
    await wait_acts(eng, "marker", 1)
    assert probe.seen == [1]  # the two waiting events were dropped, not run
    assert "2 waiting event(s) dropped because the trigger was disabled" in log_texts(eng, "stopper")
    assert [a.status for a in acts(eng, "stopper")] == ["error"]
