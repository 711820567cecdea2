"""Processing-engine state across restarts: the Engine is stopped and a new one started on the
same data and plugin directories. Triggers (settings, arguments, enabled/disabled and the reason
of a disable-by-error), plugin caches with their remaining TTL, activation history and logs come
back; schedules skip the ticks missed while down unless the trigger asked for `catch_up="once"`.
"""
from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path

from pe_engine.engine import Engine
from pe_engine.processing.triggers import TriggerSettings
from support.clock import FakeClock
from support.engines import acts, make_engine, rows, wait_for

NS = 1_000_000_000


async def request(e: Engine, path: str) -> dict:
    r = await e.processing.handle_request(path, {}, {}, b"")
    assert r.status == 200, r.body
    return json.loads(r.body)


TTL_PLUGIN = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    c = influxdb3_local.cache
    if query_parameters.get("op") == "put":
        c.put("short_lived", "v", ttl=300)
        c.put("forever", {"a": [1, 2.5, "x"]})
        c.put("shared", "global value", use_global=True)
        c.put("gone_soon", "v", ttl=0.01)
    return {"short_lived": c.get("short_lived"), "forever": c.get("forever"),
            "shared": c.get("shared", use_global=True), "gone_soon": c.get("gone_soon")}
"""


async def test_triggers_caches_history_and_logs_survive_a_restart(tmp_path: Path, plugin_isolation: str) -> None:
    settings = TriggerSettings(
        run_async=True, error_behavior="retry", deadline_seconds=12.5, concurrency=2, max_retries=3,
        memory_limit_bytes=123_456_789, cpu_limit_seconds=4.5, catch_up="once",
    )
    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    try:
        pe = e.processing
        await e.create_database("db")
        (e.config.plugin_dir / "ttl_cache.py").write_text(textwrap.dedent(TTL_PLUGIN))
        await pe.create_trigger("db", "reports", "wal_plugin.py", "table:cpu",
                                arguments={"double_count_table": "cpu", "x": "a=b"}, settings=settings)
        await pe.create_trigger("db", "off", "wal_plugin.py", "all_tables", disabled=True)
        await pe.create_trigger("db", "fragile", "raises.py", "table:boom",
                                settings=TriggerSettings(error_behavior="disable"))
        await pe.create_trigger("db", "hello", "hello_request.py", "request:hello")
        await pe.create_trigger("db", "ttl", "ttl_cache.py", "request:ttl")
        await e.write_lp("db", "cpu v=1i\nboom v=1i")
        await wait_for(lambda: pe.get("db", "fragile").disabled, "the disable-by-error")
        await wait_for(lambda: acts(e, "reports"), "the reports activation")
        assert (await request(e, "hello"))["calls"] == 1
        assert (await request(e, "hello"))["calls"] == 2
        await e.processing.handle_request("ttl", {"op": "put"}, {}, b"")
        before = {(t.database, t.name): t.to_json() for t in pe.list_triggers()}
        reason = pe.get("db", "fragile").disabled_reason
        old_ids = sorted(a.id for a in pe.activations.recent(limit=1000))
        old_logs = [x.text for x in pe.logs.entries()]
    finally:
        await e.stop()
    assert "ValueError: boom" in reason
    assert "wal_plugin.py done" in old_logs

    e = make_engine(tmp_path, isolation=plugin_isolation)
    await e.start()
    try:
        pe = e.processing
        after = {(t.database, t.name): t.to_json() for t in pe.list_triggers()}
        assert after == before
        assert pe.get("db", "reports").settings == settings
        assert pe.get("db", "reports").arguments == {"double_count_table": "cpu", "x": "a=b"}
        fragile = pe.get("db", "fragile")
        assert fragile.disabled and fragile.disabled_reason == reason
        assert pe.describe(fragile)["state"] == "disabled_by_error"
        assert pe.describe(pe.get("db", "off"))["state"] == "disabled"
        assert set(pe.runtimes) == {("db", "reports"), ("db", "hello"), ("db", "ttl")}
        got = await rows(e, "db", "SELECT trigger_name, disabled FROM system.processing_engine_triggers ORDER BY trigger_name")
        assert got == [
            {"trigger_name": "fragile", "disabled": True}, {"trigger_name": "hello", "disabled": False},
            {"trigger_name": "off", "disabled": True}, {"trigger_name": "reports", "disabled": False},
            {"trigger_name": "ttl", "disabled": False},
        ]
        got = await rows(e, "db", "SELECT argument_key, argument_value FROM system.processing_engine_trigger_arguments "
                                  "ORDER BY argument_key")
        assert got == [{"argument_key": "double_count_table", "argument_value": "cpu"},
                       {"argument_key": "x", "argument_value": "a=b"}]

        # caches: values and remaining TTLs
        assert (await request(e, "hello"))["calls"] == 3
        assert await request(e, "ttl") == {"short_lived": "v", "forever": {"a": [1, 2.5, "x"]},
                                           "shared": "global value", "gone_soon": None}
        [entry] = [x for x in pe.caches.entries(("trigger", "db", "ttl")) if x.key == "short_lived"]
        assert entry.ttl_remaining is not None and 200 < entry.ttl_remaining <= 300
        [forever] = [x for x in pe.caches.entries(("trigger", "db", "ttl")) if x.key == "forever"]
        assert forever.ttl_remaining is None

        # history and logs
        restored = sorted(a.id for a in pe.activations.recent(limit=1000) if a.id in old_ids)
        assert restored == old_ids
        [failed] = [a for a in acts(e, "fragile")]
        assert failed.status == "error" and failed.error == "ValueError: boom"
        texts = [x.text for x in pe.logs.entries()]
        assert "wal_plugin.py done" in texts and "hello_request called for world" in texts
        got = await rows(e, "db", "SELECT log_level FROM system.processing_engine_logs "
                                  "WHERE trigger_name = 'fragile' AND log_text LIKE 'error executing wal plugin:%'")
        assert got == [{"log_level": "ERROR"}]

        # and the restored triggers run
        await e.write_lp("db", "cpu v=2i\nboom v=2i")
        await wait_for(lambda: [a for a in acts(e, "reports") if a.id not in old_ids], "a new reports activation")
        new_ids = [a.id for a in pe.activations.recent(limit=1000) if a.id not in old_ids]
        assert min(new_ids) > max(old_ids)  # ids keep increasing across restarts
        assert len(acts(e, "fragile")) == 1  # still disabled
    finally:
        await e.stop()


async def test_schedules_skip_missed_ticks_unless_catch_up_once(tmp_path: Path, plugin_isolation: str) -> None:
    # The engine's wall clock is a fake the test moves, set in the past so that a schedule
    # following the real clock could not produce these fire times: no waiting on real seconds.
    clock = FakeClock(1_700_000_000 * NS)
    e = make_engine(tmp_path, clock, isolation=plugin_isolation)
    await e.start()
    try:
        pe = e.processing
        await e.create_database("db")
        # A cron that fires at three chosen seconds: A while the engine runs, B and C while it is down.
        now_s = clock.time_ns() // NS
        a, b, c = now_s + 2, now_s + 4, now_s + 5
        expr = f"cron:{a % 60},{b % 60},{c % 60} * * * * *"
        await pe.create_trigger("db", "skip", "downsample_schedule.py", expr)  # default catch_up="skip"
        await pe.create_trigger("db", "once", "downsample_schedule.py", expr, settings=TriggerSettings(catch_up="once"))
        assert pe.scheduler.next_fire("db", "skip") == a * NS
        clock.set(a)
        pe.scheduler.wake()
        await wait_for(lambda: acts(e, "skip") and acts(e, "once"), "the first ticks", timeout=10)
        assert [x.scheduled_at for x in acts(e, "skip")] == [a]
        assert [x.scheduled_at for x in acts(e, "once")] == [a]
    finally:
        await e.stop()
    clock.set(c + 0.3)  # B and C pass while nothing runs

    e = make_engine(tmp_path, clock, isolation=plugin_isolation)
    await e.start()
    try:
        pe = e.processing
        # no await since start(): the scheduler holds each trigger's first fire time
        assert pe.scheduler.next_fire("db", "skip") == (a + 60) * NS
        assert pe.scheduler.next_fire("db", "once") == c * NS
        await wait_for(lambda: len(acts(e, "once")) == 2, "the catch-up run")
        assert [x.scheduled_at for x in acts(e, "once")] == [a, c]  # only the latest missed tick
        rec = acts(e, "once")[-1]
        assert rec.kind == "schedule" and rec.status == "ok"
        assert pe.scheduler.next_fire("db", "once") == (a + 60) * NS
        assert [x.scheduled_at for x in acts(e, "skip")] == [a]
        assert pe.scheduler.next_fire("db", "skip") == (a + 60) * NS
    finally:
        await e.stop()
