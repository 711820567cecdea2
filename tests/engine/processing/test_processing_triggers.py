"""Processing engine triggers: which events reach which trigger (reference §2.2, §5), schedules,
request routing, the trigger lifecycle (create errors, delete, enable/disable, run now, retry an
activation) and the `system.processing_engine_*` / `plugin_files` tables (§7).

A real Engine on tmp_path with the plugin files of tests/support/plugins copied into its plugin dir.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pe_engine.engine import Engine
from pe_engine.errors import AlreadyExists, BadRequest, NotFound, PeError
from pe_engine.processing.manager import TriggerRunning
from pe_engine.processing.triggers import TriggerSettings
from support.engines import acts, gget, make_engine, plugin, poll_rows, rows, wait_acts, wait_for

SPEC_FORMS = (
    "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', "
    "'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'"
)

# Records the tables of every call in the global cache under the trigger's own key.
TABLES_PROBE = """
def process_writes(influxdb3_local, table_batches, args=None):
    key = "tables:" + args["me"]
    seen = influxdb3_local.cache.get(key, [], use_global=True)
    seen.append(sorted((tb["table_name"], len(tb["rows"])) for tb in table_batches))
    influxdb3_local.cache.put(key, seen, use_global=True)
"""


# ------------------------------------------------------------------------------- WAL triggers


async def test_table_trigger_sees_only_its_table_and_all_tables_sees_everything(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "tables_probe.py", TABLES_PROBE)
    await pe.create_trigger("db", "only_cpu", "tables_probe.py", "table:cpu", arguments={"me": "only_cpu"})
    await pe.create_trigger("db", "every_table", "tables_probe.py", "all_tables", arguments={"me": "every_table"})
    await eng.create_database("elsewhere")
    await eng.write_lp("db", "cpu v=1i\ncpu v=2i\nmem v=1i")  # one flush, two tables
    await eng.write_lp("db", "mem v=2i")  # a flush without cpu
    await eng.write_lp("elsewhere", "cpu v=9i")  # another database
    await eng.write_lp("db", "cpu v=3i")
    await wait_acts(eng, "every_table", 3)
    await wait_acts(eng, "only_cpu", 2)
    # triggers run their events in order, so a (wrong) call for the mem-only flush would sit in between
    assert gget(eng, "tables:only_cpu") == [[("cpu", 2)], [("cpu", 1)]]
    assert gget(eng, "tables:every_table") == [[("cpu", 2), ("mem", 1)], [("mem", 1)], [("cpu", 1)]]
    assert [a.rows_in for a in acts(eng, "only_cpu")] == [2, 1]


async def test_table_trigger_for_a_table_that_does_not_exist_yet(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "tables_probe.py", TABLES_PROBE)
    await pe.create_trigger("db", "future", "tables_probe.py", "table:later", arguments={"me": "future"})
    await eng.write_lp("db", "now v=1i")
    await eng.write_lp("db", "later v=1i")
    await wait_for(lambda: gget(eng, "tables:future"), "the call for the new table")
    assert gget(eng, "tables:future") == [[("later", 1)]]
    assert all(a.status == "ok" for a in acts(eng, "future"))


# -------------------------------------------------------------------------------- schedules


SCHED_PROBE = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    key = "ticks:" + args["me"]
    seen = influxdb3_local.cache.get(key, [], use_global=True)
    seen.append(call_time)
    influxdb3_local.cache.put(key, seen, use_global=True)
"""


async def test_every_fires_on_epoch_aligned_seconds_with_call_time_equal_to_scheduled(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "sched_probe.py", SCHED_PROBE)
    await pe.create_trigger("db", "every1", "sched_probe.py", "every:1s", arguments={"me": "every1"})
    done = await wait_acts(eng, "every1", 2, "ok")
    fired = [a.scheduled_at for a in done[:2]]
    assert all(f == int(f) for f in fired)  # whole seconds since the epoch
    assert fired[1] - fired[0] == 1.0
    ticks = gget(eng, "ticks:every1")
    assert [t.timestamp() for t in ticks[:2]] == fired
    assert all(a.kind == "schedule" and a.started_at >= a.scheduled_at for a in done)
    nxt = pe.describe(pe.get("db", "every1"))["next_fire_ns"]
    assert nxt % 1_000_000_000 == 0 and nxt / 1e9 > fired[1]


