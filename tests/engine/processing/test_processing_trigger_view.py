"""TriggerView: the one snapshot of a trigger that listings, system tables and the console read."""
from __future__ import annotations

import dataclasses

import pytest

from pe_engine.engine import Engine
from pe_engine.processing.enums import TriggerState

from support.engines import wait_acts


async def test_views_match_describe_and_are_frozen(eng: Engine) -> None:
    pe = eng.processing
    await pe.create_trigger("db", "w", "wal_plugin.py", "all_tables", arguments={"k": "v"})
    await pe.create_trigger("db", "s", "downsample_schedule.py", "every:1h")
    await pe.create_trigger("db", "off", "wal_plugin.py", "table:cpu", disabled=True)
    await eng.write_lp("db", "cpu v=1")
    await wait_acts(eng, "w", 1)
    views = pe.trigger_views("db")
    assert [v.name for v in views] == ["off", "s", "w"]
    for v in views:
        assert v.to_json() == pe.describe(pe.get("db", v.name))
        assert pe.trigger_view("db", v.name).name == v.name
        assert v.definition_json() == pe.get("db", v.name).to_json()  # the stored form, key for key
        assert list(v.to_json())[: len(v.definition_json())] == list(v.definition_json())  # same key order
    off, s, w = views
    assert off.state == TriggerState.DISABLED and off.state == "disabled" and not off.running
    assert s.scheduled and s.next_fire_ns is not None and s.kind == "schedule"
    assert w.running and w.stats is not None and w.stats.runs >= 1 and w.arguments == {"k": "v"}
    assert "next_fire_ns" not in w.to_json() and "queued" not in off.to_json()
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.name = "x"  # type: ignore[misc]
    assert pe.trigger_views("nope") == []
