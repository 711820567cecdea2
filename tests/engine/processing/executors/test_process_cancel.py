"""Disabling or deleting a trigger stops its running activation in process isolation, even one
that swallows every exception (in a thread nothing can stop it; a worker process can be killed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pe_engine.processing.triggers import TriggerSettings
from support.engines import acts, make_engine, plugin, wait_acts, wait_for

STUBBORN = """
import os
import time
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.cache.put("entered", os.getpid(), use_global=True)
    while True:
        try:
            time.sleep(0.01)
        except BaseException:
            pass
"""


@pytest.mark.parametrize("how", ["disable", "delete"])
async def test_stopping_the_trigger_ends_a_stubborn_activation(tmp_path: Path, how: str) -> None:
    e = make_engine(tmp_path, isolation="process")
    await e.start()
    try:
        pe = e.processing
        plugin(e, "stubborn.py", STUBBORN)
        await e.write_lp("db", "cpu v=0 0", "ns")
        await pe.create_trigger("db", "stub", "stubborn.py", "table:cpu",
                                settings=TriggerSettings(deadline_seconds=600))
        await e.write_lp("db", "cpu v=1 1", "ns")
        await wait_for(lambda: _entered(pe), "the plugin is running", 30)
        pid = pe.caches.get_value(("global",), "entered")
        assert pid in pe.executor.process.pool.pids()
        if how == "disable":
            await pe.disable_trigger("db", "stub")
        else:
            await pe.delete_trigger("db", "stub", force=True)
        [rec] = await wait_acts(e, "stub", 1, timeout=30)
        assert rec.status == "error"
        assert "trigger was stopped" in (rec.error or "")
        # only the stubborn worker goes (the warm spare, if one started, stays)
        await wait_for(lambda: pid not in pe.executor.process.pool.pids(), "the stubborn worker gone", 30)
        # the engine goes on: writes and queries still work
        await e.write_lp("db", "cpu v=2 2", "ns")
        assert acts(e, "stub") == [rec]
    finally:
        await e.stop()


def _entered(pe) -> bool:
    try:
        return bool(pe.caches.get_value(("global",), "entered"))
    except KeyError:
        return False
