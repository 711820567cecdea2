"""Disable then enable a synchronous trigger while a call is still running: the new
runtime waits for the old call, so the trigger never runs two activations at once."""
import asyncio
import time

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine

PLUGIN = '''
import sys, time
def process_writes(influxdb3_local, table_batches, args=None):
    state = sys.modules.setdefault("pe_handover_state", type(sys)("pe_handover_state"))
    state.now = getattr(state, "now", 0) + 1
    state.peak = max(getattr(state, "peak", 0), state.now)
    try:
        time.sleep(0.4)
    finally:
        state.now -= 1
        state.calls = getattr(state, "calls", 0) + 1
'''


async def test_reenabled_sync_trigger_waits_for_the_running_call(tmp_path):
    import sys

    sys.modules.pop("pe_handover_state", None)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "slow.py").write_text(PLUGIN)
    cfg = EngineConfig(data_dir=tmp_path / "d", plugin_dir=tmp_path / "p", wal_flush_interval=0.005)
    async with Engine(cfg) as e:
        pe = e.processing
        await e.create_database("db")
        await pe.create_trigger("db", "slow", "slow.py", "table:m")
        await e.write_lp("db", "m v=1 1")
        deadline = time.monotonic() + 10
        while not getattr(sys.modules.get("pe_handover_state"), "now", 0):
            assert time.monotonic() < deadline, "plugin never started"
            await asyncio.sleep(0.01)
        await pe.disable_trigger("db", "slow")
        await pe.enable_trigger("db", "slow")
        await e.write_lp("db", "m v=2 2")
        while getattr(sys.modules["pe_handover_state"], "calls", 0) < 2:
            assert time.monotonic() < deadline, "second call never ran"
            await asyncio.sleep(0.01)
        assert sys.modules["pe_handover_state"].peak == 1
