"""A worker killed at its deadline takes the processes its plugin started with it (the worker
leads its own process group, and the kill goes to the group)."""
from __future__ import annotations

import os
from pathlib import Path

from pe_engine.processing.triggers import TriggerSettings
from support.engines import make_engine, plugin, wait_acts, wait_for

SPAWNS = """
import subprocess
import time

def process_writes(influxdb3_local, table_batches, args=None):
    child = subprocess.Popen(["sleep", "300"])
    influxdb3_local.cache.put("child", child.pid, use_global=True)
    while True:
        time.sleep(0.05)
"""


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != b"Z"


async def test_the_deadline_kill_ends_the_plugins_children(tmp_path: Path) -> None:
    e = make_engine(tmp_path, isolation="process")
    await e.start()
    child = None
    try:
        plugin(e, "spawns.py", SPAWNS)
        await e.write_lp("db", "t v=0i 0", "ns")
        await e.processing.create_trigger("db", "spawns", "spawns.py", "table:t",
                                          settings=TriggerSettings(deadline_seconds=1.0))
        await e.write_lp("db", "t v=1i 1", "ns")

        def started() -> bool:
            try:
                return e.processing.caches.get_value(("global",), "child") is not None
            except KeyError:
                return False

        await wait_for(started, "the plugin's child started", 30)
        child = e.processing.caches.get_value(("global",), "child")
        assert _alive(child)
        [rec] = await wait_acts(e, "spawns", 1, timeout=30)
        assert rec.status == "timeout", rec.error
        await wait_for(lambda: not _alive(child), "the child killed with its worker", 10)
    finally:
        if child is not None and _alive(child):
            os.kill(child, 9)
        await e.stop()