async def test_cron_six_fields_fires_on_matching_seconds(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "sched_probe.py", SCHED_PROBE)
    await pe.create_trigger("db", "cron2", "sched_probe.py", "cron:*/2 * * * * *", arguments={"me": "cron2"})
    done = await wait_acts(eng, "cron2", 2, "ok", timeout=20)
    fired = [a.scheduled_at for a in done[:2]]
    assert all(f == int(f) and int(f) % 2 == 0 for f in fired)
    assert fired[1] - fired[0] == 2.0
    assert [t.timestamp() for t in gget(eng, "ticks:cron2")[:2]] == fired
    got = await rows(eng, "db", "SELECT trigger_specification FROM system.processing_engine_triggers")
    assert got == [{"trigger_specification": '{"schedule":{"schedule":"*/2 * * * * *"}}'}]


async def test_run_now_runs_a_schedule_trigger_immediately(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "sched_probe.py", SCHED_PROBE)
    await pe.create_trigger("db", "hourly", "sched_probe.py", "every:1h", arguments={"me": "hourly"})
    before = time.time()
    await pe.run_now("db", "hourly")
    [rec] = await wait_acts(eng, "hourly", 1)
    assert rec.status == "ok" and rec.kind == "schedule"
    assert int(before) <= rec.scheduled_at <= time.time()
    [call_time] = gget(eng, "ticks:hourly")
    assert call_time.microsecond == 0 and call_time.timestamp() == int(rec.scheduled_at)
    await pe.create_trigger("db", "wal", "wal_plugin.py", "all_tables")
    with pytest.raises(BadRequest, match="not a schedule trigger"):
        await pe.run_now("db", "wal")
    await pe.disable_trigger("db", "hourly")
    with pytest.raises(BadRequest, match="disabled"):
        await pe.run_now("db", "hourly")
    with pytest.raises(NotFound):
        await pe.run_now("db", "nope")


# --------------------------------------------------------------------------------- requests


async def test_request_routing_is_an_exact_path_match(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "hello", "hello_request.py", "request:hello", arguments={"greeting": "Hi"})
    await pe.create_trigger("db", "nested", "hello_request.py", "request:api/v1/hello")
    r = await pe.handle_request("hello", {"name": "Ada"}, {}, b"")
    assert (r.status, json.loads(r.body)) == (200, {"message": "Hi, Ada!", "calls": 1})
    r = await pe.handle_request("api/v1/hello", {}, {}, b'{"name": "Bob"}')
    assert (r.status, json.loads(r.body)) == (200, {"message": "Hello, Bob!", "calls": 1})
    for path in ("hello/", "/hello", "Hello", "hell", "api/v1", "api/v1/hello/x", ""):
        r = await pe.handle_request(path, {}, {}, b"")
        assert (r.status, r.body) == (404, b'{error: "not found"}'), path
    r = await pe.handle_request("hello", {}, {}, b"not json")
    assert r.status == 400 and json.loads(r.body) == {"error": "request body must be a JSON object"}
    await pe.disable_trigger("db", "hello")
    assert (await pe.handle_request("hello", {}, {}, b"")).status == 404
    await pe.enable_trigger("db", "hello")
    assert (await pe.handle_request("hello", {}, {}, b"")).status == 200


# ------------------------------------------------------------------------------ create errors


async def test_create_errors(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "t", "wal_plugin.py", "all_tables")
    with pytest.raises(AlreadyExists) as e:
        await pe.create_trigger("db", "t", "wal_plugin.py", "all_tables")
    assert e.value.status == 409
    with pytest.raises(NotFound) as e:
        await pe.create_trigger("no_such_db", "t", "wal_plugin.py", "all_tables")
    assert e.value.status == 404
    with pytest.raises(PeError) as e:
        await pe.create_trigger("db", "bad_spec", "wal_plugin.py", "bogus:thing")
    assert str(e.value) == f"failed to parse trigger from bogus:thing: {SPEC_FORMS}"
    with pytest.raises(PeError) as e:
        await pe.create_trigger("db", "no_table", "wal_plugin.py", "table:")
    assert str(e.value) == "failed to parse trigger from table:: table name is empty"
    with pytest.raises(PeError) as e:
        await pe.create_trigger("db", "too_long", "wal_plugin.py", "every:2y")
    assert str(e.value) == "failed to parse trigger from every:2y: don't support every schedules of over 1 year"
    with pytest.raises(PeError) as e:
        await pe.create_trigger("db", "missing", "does_not_exist.py", "all_tables")
    assert "does_not_exist.py" in str(e.value)
    with pytest.raises(PeError) as e:
        await pe.create_trigger("db", "escape", "../outside.py", "all_tables")
    assert str(e.value) == (
        "Path traversal detected: plugin filename '../outside.py' attempts to access files outside the plugin directory"
    )
    (eng.config.plugin_dir / "pkg_without_init").mkdir()
    with pytest.raises(PeError) as e:
        await pe.create_trigger("db", "pkg", "pkg_without_init", "all_tables")
    assert "Multi-file plugin directory must contain __init__.py" in str(e.value)
    # nothing half-created
    assert [t.name for t in pe.list_triggers("db")] == ["t"]
    assert await rows(eng, "db", "SELECT trigger_name FROM system.processing_engine_triggers") == [{"trigger_name": "t"}]


