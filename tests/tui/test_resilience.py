"""The console keeps running and answering keys while real plugins misbehave under a real engine:
one raises on every WAL flush (fed ~100 writes/s), one spins in a busy loop, one logs 10,000 lines a
second; then a loop that never ends is stopped by the engine's deadline.

All three run at the same time for a few seconds while the test works the console (pane switches,
pause/resume, the help screen); every key must take effect, ticks must keep being applied, and
afterwards the console shows what the engine recorded for each plugin. No timing asserts: "responsive"
means every key press had its effect within the generous wait of `until`. Keys go in through the
driver's path (LiveConsole.key), not Pilot.press: Pilot waits for the *process* to go idle, which an
in-process engine running these plugins never does (it would wait 1 s per key, by design of Pilot).

The busy loop of the window (`spinner`) spins until the test opens its gate, not until a wall-clock
deadline: a round of keys takes as long as the machine needs (seconds on a loaded box), and a loop
ended by a fixed deadline could end before the first round did (the cause of this test failing
under load). The engine's deadline is checked afterwards, on a second trigger (`looper`) whose
loop never ends by itself.
"""
from __future__ import annotations

import threading
import time

from pe_engine.processing.triggers import TriggerSettings
from pe_tui.panes import ActivationsPane, LogsPane, TriggersPane
from pe_tui.panes.logs import MAX_LINES
from pe_tui.screens import HelpScreen

WINDOW = 3.0  # seconds of misbehaviour while the console is worked
LOOP_DEADLINE = 2.0  # the engine's watchdog ends the runaway loop after this (it would spin forever)
WAIT = 15.0  # as `until`'s default (conftest)
SPIN_DEADLINE = 300.0  # only a safety net: the busy loop of the window ends when the test opens its gate

RAISER = '''
    def process_writes(influxdb3_local, table_batches, args=None):
        raise RuntimeError("plugin blew up on purpose")
'''
LOOPER = '''
    import os

    def process_scheduled_call(influxdb3_local, call_time, args=None):
        gate = (args or {}).get("gate")  # with a gate: spin until the file is gone; without: forever
        influxdb3_local.info("looping forever" if gate is None else "spinning until the gate opens")
        n = 0
        while True:
            n += 1
            if gate is not None and n % 100_000 == 0 and not os.path.exists(gate):
                return
'''
CHATTY = '''
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        for i in range(10_000):
            influxdb3_local.info(f"chatty line {i}")
'''


async def test_console_stays_responsive_while_plugins_raise_loop_and_flood_the_log(live, engine_thread, add_plugin,
                                                                                     tmp_path):
    et = engine_thread
    pe = et.engine.processing
    add_plugin(et, "raiser.py", RAISER)
    add_plugin(et, "looper.py", LOOPER)
    add_plugin(et, "chatty.py", CHATTY)
    gate = tmp_path / "spinner.gate"
    gate.write_text("spin")
    et.run(pe.create_trigger("tui", "raiser", "raiser.py", "table:boom"))
    et.run(pe.create_trigger("tui", "spinner", "looper.py", "every:1h", arguments={"gate": str(gate)},
                             settings=TriggerSettings(deadline_seconds=SPIN_DEADLINE)))
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
            await c.engine(pe.run_now("tui", "spinner"))
            await c.until(lambda: pe.runtimes[("tui", "spinner")].running == 1, "the busy loop to start")
            thread.start()
            chatty_before = pe.logs.counts["INFO"]
            applied = c.app.ticks_applied
            switches = 0
            cycles_while_looping = 0  # full rounds of keys that all took effect while the loop spun
            deadline = time.monotonic() + WINDOW
            while time.monotonic() < deadline or not cycles_while_looping:
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
                if pe.runtimes[("tui", "spinner")].running == 1 and not pe.activations.recent(1, trigger="spinner"):
                    cycles_while_looping += 1
                else:  # the spinner ended without its gate opening: the round proves nothing
                    raise AssertionError("the busy loop stopped while the console was worked")
            assert c.app.is_running and c.app.return_code is None
            assert switches >= 6
            # collection and painting went on (at least this many ticks: waited for, not assumed)
            await c.until(lambda: c.app.ticks_applied > applied + 3, "ticks applied during the window")

            assert cycles_while_looping >= 1  # ... while the loop was spinning in its worker thread
            gate.unlink()  # let the busy loop end
            spun = (await c.until(lambda: pe.activations.recent(1, trigger="spinner"), "the busy loop to end"))[0]
            assert spun.status == "ok"

            # the raiser: many failures, each one counted by the console
            await c.until(lambda: len(pe.activations.recent(10_000, trigger="raiser", status="error")) >= 5,
                          "the raiser's failures")
            failed = pe.activations.recent(10_000, trigger="raiser", status="error")
            assert len(failed) >= 5 and all("plugin blew up on purpose" in r.error for r in failed)
            trig = c.app.query_one(TriggersPane)
            await c.until(lambda: trig.rows["tui/raiser"].errors >= len(failed), "the raiser's errors")
            assert trig.rows["tui/raiser"].state == "enabled"  # error_behavior "log": it keeps running

            # the chatty plugin: well over 10,000 lines reached the engine; the console kept up by
            # skipping what it cannot show, and its Log stays bounded
            await c.until(lambda: pe.logs.counts["INFO"] - chatty_before >= 20_000, "two runs of the chatty plugin")
            logs = c.app.query_one(LogsPane)
            c.key("4")
            await c.until(lambda: c.app.active_pane is logs and any("chatty line" in ln for ln in logs.log_widget.lines),
                          "the chatty lines on screen")
            await c.until(lambda: logs.skipped_total > 0, "the skipped-lines count")
            assert logs.log_widget.line_count <= MAX_LINES
            assert "skipped" in str(logs.query_one("#logs-info").content)

            # a loop that never ends by itself ends by the engine's deadline: the console shows the timeout
            stop.set()
            await c.engine(pe.run_now("tui", "looper"))
            rec = (await c.until(lambda: pe.activations.recent(1, trigger="looper"), "the loop's timeout",
                                 timeout=LOOP_DEADLINE + WAIT))[0]
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
