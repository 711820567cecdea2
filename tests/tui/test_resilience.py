"""The console keeps running and answering keys while real plugins misbehave under a real engine:
one raises on every WAL flush (fed ~100 writes/s), one loops forever, one logs 10,000 lines a second.

All three run at the same time for a few seconds while the test works the console (pane switches,
pause/resume, the help screen); every key must take effect, ticks must keep being applied, and
afterwards the console shows what the engine recorded for each plugin. No timing asserts: "responsive"
means every key press had its effect within the generous wait of `until`. Keys go in through the
driver's path (LiveConsole.key), not Pilot.press: Pilot waits for the *process* to go idle, which an
in-process engine running these plugins never does (it would wait 1 s per key, by design of Pilot).
"""
from __future__ import annotations

import threading
import time

from pe_engine.processing.triggers import TriggerSettings
from pe_tui.panes import ActivationsPane, LogsPane, TriggersPane
from pe_tui.panes.logs import MAX_LINES
from pe_tui.screens import HelpScreen

WINDOW = 3.0  # seconds of misbehaviour while the console is worked
LOOP_DEADLINE = 4.5  # the engine's watchdog ends the runaway loop after this (it would spin forever)

RAISER = '''
    def process_writes(influxdb3_local, table_batches, args=None):
        raise RuntimeError("plugin blew up on purpose")
'''
LOOPER = '''
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        influxdb3_local.info("looping forever")
        n = 0
        while True:
            n += 1
'''
CHATTY = '''
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        for i in range(10_000):
            influxdb3_local.info(f"chatty line {i}")
'''


async def test_console_stays_responsive_while_plugins_raise_loop_and_flood_the_log(live, engine_thread, add_plugin):
    et = engine_thread
    pe = et.engine.processing
    add_plugin(et, "raiser.py", RAISER)
    add_plugin(et, "looper.py", LOOPER)
    add_plugin(et, "chatty.py", CHATTY)
    et.run(pe.create_trigger("tui", "raiser", "raiser.py", "table:boom"))
    et.run(pe.create_trigger("tui", "looper", "looper.py", "every:1h",
                             settings=TriggerSettings(deadline_seconds=LOOP_DEADLINE)))
    et.run(pe.create_trigger("tui", "chatty", "chatty.py", "every:1s"))  # 10,000 lines every second

    stop = threading.Event()
    writes = 0

    def writer() -> None:  # feeds the raiser: each 10 ms WAL flush is one failing activation
        nonlocal writes
        while not stop.is_set():
            et.run(et.engine.write_lp("tui", f"boom,host=a v={writes}i"))
            writes += 1
            time.sleep(0.01)

    thread = threading.Thread(target=writer, name="boom-writer", daemon=True)
    try:
        async with live() as c:
            await c.engine(pe.run_now("tui", "looper"))
            await c.until(lambda: pe.runtimes[("tui", "looper")].running == 1, "the loop to start")
            thread.start()
            chatty_before = pe.logs.counts["INFO"]
            applied = c.app.ticks_applied
            switches = 0
            cycles_while_looping = 0  # full rounds of keys that all took effect while the loop spun
            deadline = time.monotonic() + WINDOW
            while time.monotonic() < deadline:
                for number, scope in ((2, "activations"), (4, "logs"), (3, "performance"), (5, "caches"),
                                      (6, "plugins"), (1, "triggers")):
                    c.key(str(number))  # each switch takes effect
                    await c.until(lambda: c.app.active_pane.id == scope, f"pane {scope}")
                    switches += 1
                c.key("p")
                await c.until(lambda: c.app.paused and c.app.status_bar.paused, "pause")
                c.key("p")
                await c.until(lambda: not c.app.paused, "resume")
                c.key("question_mark")
                await c.until(lambda: isinstance(c.app.screen, HelpScreen), "help")
                c.key("escape")
                await c.until(lambda: not isinstance(c.app.screen, HelpScreen), "help to close")
                if pe.runtimes[("tui", "looper")].running == 1 and not pe.activations.recent(1, trigger="looper"):
                    cycles_while_looping += 1
            assert c.app.is_running and c.app.return_code is None
            assert switches >= 6
            assert c.app.ticks_applied > applied + 3  # collection and painting went on

            assert cycles_while_looping >= 1  # ... while the loop was spinning in its worker thread

            # the raiser: many failures, each one counted by the console
            failed = pe.activations.recent(10_000, trigger="raiser", status="error")
            assert len(failed) >= 5 and all("plugin blew up on purpose" in r.error for r in failed)
            trig = c.app.query_one(TriggersPane)
            await c.until(lambda: trig.rows["tui/raiser"].errors >= len(failed), "the raiser's errors")
            assert trig.rows["tui/raiser"].state == "enabled"  # error_behavior "log": it keeps running

            # the chatty plugin: well over 10,000 lines reached the engine; the console kept up by
            # skipping what it cannot show, and its Log stays bounded
            assert pe.logs.counts["INFO"] - chatty_before >= 20_000
            logs = c.app.query_one(LogsPane)
            c.key("4")
            await c.until(lambda: c.app.active_pane is logs and any("chatty line" in ln for ln in logs.log_widget.lines),
                          "the chatty lines on screen")
            await c.until(lambda: logs.skipped_total > 0, "the skipped-lines count")
            assert logs.log_widget.line_count <= MAX_LINES
            assert "skipped" in str(logs.query_one("#logs-info").content)

            # the loop ends only by the engine's deadline: the console shows the timeout
            stop.set()
            rec = (await c.until(lambda: pe.activations.recent(1, trigger="looper"), "the loop's timeout",
                                 timeout=LOOP_DEADLINE + 10))[0]
            assert rec.status == "timeout"
            acts = c.app.query_one(ActivationsPane)
            c.key("2")
            await c.until(lambda: any(r.id == rec.id and r.status == "timeout" for r in acts.records),
                          "the timeout in the feed")
            await c.until(lambda: trig.rows["tui/looper"].errors == 1, "the looper's error count")
            assert c.app.is_running
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(5)