async def test_restricted_trigger_types_are_rejected(tmp_path: Path, plugin_isolation: str) -> None:
    async with make_engine(tmp_path, isolation=plugin_isolation, restrict_trigger_types=("wal",)) as e:
        await e.create_database("db")
        await e.processing.create_trigger("db", "ok", "wal_plugin.py", "all_tables")
        with pytest.raises(PeError, match="server is configured to reject request plugin triggers"):
            await e.processing.create_trigger("db", "r", "hello_request.py", "request:x")


# -------------------------------------------------------------------------------- lifecycle


async def test_delete_needs_force_while_enabled(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "live", "hello_request.py", "request:live")
    with pytest.raises(TriggerRunning) as e:
        await pe.delete_trigger("db", "live")
    assert e.value.status == 500
    assert (await pe.handle_request("live", {}, {}, b"")).status == 200  # untouched
    await pe.delete_trigger("db", "live", force=True)
    assert ("db", "live") not in pe.triggers and ("db", "live") not in pe.runtimes
    assert (await pe.handle_request("live", {}, {}, b"")).status == 404
    await pe.create_trigger("db", "off", "wal_plugin.py", "all_tables", disabled=True)
    await pe.delete_trigger("db", "off")  # disabled: no force needed
    with pytest.raises(NotFound):
        await pe.delete_trigger("db", "off", force=True)
    assert await rows(eng, "db", "SELECT * FROM system.processing_engine_triggers") == []
    # the name can be reused
    await pe.create_trigger("db", "live", "hello_request.py", "request:live")
    assert json.loads((await pe.handle_request("live", {}, {}, b"")).body)["calls"] == 1


async def test_enable_disable_are_idempotent_and_disable_drops_the_trigger_cache(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "counter", "hello_request.py", "request:counter")

    async def calls() -> int:
        return json.loads((await pe.handle_request("counter", {}, {}, b"")).body)["calls"]

    assert [await calls(), await calls()] == [1, 2]
    assert pe.caches.get_value(("trigger", "db", "counter"), "calls") == 2
    await pe.enable_trigger("db", "counter")  # already enabled: no-op, cache kept
    assert await calls() == 3
    for _ in range(2):
        trig = await pe.disable_trigger("db", "counter")
        assert trig.disabled and trig.disabled_reason is None
    assert pe.describe(pe.get("db", "counter"))["state"] == "disabled"
    with pytest.raises(KeyError):
        pe.caches.get_value(("trigger", "db", "counter"), "calls")
    for _ in range(2):
        assert not (await pe.enable_trigger("db", "counter")).disabled
    assert await calls() == 1  # starts from an empty cache
    got = await rows(eng, "db", "SELECT disabled FROM system.processing_engine_triggers")
    assert got == [{"disabled": False}]


async def test_disable_interrupts_a_running_plugin_at_its_next_api_call(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "waits.py", """
        import time

        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.cache.put("started", True, use_global=True)
            while not influxdb3_local.cache.get("go", False, use_global=True):
                time.sleep(0.005)
            influxdb3_local.info("still running")
            influxdb3_local.write(LineBuilder("after_disable").int64_field("n", 1))
    """)
    await pe.create_trigger("db", "waits", "waits.py", "table:w")
    await eng.write_lp("db", "w v=1i")
    await wait_for(lambda: gget(eng, "started"), "the plugin to start")
    await pe.disable_trigger("db", "waits")
    pe.caches.trigger_cache("t", "t").put("go", True, use_global=True)
    [rec] = await wait_acts(eng, "waits", 1)
    assert rec.status == "error"
    # a worker process is stopped (within a poll) rather than interrupted: its error says so after this
    assert rec.error.startswith("KeyboardInterrupt: influxdb3 is shutting down; aborting plugin execution"), rec.error
    assert "after_disable" not in eng.catalog.databases["db"].tables


