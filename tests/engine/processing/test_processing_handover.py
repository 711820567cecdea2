"""Disable then enable a synchronous trigger while a call is still running: the new
runtime waits for the old call, so the trigger never runs two activations at once.

The plugin marks its start and end in a file, and the evidence of the handover is the
activation records, so the test reads the same things whether plugins run in threads or in
worker processes (where disabling the trigger stops the running call's worker; in a thread it
runs on, as it makes no API call)."""
import asyncio
import time

from support.engines import make_engine, plugin

PLUGIN = '''
import os, time
def process_writes(influxdb3_local, table_batches, args=None):
    def mark(what):
        fd = os.open(args["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{what} {time.monotonic()}\\n".encode())
        finally:
            os.close(fd)
    mark("start")
    try:
        time.sleep(0.4)
    finally:
        mark("end")
'''


def _marks(path) -> list[tuple[str, float]]:
    if not path.exists():
        return []
    return [(w, float(t)) for w, t in (line.split() for line in path.read_text().splitlines())]


async def test_reenabled_sync_trigger_waits_for_the_running_call(tmp_path, plugin_isolation):
    marks = tmp_path / "marks.txt"
    async with make_engine(tmp_path, isolation=plugin_isolation) as e:
        pe = e.processing
        await e.create_database("db")
        plugin(e, "slow.py", PLUGIN)
        await pe.create_trigger("db", "slow", "slow.py", "table:m", arguments={"log": str(marks)})
        await e.write_lp("db", "m v=1 1")
        deadline = time.monotonic() + 15
        while not _marks(marks):
            assert time.monotonic() < deadline, "plugin never started"
            await asyncio.sleep(0.01)
        await pe.disable_trigger("db", "slow")
        await pe.enable_trigger("db", "slow")
        await e.write_lp("db", "m v=2 2")
        while len(pe.activations.recent(limit=10, trigger="slow")) < 2:
            assert time.monotonic() < deadline, "second call never ran"
            await asyncio.sleep(0.01)
        first, second = sorted(pe.activations.recent(limit=10, trigger="slow"), key=lambda a: a.id)
        assert second.status == "ok", second
        assert second.started_at >= first.finished_at, (first, second)  # never two at once
        assert [w for w, _ in _marks(marks)][-2:] == ["start", "end"]
