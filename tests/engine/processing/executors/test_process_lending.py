"""Lending: with every worker busy but waiting (not computing), an activation gets one more
worker instead of queueing behind them; with every worker computing, it queues (the cap holds)."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.engines import acts, gget, make_engine, plugin, wait_acts, wait_for

HOLDER = """
import time

def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.cache.put("holder_started", True, use_global=True)
    end = time.monotonic() + float(args["seconds"])
    while time.monotonic() < end:
        if args["how"] == "sleep":
            time.sleep(0.05)  # a plugin waiting, e.g. on an HTTP answer
        else:
            sum(range(20000))  # a plugin computing
"""

QUICK = """
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("quick ran")
"""


def _executor(e):
    return e.processing.executor.process


@pytest.mark.parametrize("how", ["sleep", "compute"])
async def test_a_waiting_pool_lends_a_worker_a_computing_one_does_not(tmp_path: Path, how: str) -> None:
    e = make_engine(tmp_path, isolation="process", plugin_processes=1)
    await e.start()
    try:
        plugin(e, "holder.py", HOLDER)
        plugin(e, "quick.py", QUICK)
        await e.write_lp("db", "h v=0i 0\nq v=0i 0", "ns")
        await e.processing.create_trigger("db", "holder", "holder.py", "table:h",
                                          arguments={"seconds": "4", "how": how})
        await e.processing.create_trigger("db", "quick", "quick.py", "table:q")
        await e.write_lp("db", "h v=1i 1", "ns")
        await wait_for(lambda: gget(e, "holder_started"), "the holder running", 30)
        await e.write_lp("db", "q v=1i 1", "ns")
        [quick] = await wait_acts(e, "quick", 1, timeout=30)
        assert quick.status == "ok", quick.error
        holder_done = acts(e, "holder")
        pool = _executor(e).pool
        if how == "sleep":
            assert holder_done == [], f"quick should have run beside the waiting holder (lent {pool.lent})"
            assert pool.lent == 1
            await wait_acts(e, "holder", 1, timeout=30)
            await wait_for(lambda: pool.size == 1, "the lent worker gone after its activation", 10)
        else:
            assert len(holder_done) == 1, "quick should have queued behind the computing holder"
            assert pool.lent == 0
    finally:
        await e.stop()