async def test_retry_activation_reruns_a_failed_activation_with_its_input(eng: Engine) -> None:
    pe = eng.processing
    plugin(eng, "fails_once.py", """
        def process_writes(influxdb3_local, table_batches, args=None):
            seen = influxdb3_local.cache.get("seen", [], use_global=True)
            seen.append([row["v"] for tb in table_batches for row in tb["rows"]])
            influxdb3_local.cache.put("seen", seen, use_global=True)
            if len(seen) == 1:
                raise RuntimeError("first time fails")
    """)
    await pe.create_trigger("db", "once", "fails_once.py", "table:r")
    await eng.write_lp("db", "r v=1i\nr v=2i")
    [failed] = await wait_acts(eng, "once", 1)
    assert failed.status == "error"
    await pe.retry_activation(failed.id)
    done = await wait_acts(eng, "once", 2)
    assert done[1].status == "ok" and done[1].rows_in == 2 and done[1].id != failed.id
    assert gget(eng, "seen") == [[1, 2], [1, 2]]
    with pytest.raises(NotFound):
        await pe.retry_activation(done[1].id)  # successful activations keep no input
    await pe.disable_trigger("db", "once")
    with pytest.raises(BadRequest):
        await pe.retry_activation(failed.id)


# ------------------------------------------------------------------------------ system tables


async def test_system_tables(eng: Engine) -> None:
    pe = eng.processing
    await eng.create_database("db2")
    await pe.create_trigger("db", "w", "wal_plugin.py", "table:cpu", arguments={"double_count_table": "cpu", "b": "x=y"},
                            settings=TriggerSettings(error_behavior="retry"))
    await pe.create_trigger("db", "a", "wal_plugin.py", "all_tables", disabled=True)
    await pe.create_trigger("db", "e", "downsample_schedule.py", "every:5m")
    await pe.create_trigger("db", "r", "hello_request.py", "request:hi")
    await pe.create_trigger("db2", "x", "hello_request.py", "request:x2")
    await eng.write_lp("db", "cpu v=1i")
    await wait_acts(eng, "w", 1)
    await pe.handle_request("x2", {}, {}, b"")

    got = await rows(eng, "db", "SELECT * FROM system.processing_engine_triggers ORDER BY trigger_name")
    assert got == [
        {"trigger_name": "a", "plugin_filename": "wal_plugin.py", "trigger_specification": '"all_tables_wal_write"',
         "disabled": True, "error_behavior": "log"},
        {"trigger_name": "e", "plugin_filename": "downsample_schedule.py",
         "trigger_specification": '{"every":{"duration":{"secs":300,"nanos":0}}}', "disabled": False, "error_behavior": "log"},
        {"trigger_name": "r", "plugin_filename": "hello_request.py",
         "trigger_specification": '{"request_path":{"path":"hi"}}', "disabled": False, "error_behavior": "log"},
        {"trigger_name": "w", "plugin_filename": "wal_plugin.py",
         "trigger_specification": '{"single_table_wal_write":{"table_name":"cpu"}}', "disabled": False,
         "error_behavior": "retry"},
    ]
    got = await rows(eng, "db", "SELECT * FROM system.processing_engine_trigger_arguments ORDER BY argument_key")
    assert got == [
        {"trigger_name": "w", "argument_key": "b", "argument_value": "x=y"},
        {"trigger_name": "w", "argument_key": "double_count_table", "argument_value": "cpu"},
    ]
    assert await rows(eng, "db2", "SELECT trigger_name FROM system.processing_engine_triggers") == [{"trigger_name": "x"}]
    assert await rows(eng, "db2", "SELECT * FROM system.processing_engine_trigger_arguments") == []

    logs = await rows(eng, "db", "SELECT log_level, log_text FROM system.processing_engine_logs WHERE trigger_name = 'w'")
    assert {"log_level": "INFO", "log_text": "wal_plugin.py done"} in logs

    acts_db = await rows(eng, "db", "SELECT * FROM system.processing_engine_activations")
    assert [(r["trigger_name"], r["kind"], r["status"], r["rows_in"]) for r in acts_db] == [("w", "wal", "ok", 1)]
    [a] = acts_db
    assert a["plugin_filename"] == "wal_plugin.py" and a["lines_out"] == 1 and a["attempt"] == 1
    assert a["run_time_ms"] > 0 and a["dispatch_latency_ms"] >= 0 and a["error"] is None
    acts_db2 = await rows(eng, "db2", "SELECT trigger_name, kind, status FROM system.processing_engine_activations")
    assert acts_db2 == [{"trigger_name": "x", "kind": "request", "status": "ok"}]

    files = await rows(eng, "_internal", "SELECT * FROM system.plugin_files ORDER BY plugin_name")
    pdir = eng.config.plugin_dir.resolve()
    assert [(f["plugin_name"], f["file_name"]) for f in files] == [
        ("a", "wal_plugin.py"), ("e", "downsample_schedule.py"), ("r", "hello_request.py"),
        ("w", "wal_plugin.py"), ("x", "hello_request.py")]
    for f in files:
        p = pdir / f["file_name"]
        assert f["file_path"] == str(p) and f["size_bytes"] == p.stat().st_size
        assert f["last_modified"] == p.stat().st_mtime_ns // 1_000_000
    with pytest.raises(Exception):
        await eng.query("db", "SELECT * FROM system.plugin_files")  # only in _internal
    assert await rows(eng, "_internal", "SELECT count(*) AS n FROM system.processing_engine_logs") != [{"n": 0}]


