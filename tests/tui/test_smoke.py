"""Smoke tests: the console starts on a real engine, shows live data in every pane, switches
panes and quits cleanly; recorded sources drive it deterministically."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from pe_engine.embedded import EngineThread
from pe_tui.app import ConsoleApp
from pe_tui.keys import KEYS, PANES
from pe_tui.messages import ActionDone, TickApplied
from pe_tui.model import Tick
from pe_tui.panes import ActivationsPane, CachesPane, LogsPane, PerformancePane, PluginsPane, TriggersPane
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.screens import ConfirmScreen, HelpScreen, TriggerDetailScreen
from pe_tui.widgets import KeyedTable
from support.waiting import pilot_wait_for

SIZE = (160, 46)

ROOT = Path(__file__).resolve().parents[2]


# `await wait_for(pilot, predicate, what=...)`: poll between pilot pauses, 10 s at most
wait_for = partial(pilot_wait_for, timeout=10.0)


def test_pe_engine_never_imports_textual() -> None:
    code = (
        "import sys, pe_engine, pe_engine.engine, pe_engine.embedded, pe_engine.http.server, pe_engine.cli\n"
        "pe_engine.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'pe_tui')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_pe_tui_command_shares_the_serve_options() -> None:
    from pe_tui.cli import build_parser

    tree = build_parser()
    args = tree.parser.parse_args(["tui", "--demo", "--read-only", "--http-bind", "127.0.0.1:0",
                                   "--wal-flush-interval", "100ms", "--plugin-threads", "2"])
    assert args.demo and args.read_only and args.data_dir is None  # --demo: temporary unless given
    assert args.wal_flush_interval == pytest.approx(0.1) and args.plugin_threads == 2
    serve = tree.parser.parse_args(["serve"])
    assert str(serve.data_dir) == "pe-data"  # copying the options did not change `pe serve`


async def test_live_engine_every_pane_quit_cleanly(engine_thread: EngineThread) -> None:
    et = engine_thread
    app = ConsoleApp(engine_thread=et, refresh=0.1)
    applied: list[TickApplied] = []
    async with app.run_test(size=SIZE, message_hook=lambda m: applied.append(m) if isinstance(m, TickApplied) else None) as pilot:
        for i in range(5):
            et.run(et.engine.write_lp("tui", f"cpu,host=h{i} usage={i}.5"))
        triggers = app.query_one("#triggers-table", KeyedTable)
        await wait_for(pilot, lambda: triggers.row_count == 3, what="three trigger rows")
        await wait_for(pilot, lambda: app.query_one(TriggersPane).rows["tui/echo"].runs >= 1, what="echo ran")
        expected = {
            "activations": lambda: app.query_one("#activations-table", KeyedTable).row_count > 0,
            "performance": lambda: len(app.query_one(PerformancePane)._keys) == 3,
            "logs": lambda: app.query_one("#logs-log").line_count > 0,
            "caches": lambda: any(s.label == "tui/echo" for s in app.query_one(CachesPane).scopes.values()),
            "plugins": lambda: app.query_one("#plugins-table", KeyedTable).row_count == 2,
            "triggers": lambda: triggers.row_count == 3,
        }
        for number, pane in ((2, "activations"), (3, "performance"), (4, "logs"), (5, "caches"),
                             (6, "plugins"), (1, "triggers")):
            await pilot.press(str(number))
            await wait_for(pilot, lambda: app.active_pane.id == pane, what=f"pane {pane}")
            await wait_for(pilot, expected[pane], what=f"live data in {pane}")
        assert applied, "no tick was applied"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    # the console left the engine running and consistent: stop it and read the data back
    et.stop()
    again = EngineThread(et.config).start()
    try:
        assert again.run(again.engine.query("tui", "SELECT count(*) AS n FROM cpu")).to_pylist()[0]["n"] == 5
    finally:
        again.stop()


async def test_live_toggle_goes_through_the_engine(engine_thread: EngineThread) -> None:
    et = engine_thread
    app = ConsoleApp(engine_thread=et, refresh=0.1)
    done: list[ActionDone] = []
    async with app.run_test(size=SIZE, message_hook=lambda m: done.append(m) if isinstance(m, ActionDone) else None) as pilot:
        pane = app.query_one(TriggersPane)
        await wait_for(pilot, lambda: pane.table.row_count == 3, what="trigger rows")
        pane.table.select_key("tui/ticker")
        await pilot.press("space")
        await wait_for(pilot, lambda: bool(done), what="the action to finish")
        assert done[0].ok, done[0].message
        assert et.engine.processing.get("tui", "ticker").disabled  # the engine itself changed
        await wait_for(pilot, lambda: pane.rows["tui/ticker"].state == "disabled", what="the row to follow")
        await pilot.press("q")


async def test_recorded_session_fills_every_pane(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
        assert app.query_one("#triggers-table", KeyedTable).row_count == 10
        assert app.query_one("#activations-table", KeyedTable).row_count == 500
        assert len(app.query_one(PerformancePane)._keys) == 10
        assert app.query_one(LogsPane).log_widget.line_count > 100
        assert len(app.query_one(CachesPane).scopes) == 4
        assert app.query_one("#plugins-table", KeyedTable).row_count == 8
        assert app.query_one(ActivationsPane).records
        assert app.query_one(PluginsPane).plugins


async def test_keys_detail_confirm_help(make_app) -> None:
    source = RecordedSource.demo(now=FROZEN_NOW)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.pause()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, TriggerDetailScreen)
        await pilot.press("escape")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not source.actions
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert source.actions == [("delete_trigger", ("demo", "cpu_rollup"))]
        await app.refresh_now()
        assert "demo/cpu_rollup" not in app.query_one(TriggersPane).rows
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_read_only_hides_every_mutating_action(make_app) -> None:
    source = RecordedSource.demo(now=FROZEN_NOW)
    app = make_app(source, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.pause()
        for pane in PANES:
            app.action_show_pane(pane)
            await pilot.pause()
            shown = {b.binding.action for b in app.active_bindings.values()}
            mutating = {k.action for k in KEYS if k.mutating and k.scope in ("app", pane)}
            assert not shown & mutating, (pane, shown & mutating)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any("on/off" in t or "delete" in t or "retry" in t for t in titles)
        app.action_show_pane("triggers")
        await pilot.press("space", "r", "d", "R", "right_square_bracket")
        await app.workers.wait_for_complete()
        assert source.actions == []


async def test_pause_keeps_collecting(make_app) -> None:
    app = make_app(RecordedSource.demo(now=FROZEN_NOW, extra_ticks=1))
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await pilot.pause()
        table = app.query_one("#activations-table", KeyedTable)
        before = table.row_count, app.query_one(ActivationsPane).seen
        await pilot.press("p")
        await app.refresh_now()
        assert app.pending is not None and app.pending.activations
        assert (table.row_count, app.query_one(ActivationsPane).seen) == before
        await pilot.press("p")
        await pilot.pause()
        assert app.pending is None
        assert app.query_one(ActivationsPane).seen > before[1]


def test_tick_json_round_trip() -> None:
    tick = RecordedSource.demo(now=FROZEN_NOW)._ticks[0]
    again = Tick.from_json(tick.to_json())
    assert again.to_json() == tick.to_json()
    assert again.triggers == tick.triggers and again.caches == tick.caches


async def test_keyed_table_diff_updates_match_a_rebuild() -> None:
    """Random add/remove/update/reorder rounds: the diffed table always equals the wanted rows."""
    import random

    from textual.app import App

    class One(App):
        def compose(self):
            yield KeyedTable([("k", "K", 6), ("v", "V", 6)], id="t")

    rng = random.Random(5)
    app = One()
    async with app.run_test(size=(40, 20)) as pilot:
        table = app.query_one("#t", KeyedTable)
        for _ in range(60):
            keys = rng.sample([f"r{i}" for i in range(40)], rng.randint(0, 30))
            rows = {k: (k, str(rng.randint(0, 3))) for k in keys}
            order = sorted(keys, key=lambda _: rng.random())
            table.sync(rows, order)
            await pilot.pause()
            assert [r.key.value for r in table.ordered_rows] == order
            assert [tuple(table.get_row(k)) for k in order] == [rows[k] for k in order]


async def test_sort_keys(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.pause()
        pane = app.query_one(TriggersPane)
        await pilot.press("s")  # NAME -> DB
        assert pane.sort_column == "db"
        await pilot.press("S")
        assert pane.sort_reverse
        pane.sort_column, pane.sort_reverse = "runs", True
        pane.repaint_if_needed(force=True)
        await pilot.pause()
        runs = [pane.rows[k].runs for k in pane.table.keys]
        assert runs == sorted(runs, reverse=True)
