"""The console on an engine with process isolation: plugins run in worker processes, and the
console shows their activations, where each trigger runs, the worker pool, and a worker crash
(status `crashed`) styled as the error it is. Waits are on conditions, never fixed sleeps."""
from __future__ import annotations

import datetime as dt
import os

from pe_engine.embedded import EngineThread
from pe_tui.app import ConsoleApp
from pe_tui.panes import ActivationsPane, LogsPane, PluginsPane, TriggersPane
from pe_tui.panes.triggers import SORT_COLUMNS
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.widgets import STATUS_STYLE, KeyedTable

LIVE_SIZE = (160, 40)


def live_app(et: EngineThread) -> ConsoleApp:
    app = ConsoleApp(engine_thread=et, refresh=0.1, tz=dt.timezone.utc)
    app.animation_level = "none"
    return app


async def quiesce(app: ConsoleApp, pilot) -> None:
    """As conftest's `live` does before run_test's teardown: no tick in flight."""
    app.driver.stop()
    await app.workers.wait_for_complete()
    if app.is_running:
        await pilot.pause(0)


def status_cell(table: KeyedTable, key: str):
    return table.get_cell(key, "status")


def press(app: ConsoleApp, key_event, key: str) -> None:
    """Queue a key as the terminal driver does (Pilot.press waits for the whole process to look
    idle, which a live engine rarely does); follow with a wait on the key's effect."""
    event = key_event(key)
    event.set_sender(app)
    app.post_message(event)


async def test_activations_of_plugins_in_worker_processes_reach_every_pane(process_engine_thread, wait, key_event) -> None:
    et = process_engine_thread
    app = live_app(et)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        triggers = app.query_one(TriggersPane)
        await wait(pilot, lambda: {"tui/where", "tui/crash"} <= set(triggers.table.keys), "the trigger rows")
        et.run(et.engine.write_lp("tui", "cpu,host=a usage=1.5\ncpu,host=b usage=2.5"))

        # the activation arrives, ok, in the feed
        acts = app.query_one(ActivationsPane)
        rec = await wait(pilot, lambda: next((r for r in acts.records if r.trigger == "where"), None),
                         "the where activation")
        assert rec.status == "ok" and rec.rows_in == 2
        # ... ran in a worker process the console lists, not in the test's (the engine's) process
        logs = app.query_one(LogsPane)
        line = await wait(pilot, lambda: next((ln for ln in logs.lines if "in pid" in ln.text), None),
                          "the plugin's log line")
        pid = int(line.text.rsplit(" ", 1)[1])
        status = await wait(pilot, lambda: app.last_tick and app.last_tick.status.workers and app.last_tick.status,
                            "the worker pool in the status")
        assert pid != os.getpid()
        assert status.plugin_isolation == "process" and 1 <= status.workers <= status.workers_max == 2
        await wait(pilot, lambda: pid in app.last_tick.status.worker_pids, f"worker {pid} listed")

        # the triggers pane: the run counted, and where it ran (the server's default)
        row = await wait(pilot, lambda: triggers.rows["tui/where"].runs >= 1 and triggers.rows["tui/where"],
                         "the run counted")
        assert (row.isolation, row.isolation_setting) == ("process", None)
        await wait(pilot, lambda: triggers.table.get_row("tui/where")[SORT_COLUMNS.index("isolation")].plain
                   == "process", "the RUN IN cell")
        await wait(pilot, lambda: f"/{status.workers_max} workers" in str(app.query_one("#triggers-info").content),
                   "the pool in the triggers pane's info line")
        assert "plugins run in worker processes" in str(app.query_one("#triggers-info").content)

        # the plugins pane lists the pool too
        plugins = app.query_one(PluginsPane)
        press(app, key_event, "6")
        await wait(pilot, lambda: app.active_pane is plugins and plugins.status is not None
                   and plugins.status.workers is not None, "the plugins pane with the pool")
        await quiesce(app, pilot)


async def test_a_worker_crash_shows_as_a_crashed_activation_styled_as_an_error(process_engine_thread, wait, key_event) -> None:
    et = process_engine_thread
    app = live_app(et)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        triggers = app.query_one(TriggersPane)
        await wait(pilot, lambda: "tui/crash" in triggers.table.keys, "the crash trigger")
        et.run(et.engine.write_lp("tui", "boom,host=a v=1"))

        press(app, key_event, "2")
        acts = app.query_one(ActivationsPane)
        rec = await wait(pilot, lambda: next((r for r in acts.records if r.trigger == "crash"), None),
                         "the crash activation")
        assert rec.status == "crashed" and "exited with code 3" in (rec.error or "")
        await wait(pilot, lambda: str(rec.id) in acts.table.keys, "its row")
        cell = status_cell(acts.table, str(rec.id))
        assert cell.plain == "crashed" and "red" in str(cell.style)
        assert STATUS_STYLE["crashed"] == STATUS_STYLE["error"]
        # it counts as a failure: in the pane's count, the "errors" filter and the trigger's errors
        await wait(pilot, lambda: app.active_pane is acts, "the activations pane")
        press(app, key_event, "e")
        await wait(pilot, lambda: acts.status_filter == "errors" and str(rec.id) in acts.table.keys,
                   "the errors filter keeps it")
        await wait(pilot, lambda: triggers.rows["tui/crash"].errors >= 1, "the trigger's error count")
        # the pool replaced the worker and says so
        await wait(pilot, lambda: app.last_tick.status.workers_replaced >= 1, "the replaced worker counted")
        await quiesce(app, pilot)


async def test_the_recorded_process_session_shows_a_crash_as_an_error(make_app) -> None:
    """Replay (screenshots, deterministic tests) has the same process-mode story as live."""
    app = make_app(RecordedSource.demo(now=FROZEN_NOW, isolation="process"))
    async with app.run_test(size=(160, 46)) as pilot:
        await app.refresh_now()
        await pilot.pause()
        acts = app.query_one(ActivationsPane)
        crashed = [r for r in acts.records if r.status == "crashed"]
        assert crashed
        app.query_one("#tabs").active = "tab-activations"
        await pilot.pause()
        acts.repaint_if_needed(force=True)
        cell = status_cell(acts.table, str(crashed[-1].id))
        assert cell.plain == "crashed" and "red" in str(cell.style)
        assert app.last_tick.status.workers_replaced >= len(crashed)