async def test_deleting_a_database_stops_and_removes_its_triggers(eng: Engine) -> None:
    pe = eng.processing
    await eng.create_database("doomed")
    await pe.create_trigger("doomed", "hello", "hello_request.py", "request:doomed_hello")
    await pe.create_trigger("doomed", "tick", "downsample_schedule.py", "every:1h")
    await pe.create_trigger("db", "keeper", "hello_request.py", "request:keeper")
    assert json.loads((await pe.handle_request("doomed_hello", {}, {}, b"")).body)["calls"] == 1
    await eng.delete_database("doomed")
    await wait_for(lambda: not pe.list_triggers("doomed"), "the deleted database's triggers to go")
    assert ("doomed", "tick") not in pe.runtimes and pe.scheduler.next_fire("doomed", "tick") is None
    assert (await pe.handle_request("doomed_hello", {}, {}, b"")).status == 404
    assert [ns for ns in pe.caches.namespaces() if ns[:2] == ("trigger", "doomed")] == []
    assert (await pe.handle_request("keeper", {}, {}, b"")).status == 200
    assert await eng.store.load_triggers() == [pe.get("db", "keeper").to_json()]
    # a new database of the same name starts with no triggers
    await eng.create_database("doomed")
    await pe.create_trigger("doomed", "hello", "hello_request.py", "request:doomed_hello")
    assert json.loads((await pe.handle_request("doomed_hello", {}, {}, b"")).body)["calls"] == 1


async def test_deleting_a_disabled_request_trigger_then_its_database(tmp_path: Path, plugin_isolation: str) -> None:
    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    try:
        pe = e.processing
        await e.create_database("gone")
        await e.write_lp("gone", "m v=1 1")
        await pe.create_trigger("gone", "off", "hello_request.py", "request:gone_off", disabled=True)
        await pe.delete_trigger("gone", "off")  # was a KeyError: no runtime, no route
        assert pe.list_triggers("gone") == [] and "gone_off" not in pe.routes
        await pe.create_trigger("gone", "off2", "hello_request.py", "request:gone_off2", disabled=True)
        await pe.create_trigger("gone", "tick", "downsample_schedule.py", "every:1h")
        await e.delete_database("gone")
        assert "gone" not in e.list_databases() and pe.list_triggers("gone") == []
        await e.write_lp("gone", "m v=2 2")  # a new database: none of the old rows
        assert await rows(e, "gone", "SELECT v FROM m") == [{"v": 2.0}]
    finally:
        await e.stop()
    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    try:
        assert e.processing.list_triggers("gone") == [] and await e.store.load_triggers() == []
        assert await rows(e, "gone", "SELECT v FROM m") == [{"v": 2.0}]
    finally:
        await e.stop()


