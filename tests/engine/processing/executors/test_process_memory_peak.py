"""A worker's memory figure is the activation's own peak RSS growth, not the worker's lifetime
peak: after an activation that touched 64 MB, one that allocates nothing reports little."""
from __future__ import annotations

from pathlib import Path

from support.engines import acts, make_engine, plugin, wait_acts

EATS = """
import threading

def process_writes(influxdb3_local, table_batches, args=None):
    mb = table_batches[0]["rows"][0]["mb"]
    if mb:
        block = bytearray(mb * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
    # a thread that ends: once one has, getrusage's peak no longer follows clear_refs
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
"""


async def test_each_activation_reports_its_own_peak(tmp_path: Path) -> None:
    e = make_engine(tmp_path, isolation="process")
    await e.start()
    try:
        plugin(e, "eats.py", EATS)
        await e.write_lp("db", "m mb=0i 0", "ns")  # the database exists before the trigger
        await e.processing.create_trigger("db", "eats", "eats.py", "table:m")
        await e.write_lp("db", "m mb=64i 1", "ns")
        await wait_acts(e, "eats", 1, timeout=30)
        await e.write_lp("db", "m mb=0i 2", "ns")
        await wait_acts(e, "eats", 2, timeout=30)
        big, small = sorted(acts(e, "eats"), key=lambda a: a.id)
        assert big.status == small.status == "ok"
        assert 60 * 2**20 <= big.memory_peak <= 200 * 2**20, big.memory_peak
        assert small.memory_peak < 16 * 2**20, small.memory_peak
    finally:
        await e.stop()