async def test_deleting_a_database_is_whole_even_when_stopping_a_trigger_fails(tmp_path: Path, monkeypatch,
                                                                               plugin_isolation: str) -> None:
    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    try:
        pe = e.processing
        await e.create_database("gone")
        await e.write_lp("gone", "m v=1 1")
        await e.snapshot()  # rows in a Parquet file too, not only the WAL
        await e.write_lp("gone", "m v=3 3")
        await pe.create_trigger("gone", "a", "hello_request.py", "request:gone_a")
        await pe.create_trigger("gone", "b", "hello_request.py", "request:gone_b")

        def broken(trig) -> None:
            raise RuntimeError("teardown failed")
        monkeypatch.setattr(pe, "_stop_trigger", broken)
        await e.delete_database("gone")  # answers: the durable part is done
        monkeypatch.undo()
        assert "gone" not in e.list_databases() and pe.list_triggers("gone") == []
        await e.write_lp("gone", "m v=2 2")
        assert await rows(e, "gone", "SELECT v FROM m") == [{"v": 2.0}]
    finally:
        await e.stop()
    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    try:
        assert "gone" in e.list_databases()
        assert e.processing.list_triggers("gone") == [] and await e.store.load_triggers() == []
        assert await rows(e, "gone", "SELECT v FROM m") == [{"v": 2.0}]
    finally:
        await e.stop()


# ----------------------------------------------------------------- official-style plugins, end to end


async def test_threshold_alert_writes_alerts_and_keeps_counters_in_the_trigger_cache(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "alerts", "threshold_alert.py", "table:sensors",
                            arguments={"field": "temp", "threshold": "30", "alert_table": "hot"})
    await eng.write_lp("db", "sensors,room=a temp=25 1000\nsensors,room=b temp=31.5 2000\nsensors,room=c hum=3 2500")
    await eng.write_lp("db", "sensors,room=a temp=40 3000")
    await wait_acts(eng, "alerts", 2, "ok")
    got = await poll_rows(eng, "db", "SELECT source, room, value, threshold, time FROM hot ORDER BY time", 2)
    assert got == [
        {"source": "sensors", "room": "b", "value": 31.5, "threshold": 30.0, "time": 2000},
        {"source": "sensors", "room": "a", "value": 40.0, "threshold": 30.0, "time": 3000},
    ]
    ns = ("trigger", "db", "alerts")
    assert pe.caches.get_value(ns, "checked") == 3 and pe.caches.get_value(ns, "breaches") == 2
    warns = [x.text for x in pe.logs.entries() if x.trigger == "alerts" and x.level == "WARN"]
    assert warns == ["sensors.temp=31.5 above 30.0", "sensors.temp=40.0 above 30.0"]


async def test_downsample_schedule_writes_date_bin_buckets(eng: Engine) -> None:
    pe = eng.processing
    hour = (int(time.time()) // 3600 - 3) * 3600  # three whole hours ago, well inside the window
    lp = "\n".join([
        f"cpu,host=a usage=10 {hour}", f"cpu,host=a usage=20 {hour + 600}", f"cpu,host=b usage=5 {hour + 60}",
        f"cpu,host=a usage=50 {hour + 3600}", f"cpu,host=a usage=99 {hour - 86400 * 3}",  # outside the window
    ])
    await eng.write_lp("db", lp, precision="s")
    await pe.create_trigger("db", "ds", "downsample_schedule.py", "every:1h",
                            arguments={"source_measurement": "cpu", "target_measurement": "cpu_1h", "field": "usage",
                                       "window": "1d", "interval": "1h"})
    await pe.run_now("db", "ds")
    [rec] = await wait_acts(eng, "ds", 1)
    assert rec.status == "ok", rec.error
    got = await poll_rows(eng, "db", "SELECT host, usage, record_count, time FROM cpu_1h ORDER BY time, host", 3)
    ns = 1_000_000_000
    assert got == [
        {"host": "a", "usage": 15.0, "record_count": 2, "time": hour * ns},
        {"host": "b", "usage": 5.0, "record_count": 1, "time": hour * ns},
        {"host": "a", "usage": 50.0, "record_count": 1, "time": (hour + 3600) * ns},
    ]
    assert pe.caches.get_value(("trigger", "db", "ds"), "runs") == 1
    assert any("downsampled 3 bucket(s) from cpu into cpu_1h (run 1)" in t for t in rec.logs)
