"""Every key of the console's registry, pressed under Pilot against a real engine.

Mutating keys are checked in the ENGINE (processing.get(...).disabled, caches.entries(...),
activations.recent(...)), and where it matters again after a restart on the same data dir.
View keys are checked in the console, against what the engine holds. `test_every_registry_key_is_pressed`
keeps this file honest: a key added to pe_tui.keys without a test here fails it.

Fixtures (`live`, `restart`, `add_plugin`, `engine_thread`) are in conftest.py: the engine has
the triggers tui/echo (table:cpu), tui/ticker (every:1s) and tui/failing (every:1s, raises).
"""
from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.command import CommandList, CommandPalette
from textual.widgets import TabbedContent, TextArea

from pe_engine.processing.activations import ERROR_STATUSES
from pe_tui.demo import LoadGenerator
from pe_tui.keys import BY_ID, KEYS, MUTATING, PANES
from pe_tui.messages import ActionDone
from pe_tui.panes import LogsPane, TriggersPane
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.screens import (
    ActivationDetailScreen,
    CacheValueScreen,
    ConfirmScreen,
    HelpScreen,
    TriggerDetailScreen,
)
from pe_tui.screens.help import pretty_keys

HERE = Path(__file__).parent

FILL_PLUGIN = '''
    def process_writes(influxdb3_local, table_batches, args=None):
        for i in range(3):
            influxdb3_local.cache.put(f"k{i}", {"i": i, "label": f"value {i}"})
        influxdb3_local.cache.put("shared", 42, use_global=True)
'''


def _screen_is(c, cls, child=None):
    """The screen is up (and, given `child`, composed far enough to have it)."""
    return lambda: isinstance(c.app.screen, cls) and (child is None or bool(c.app.screen.query(child)))


# ====================================================================== triggers: space, r, d, enter
async def test_space_toggles_the_trigger_in_the_engine_and_it_survives_a_restart(live, engine_thread, restart):
    async with live() as c:
        pane = c.app.query_one(TriggersPane)
        await c.select(pane.table, "tui/ticker")
        await c.press("space")
        done = await c.action("disable trigger")
        assert done.ok, done.message
        assert c.pe.get("tui", "ticker").disabled
        await c.until(lambda: pane.rows["tui/ticker"].state == "disabled", "the row to show disabled")
        assert not c.pe.get("tui", "echo").disabled  # only the selected one

    et2 = restart(engine_thread)
    assert et2.engine.processing.get("tui", "ticker").disabled  # persisted, not just in memory

    async with live(et2) as c:
        pane = c.app.query_one(TriggersPane)
        await c.until(lambda: pane.rows["tui/ticker"].state == "disabled", "the restarted engine's state")
        await c.select(pane.table, "tui/ticker")
        await c.press("space")
        done = await c.action("enable trigger")
        assert done.ok, done.message
        assert not c.pe.get("tui", "ticker").disabled
        await c.until(lambda: pane.rows["tui/ticker"].state == "enabled", "the row to show enabled")

    et3 = restart(et2)
    assert not et3.engine.processing.get("tui", "ticker").disabled


class _HeldSource(RecordedSource):
    """Recorded ticks whose collect() waits while `hold` is clear: a collection in flight."""

    def __init__(self, ticks) -> None:
        super().__init__(ticks)
        self.hold = threading.Event()
        self.hold.set()
        self.collecting = threading.Event()

    def collect(self):
        self.collecting.set()
        try:
            self.hold.wait(30)
            return super().collect()
        finally:
            self.collecting.clear()


async def test_an_action_that_ends_during_a_collection_still_gets_an_early_tick(make_app, wait):
    """After an action the console collects again soon (not at the next refresh), also when the
    action ended while a collection was in flight: that one may have read the old state.
    (Regression: the early tick was skipped then, and the change showed a whole interval late.)"""
    source = _HeldSource(RecordedSource.demo(now=FROZEN_NOW)._ticks)
    app = make_app(source, auto_tick=True, refresh=10.0)  # a slow refresh: only early ticks come soon
    app.animation_level = "none"
    done: list[ActionDone] = []
    async with app.run_test(size=(160, 46), message_hook=lambda m: done.append(m) if isinstance(m, ActionDone)
                            else None) as pilot:
        pane = app.query_one(TriggersPane)
        await wait(pilot, lambda: app.ticks_applied >= 1 and app.driver.next_delay == 10.0, "the first tick")
        source.hold.clear()  # the next collection will wait
        await pilot.press("space")  # cpu_rollup (the first row): disable; its early tick starts and is held
        await wait(pilot, lambda: source.collecting.is_set() and app.driver.busy, "a collection in flight")
        await pilot.press("down", "space")  # disk_audit: this action ends while that collection is held
        await wait(pilot, lambda: len(done) == 2, "both actions")
        assert [d.ok for d in done] == [True, True]
        source.hold.set()
        await wait(pilot, lambda: not app.driver.busy, "the held tick applied")
        assert app.driver.next_delay == app.driver.KICK_DELAY  # not the 10 s refresh
        await wait(pilot, lambda: pane.rows["demo/cpu_rollup"].state == pane.rows["demo/disk_audit"].state
                   == "disabled", "both changes shown")
        assert source.actions == [("set_trigger_enabled", ("demo", "cpu_rollup", False)),
                                  ("set_trigger_enabled", ("demo", "disk_audit", False))]


async def test_r_runs_a_schedule_trigger_now(live, engine_thread):
    et = engine_thread
    et.run(et.engine.processing.create_trigger("tui", "hourly", "tick.py", "every:1h"))
    async with live() as c:
        assert c.pe.activations.recent(10, trigger="hourly", database="tui") == []
        pane = c.app.query_one(TriggersPane)
        await c.select(pane.table, "tui/hourly")
        await c.press("r")
        done = await c.action("run now")
        assert done.ok, done.message
        recs = await c.until(lambda: c.pe.activations.recent(10, trigger="hourly", database="tui"),
                             "the activation run-now made")
        assert [(r.kind, r.status) for r in recs] == [("schedule", "ok")]
        await c.until(lambda: pane.rows["tui/hourly"].runs == 1, "the console to count the run")


async def test_R_retries_a_failed_activation_with_the_same_input(live, engine_thread):
    et = engine_thread
    pe = et.engine.processing
    et.run(pe.create_trigger("tui", "boom", "tick.py", "every:1h", arguments={"fail": "yes"}))
    et.run(pe.run_now("tui", "boom"))
    async with live() as c:
        first = (await c.until(lambda: c.pe.activations.recent(5, trigger="boom"), "boom's failure"))[0]
        assert first.status == "error"
        acts = await c.pane(2, "activations")
        await c.press("slash", *"boom", "enter")  # only boom's activations
        await c.until(lambda: acts.table.keys == [str(first.id)], "boom's row alone")
        await c.select(acts.table, str(first.id))
        await c.press("R")
        done = await c.action("retry activation")
        assert done.ok, done.message
        recs = await c.until(lambda: (r := c.pe.activations.recent(5, trigger="boom")) and len(r) == 2 and r,
                             "the retried activation")
        again = recs[0]
        assert again.id > first.id
        assert again.scheduled_at == first.scheduled_at  # the same input (the original call time)
        assert again.status == "error"  # and it fails the same way
        assert again.error == first.error

        # R from the activation detail screen does the same
        await c.select(acts.table, str(first.id))
        await c.press("enter")
        await c.until(_screen_is(c, ActivationDetailScreen), "the activation detail")
        assert c.app.screen.can_retry
        await c.press("R")
        done = await c.action("retry activation")
        assert done.ok, done.message
        recs = await c.until(lambda: (r := c.pe.activations.recent(5, trigger="boom")) and len(r) == 3 and r,
                             "the second retry")
        assert {r.scheduled_at for r in recs} == {first.scheduled_at}


async def test_delete_asks_first_and_n_or_escape_keep_the_trigger(live, engine_thread, restart):
    async with live() as c:
        pane = c.app.query_one(TriggersPane)
        await c.select(pane.table, "tui/ticker")
        for cancel in ("n", "escape"):
            await c.press("d")
            await c.until(_screen_is(c, ConfirmScreen), "the confirmation")
            assert "tui/ticker" in c.app.screen.title_text
            await c.press(cancel)
            await c.until(lambda: not isinstance(c.app.screen, ConfirmScreen), "the dialog to close")
            await c.settle()
            assert ("tui", "ticker") in c.pe.triggers, cancel
            assert not [d for d in c.done if d.action == "delete trigger"]
        await c.press("ctrl+d")  # the other key of the same binding
        await c.until(_screen_is(c, ConfirmScreen), "the confirmation")
        await c.press("y")
        done = await c.action("delete trigger")
        assert done.ok, done.message
        assert ("tui", "ticker") not in c.pe.triggers
        await c.until(lambda: "tui/ticker" not in pane.table.keys, "the row to go")
        assert set(pane.table.keys) == {"tui/echo", "tui/failing"}

    et2 = restart(engine_thread)
    assert ("tui", "ticker") not in et2.engine.processing.triggers


# ====================================================================== caches: d / delete, C, tab
async def test_cache_keys_delete_and_scope_clear_reach_the_engine(live, engine_thread, add_plugin):
    et = engine_thread
    add_plugin(et, "fill.py", FILL_PLUGIN)
    et.run(et.engine.processing.create_trigger("tui", "filler", "fill.py", "table:mem"))
    ns = ("trigger", "tui", "filler")
    keys = lambda: [e.key for e in et.engine.processing.caches.entries(ns)]  # noqa: E731
    async with live() as c:
        await c.engine(et.engine.write_lp("tui", "mem,host=a used=1"))
        await c.until(lambda: keys() == ["k0", "k1", "k2"], "the plugin to fill its cache")
        pane = await c.pane(5, "caches")
        sid = "plugin:trigger/tui/filler"
        await c.select(pane.scope_table, sid)
        await c.until(lambda: pane.key_table.keys == ["k0", "k1", "k2"], "the scope's keys")
        await c.press("tab")
        assert pane.key_table.has_focus
        await c.press("tab")
        assert pane.scope_table.has_focus
        await c.press("tab")

        await c.select(pane.key_table, "k0")
        await c.press("d")
        assert (await c.action("delete cache key")).ok
        assert keys() == ["k1", "k2"]
        await c.until(lambda: pane.key_table.keys == ["k1", "k2"], "the deleted key to go")
        await c.select(pane.key_table, "k1")
        await c.press("delete")
        assert (await c.action("delete cache key")).ok
        assert keys() == ["k2"]

        await c.press("C")
        await c.until(_screen_is(c, ConfirmScreen), "the confirmation")
        await c.press("n")
        await c.settle()
        assert keys() == ["k2"]
        await c.press("C")
        await c.until(_screen_is(c, ConfirmScreen), "the confirmation")
        await c.press("y")
        done = await c.action("clear cache scope")
        assert done.ok, done.message
        assert et.engine.processing.caches.entries(ns) == []
        assert [e.key for e in et.engine.processing.caches.entries(("global",))] == ["shared"]  # untouched
        await c.until(lambda: sid not in pane.scopes or pane.scopes[sid].total_keys == 0, "the empty scope")


# ====================================================================== app keys
async def test_p_pauses_repaint_while_collection_continues(live, engine_thread):
    async with live() as c:
        acts = await c.pane(2, "activations")
        await c.until(lambda: acts.table.row_count > 0, "some activations")
        await c.press("p")
        assert c.app.paused and c.app.status_bar.paused
        rows, seen, repaints = list(acts.table.keys), acts.seen, acts.repaints
        ticks, seq = c.app.driver.ticks, c.app.last_tick.seq
        await c.engine(c.et.engine.write_lp("tui", "cpu,host=paused usage=1"))
        new = (await c.until(lambda: c.pe.activations.recent(1, trigger="echo"), "echo to run"))[0]
        await c.until(lambda: c.app.pending is not None and any(a.id == new.id for a in c.app.pending.activations),
                      "the activation to be collected while paused")
        assert c.app.driver.ticks > ticks and c.app.last_tick.seq > seq  # the bridge kept collecting
        assert (list(acts.table.keys), acts.seen, acts.repaints) == (rows, seen, repaints)  # nothing painted
        assert c.app.status_bar.buffered[0] >= 1
        assert "PAUSED" in c.app.status_bar.render().plain

        await c.press("p")
        assert not c.app.paused and c.app.pending is None
        await c.until(lambda: str(new.id) in acts.table.keys, "the buffered activation to show")
        assert acts.seen > seen
        assert "LIVE" in c.app.status_bar.render().plain


async def test_plus_and_minus_change_the_refresh_rate(live):
    async with live(refresh=0.25) as c:
        app = c.app
        seen = []
        for key in ("plus", "equals_sign", "plus", "minus", "minus", "minus"):
            await c.press(key)
            seen.append(app.refresh_interval)
            assert app.driver.interval == app.refresh_interval == app.status_bar.interval
        assert seen == [0.2, 0.1, 0.1, 0.2, 0.25, 0.5]  # floored at 10 Hz
        assert "2 Hz" in app.status_bar.render().plain
        await c.tick()  # still collecting at the new rate
        for _ in range(10):
            await c.press("minus")
        assert app.driver.interval == 10.0  # the slowest step


async def test_number_keys_switch_panes(live):
    async with live() as c:
        tabs = c.app.query_one("#tabs", TabbedContent)
        for number, scope in [*enumerate(PANES, start=1), (1, "triggers"), (6, "plugins"), (3, "performance")]:
            await c.press(str(number))
            await c.until(lambda: c.app.active_pane.id == scope, f"pane {scope}")
            assert tabs.active == f"tab-{scope}"
            await c.until(lambda: c.app.focused is not None and c.app.active_pane in c.app.focused.ancestors,
                          f"focus inside {scope}")


async def test_pane_keys_typed_ahead_all_take_effect(make_app):
    """Pane keys typed faster than the console focuses each pane: the last one wins.

    (Regression: the focus of the pane left behind arrived after the next switch and
    TabbedContent switched back to it, e.g. 2456 ended on Logs. Recorded source: deterministic.)"""
    from pe_tui.model import StatusInfo, Tick

    app = make_app(RecordedSource([Tick(at=FROZEN_NOW, status=StatusInfo(now=FROZEN_NOW), triggers=[], caches=[],
                                        plugins=[], series={}, value_caches=[])]))
    app.animation_level = "none"
    async with app.run_test(size=(160, 46)) as pilot:
        await app.refresh_now()
        await pilot.pause()
        for typed in ("24", "2456", "5612", "135", "61", "3"):
            for key in typed:
                event = events.Key(key, key)
                event.set_sender(app)
                app.post_message(event)
                await pilot.pause(0)  # this key handled, the focus it queued not yet
            for _ in range(5):
                await pilot.pause(0)
            await pilot.pause(0.05)
            want = PANES[int(typed[-1]) - 1]
            assert app.active_pane.id == want, typed
            assert app.query_one("#tabs", TabbedContent).active == f"tab-{want}", typed
            assert app.focused is not None and app.active_pane in app.focused.ancestors, typed


async def test_load_keys_change_the_demo_load_the_engine_receives(live, engine_thread):
    et = engine_thread
    et.run(et.engine.create_database("demo"))
    load = LoadGenerator(et, rate=0).start()
    try:
        async with live(load=load) as c:
            await c.press("right_square_bracket")  # 0 -> 60 lines/s
            assert (await c.action("load rate")).ok
            assert load.rate == 60
            await c.until(lambda: load.lines_written > 0, "the engine to receive demo lines")
            n = (await c.engine(et.engine.query("demo", "SELECT count(*) AS n FROM cpu"))).to_pylist()[0]["n"]
            assert n > 0
            await c.press("greater_than_sign")
            assert (await c.action("load rate")).ok
            assert load.rate == 150
            # one key per confirmed change: two presses faster than the first action's worker
            # both step from the same old rate (reported; the keys act on the rate they read)
            await c.press("left_square_bracket")
            assert (await c.action("load rate")).ok and load.rate == 60
            await c.press("less_than_sign")
            assert (await c.action("load rate")).ok and load.rate == 0
            await c.until(lambda: c.app.status_bar.status and c.app.status_bar.status.load_rate == 0,
                          "the status bar to show the rate")
    finally:
        load.stop()


async def test_help_lists_every_binding_of_the_registry(live):
    async with live() as c:
        await c.press("question_mark")
        await c.until(_screen_is(c, HelpScreen, ".help-col"), "the help screen")
        text = ""
        for static in c.app.screen.query(".help-col"):
            out = Console(file=io.StringIO(), width=160, color_system=None)
            out.print(static.content)
            text += out.file.getvalue()
        sections = _sections(text)
        assert set(sections) == {"Everywhere", "Triggers", "Activations", "Performance", "Logs", "Caches", "Plugins"}
        assert re.search(r"1 … 6\s+Panes", sections["Everywhere"])
        from pe_tui.keys import SCOPE_TITLES

        for k in KEYS:
            if k.name.startswith("pane_"):
                continue
            body = sections[SCOPE_TITLES[k.scope]]
            pattern = rf"(?m)^\s*{re.escape(pretty_keys(k.keys))}\s+{re.escape(k.description)}\s+{re.escape(k.help[:30])}"
            assert re.search(pattern, body), (k.id, pattern)
        await c.press("question_mark")  # ? closes it again
        await c.until(lambda: not isinstance(c.app.screen, HelpScreen), "help to close")


def _sections(text: str) -> dict[str, str]:
    titles = ("Everywhere", "Triggers", "Activations", "Performance", "Logs", "Caches", "Plugins")
    found = [(m.start(), m.group(1)) for m in re.finditer(rf"(?m)^({'|'.join(titles)})\s*$", text)]
    out = {}
    for i, (start, title) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(text)
        out[title] = text[start:end]
    return out


async def test_ctrl_p_palette_lists_the_registry_actions_and_runs_them(live):
    async with live() as c:
        await c.select(c.app.query_one(TriggersPane).table, "tui/ticker")
        await c.press("ctrl+p")
        await c.until(_screen_is(c, CommandPalette, CommandList), "the palette")
        cl = c.app.screen.query_one(CommandList)
        await c.until(lambda: cl.option_count > 0, "the palette's entries")
        prompts = [str(cl.get_option_at_index(i).prompt) for i in range(cl.option_count)]
        ours = [p for p in prompts if " · key " in p]
        expected = [k for k in KEYS if k.palette and not k.name.startswith("load_")]  # no load generator here
        for k in expected:
            hits = [p for p in ours if p.endswith(f"· key {pretty_keys(k.keys)}") and k.help in p]
            assert len(hits) == 1, (k.id, hits)
        assert len(ours) == len(expected)
        assert not any("load" in p.split("\n")[0] for p in ours)  # load keys only with a load generator
        await c.press("escape")
        await c.until(lambda: not isinstance(c.app.screen, CommandPalette), "the palette to close")

        # an entry runs the same action as its key: through the engine
        await c.press("ctrl+p")
        await c.until(_screen_is(c, CommandPalette, CommandList), "the palette")
        await c.press(*"triggers: on/off")
        await c.until(lambda: cl.option_count and "on/off" in str(cl.get_option_at_index(0).prompt).lower()
                      if (cl := c.app.screen.query_one(CommandList)) else False, "the match")
        await c.press("enter")
        assert (await c.action("disable trigger")).ok
        assert c.pe.get("tui", "ticker").disabled
        await c.press("ctrl+p")
        await c.until(_screen_is(c, CommandPalette, CommandList), "the palette")
        await c.press(*"go: logs")
        await c.until(lambda: (cl := c.app.screen.query_one(CommandList)).option_count
                      and str(cl.get_option_at_index(0).prompt).startswith("go: Logs"), "the match")
        await c.press("enter")
        await c.until(lambda: c.app.active_pane.id == "logs", "the logs pane")


async def test_f8_saves_a_screenshot(live, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async with live() as c:
        await c.press("f8")
        await c.until(lambda: list(tmp_path.glob("*.svg")), "the screenshot file")
        svg = next(tmp_path.glob("*.svg")).read_text()
        assert svg.startswith("<svg") and "ticker" in svg and "Triggers" in svg
        assert any(n.title == "screenshot" for n in c.app._notifications)


async def test_q_quits_and_leaves_the_engine_running(live, engine_thread):
    async with live() as c:
        await c.press("q")
        await c.until(lambda: not c.app.is_running, "the app to exit")
    assert c.app.return_code == 0
    assert engine_thread.running  # the console does not own this engine: it keeps serving
    rows = engine_thread.run(engine_thread.engine.write_lp("tui", "cpu,host=after usage=1"))
    assert rows is not None


# ====================================================================== enter: details everywhere
async def test_enter_opens_trigger_activation_and_cache_details(live, engine_thread):
    et = engine_thread
    async with live() as c:
        await c.engine(et.engine.write_lp("tui", "cpu,host=a usage=1\ncpu,host=b usage=2"))
        await c.until(lambda: c.pe.caches.entries(("trigger", "tui", "echo")), "echo's cache")
        pe = c.pe

        # triggers: enter -> detail of the selected trigger, read from the engine
        pane = c.app.query_one(TriggersPane)
        await c.select(pane.table, "tui/ticker")
        await c.press("enter")
        await c.until(_screen_is(c, TriggerDetailScreen), "the trigger detail")
        d = c.app.screen.detail
        assert d.row.key == "tui/ticker" and d.row.spec == pe.get("tui", "ticker").spec.canonical()
        assert d.settings == pe.get("tui", "ticker").settings.to_json()
        assert len(d.next_fires) == 5 and d.next_fires == sorted(d.next_fires)
        await c.press("escape")
        await c.until(lambda: not isinstance(c.app.screen, TriggerDetailScreen), "detail to close")

        # activations: enter -> the record, fresh from the engine
        acts = await c.pane(2, "activations")
        await c.until(lambda: acts.table.row_count > 0, "activations")
        await c.press("home")
        rec = acts.selected()
        await c.press("enter")
        await c.until(_screen_is(c, ActivationDetailScreen), "the activation detail")
        shown = c.app.screen.record
        assert shown.id == rec.id and shown == pe.activations.get(rec.id)
        assert c.app.screen.can_retry == (shown.status in ERROR_STATUSES)
        await c.press("escape")
        await c.until(lambda: not isinstance(c.app.screen, ActivationDetailScreen), "detail to close")

        # performance: enter -> the selected trigger's detail
        perf = await c.pane(3, "performance")
        await c.until(lambda: perf.selected_key is not None, "a selected trigger")
        await c.press("enter")
        await c.until(_screen_is(c, TriggerDetailScreen), "the trigger detail")
        assert c.app.screen.detail.row.key == perf.selected_key
        await c.press("escape")
        await c.until(lambda: not isinstance(c.app.screen, TriggerDetailScreen), "detail to close")

        # caches: enter on a scope goes to its keys, enter on a key shows the engine's value
        caches = await c.pane(5, "caches")
        await c.select(caches.scope_table, "plugin:trigger/tui/echo")
        await c.press("enter")
        assert caches.key_table.has_focus
        await c.select(caches.key_table, "rows_seen")
        await c.press("enter")
        await c.until(_screen_is(c, CacheValueScreen, TextArea), "the cache value")
        value = pe.caches.get_value(("trigger", "tui", "echo"), "rows_seen")
        text = c.app.screen.query_one(TextArea).text
        assert text.splitlines()[-1] == repr(value) and "builtins.int" in text
        await c.press("escape")
        await c.until(lambda: not isinstance(c.app.screen, CacheValueScreen), "value to close")

        # plugins: enter -> the Triggers pane showing the triggers that use the plugin
        plugins = await c.pane(6, "plugins")
        await c.select(plugins.table, "tick.py")
        await c.press("enter")
        await c.until(lambda: c.app.active_pane.id == "triggers", "the triggers pane")
        users = sorted(f"{t.database}/{t.name}" for t in pe.list_triggers() if t.plugin_filename == "tick.py")
        await c.until(lambda: sorted(pane.table.keys) == users, "the plugin's triggers")
        assert pane.filter_text == "tick.py"


# ====================================================================== triggers: sort and filter
async def test_sort_keys_change_the_order(live):
    async with live() as c:
        pane = c.app.query_one(TriggersPane)
        by_name = ["tui/echo", "tui/failing", "tui/ticker"]
        assert pane.table.keys == by_name
        await c.press("S")
        assert pane.table.keys == by_name[::-1]
        assert pane.table.columns["name"].label.plain.endswith("▼")
        await c.press("S")
        assert pane.table.keys == by_name
        for _ in range(7):  # name -> db -> spec -> plugin -> state -> mode -> run in -> runs
            await c.press("s")
        assert pane.sort_column == "runs" and pane.sort_reverse  # counts sort biggest first
        assert pane.table.columns["runs"].label.plain.endswith("▼")
        runs = [pane.rows[k].runs for k in pane.table.keys]
        assert runs == sorted(runs, reverse=True)
        await c.press("S")
        runs = [pane.rows[k].runs for k in pane.table.keys]
        assert runs == sorted(runs)
        assert pane.table.keys[-1] != "tui/echo"  # echo has not run: it sorts first now
        assert pane.table.keys[0] == "tui/echo"


async def test_slash_filter_narrows_the_rows_and_escape_clears_it(live):
    async with live() as c:
        pane = c.app.query_one(TriggersPane)
        await c.press("slash", *"echo")
        assert pane.table.keys == ["tui/echo"]  # narrows while typing
        await c.press("enter")
        assert pane.table.keys == ["tui/echo"] and pane.table.has_focus
        assert "filter echo" in str(pane.query_one("#triggers-info").content)
        await c.press("escape")  # the Clear key
        assert pane.table.keys == ["tui/echo", "tui/failing", "tui/ticker"]
        await c.press("slash", *"tick.py", "enter")  # the plugin column matches too
        users = sorted(f"{t.database}/{t.name}" for t in c.pe.list_triggers() if t.plugin_filename == "tick.py")
        assert pane.table.keys == users
        await c.press("slash", "backspace", "backspace", "escape")  # escape in the bar restores the filter
        assert pane.filter_text == "tick.py" and pane.table.keys == users
        await c.press("escape")
        assert pane.filter_text == "" and len(pane.table.keys) == 3


# ====================================================================== read-only
async def test_read_only_hides_every_mutating_action_and_the_keys_do_nothing(live, engine_thread, add_plugin):
    et = engine_thread
    pe = et.engine.processing
    add_plugin(et, "fill.py", FILL_PLUGIN)
    et.run(pe.create_trigger("tui", "filler", "fill.py", "table:mem"))
    et.run(pe.create_trigger("tui", "hourly", "tick.py", "every:1h"))
    et.run(pe.create_trigger("tui", "boom", "tick.py", "every:1h", arguments={"fail": "yes"}))
    et.run(pe.run_now("tui", "boom"))
    et.run(et.engine.write_lp("tui", "mem,host=a used=1"))
    load = LoadGenerator(et, rate=0)  # not started: only its rate matters here
    ns = ("trigger", "tui", "filler")

    def engine_state():
        return (
            sorted((t.database, t.name, t.disabled) for t in pe.list_triggers()),
            [e.key for e in pe.caches.entries(ns)],
            [e.key for e in pe.caches.entries(("global",))],
            len(pe.activations.recent(100, trigger="hourly")),
            len(pe.activations.recent(100, trigger="boom")),
            load.rate,
        )

    async with live(read_only=True, load=load) as c:
        await c.until(lambda: len(pe.caches.entries(ns)) == 3 and pe.activations.recent(1, trigger="boom"),
                      "cache keys and boom's failure")
        before = engine_state()
        assert "READ-ONLY" in c.app.status_bar.render().plain
        for scope in PANES:
            await c.press(str(PANES.index(scope) + 1))
            await c.until(lambda: c.app.active_pane.id == scope, scope)
            pane = c.app.active_pane
            shown = {b.binding.action for b in c.app.screen.active_bindings.values()}
            hidden = {k.action for k in KEYS if k.mutating and k.scope in ("app", scope)}
            assert not shown & hidden, (scope, shown & hidden)
            for action in MUTATING[scope]:
                assert pane.check_action(action, ()) is False, (scope, action)
        for action in MUTATING["app"]:
            assert c.app.check_action(action, ()) is False, action

        # press every mutating key where it would act
        trig = c.app.query_one(TriggersPane)
        await c.pane(1, "triggers")
        for key in ("tui/hourly", "tui/boom", "tui/echo"):
            await c.select(trig.table, key)
            await c.press("space", "r", "d", "ctrl+d")
        acts = await c.pane(2, "activations")
        await c.press("slash", *"boom", "enter")
        await c.until(lambda: acts.table.keys, "boom's row")
        await c.press("home", "R", "enter")
        await c.until(_screen_is(c, ActivationDetailScreen), "the activation detail")
        await c.press("R", "escape")
        caches = await c.pane(5, "caches")
        await c.select(caches.scope_table, "plugin:trigger/tui/filler")
        await c.press("tab")
        await c.select(caches.key_table, "k0")
        await c.press("d", "delete", "C")
        await c.press("right_square_bracket", "greater_than_sign", "left_square_bracket", "less_than_sign")
        await c.settle()
        assert c.done == []  # no engine action ran
        assert not [s for s in c.app.screen_stack if isinstance(s, ConfirmScreen)]
        await c.tick()
        assert engine_state() == before

        titles = [cmd.title for cmd in c.app.get_system_commands(c.app.screen)]
        mutating_titles = ("on/off", "run now", "delete", "retry", "clear scope", "load")
        assert not [t for t in titles if any(m in t.lower() for m in mutating_titles)]


# ====================================================================== failures: toast + log line, no crash
async def test_a_failing_engine_call_is_a_toast_and_a_log_line_not_a_crash(live, engine_thread):
    et = engine_thread
    pe = et.engine.processing
    et.run(pe.create_trigger("tui", "boom", "tick.py", "every:1h", arguments={"fail": "yes"}))
    et.run(pe.run_now("tui", "boom"))
    async with live(auto_tick=False) as c:
        await c.until(lambda: pe.activations.recent(1, trigger="boom"), "boom's failure")
        await c.app.refresh_now()
        await c.press("1")
        pane = c.app.query_one(TriggersPane)
        await c.select(pane.table, "tui/ticker")
        # another client deletes the trigger; the console has not collected since
        await c.engine(pe.delete_trigger("tui", "ticker", force=True))
        await c.press("space")
        done = await c.action("disable trigger")
        assert not done.ok and "trigger not found: ticker" in done.message
        # enter on the vanished trigger: its detail cannot load
        await c.press("enter")
        await c.settle()
        assert not isinstance(c.app.screen, TriggerDetailScreen)

        # the trigger of a failed activation was disabled meanwhile: retry fails in the engine
        await c.engine(pe.disable_trigger("tui", "boom"))
        acts = await c.pane(2, "activations")
        await c.press("slash", *"boom", "enter")
        await c.until(lambda: acts.table.keys, "boom's row")
        await c.press("home", "R")
        done = await c.action("retry activation")
        assert not done.ok and "disabled or gone" in done.message

        errors = c.errors()
        titles = [n.title for n in errors]
        assert titles == ["disable trigger", "trigger detail", "retry activation"], titles
        assert all(n.timeout >= 5 for n in errors)  # long enough to read
        await c.app.refresh_now()
        logs = c.app.query_one(LogsPane)
        console_lines = [(ln.level, ln.text) for ln in logs.lines if ln.source == "console"]
        assert ("ERROR", done.message) in console_lines
        assert any(lv == "ERROR" and "disable trigger failed" in t for lv, t in console_lines)
        assert c.app.is_running and c.app.return_code is None
        assert pe.activations.recent(5, trigger="boom")[0].status == "error"  # nothing else happened


async def test_enabling_a_trigger_whose_plugin_file_was_deleted_is_an_error_toast(live, engine_thread, add_plugin):
    et = engine_thread
    pe = et.engine.processing
    path = add_plugin(et, "doomed.py", '''
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.info("doomed")
    ''')
    et.run(pe.create_trigger("tui", "doomed", "doomed.py", "every:1h", disabled=True))
    path.unlink()
    async with live() as c:
        pane = c.app.query_one(TriggersPane)
        await c.select(pane.table, "tui/doomed")
        await c.press("space")
        done = await c.action("enable trigger")
        assert c.app.is_running
        assert not done.ok, f"the engine enabled a trigger whose plugin file is gone: {done.message}"
        assert [n.title for n in c.errors()] == ["enable trigger"]
        assert pe.get("tui", "doomed").disabled


# ====================================================================== the registry is fully covered
#: every binding id of pe_tui.keys -> the test (file::function) that presses it and checks its effect
KEY_TESTS: dict[str, str] = {
    "app.quit": "test_keys.py::test_q_quits_and_leaves_the_engine_running",
    **{f"app.pane_{i}": "test_keys.py::test_number_keys_switch_panes" for i in range(1, 7)},
    "app.pause": "test_keys.py::test_p_pauses_repaint_while_collection_continues",
    "app.faster": "test_keys.py::test_plus_and_minus_change_the_refresh_rate",
    "app.slower": "test_keys.py::test_plus_and_minus_change_the_refresh_rate",
    "app.load_up": "test_keys.py::test_load_keys_change_the_demo_load_the_engine_receives",
    "app.load_down": "test_keys.py::test_load_keys_change_the_demo_load_the_engine_receives",
    "app.help": "test_keys.py::test_help_lists_every_binding_of_the_registry",
    "app.palette": "test_keys.py::test_ctrl_p_palette_lists_the_registry_actions_and_runs_them",
    "app.screenshot": "test_keys.py::test_f8_saves_a_screenshot",
    "triggers.toggle": "test_keys.py::test_space_toggles_the_trigger_in_the_engine_and_it_survives_a_restart",
    "triggers.detail": "test_keys.py::test_enter_opens_trigger_activation_and_cache_details",
    "triggers.run_now": "test_keys.py::test_r_runs_a_schedule_trigger_now",
    "triggers.delete": "test_keys.py::test_delete_asks_first_and_n_or_escape_keep_the_trigger",
    "triggers.sort": "test_keys.py::test_sort_keys_change_the_order",
    "triggers.sort_reverse": "test_keys.py::test_sort_keys_change_the_order",
    "triggers.filter": "test_keys.py::test_slash_filter_narrows_the_rows_and_escape_clears_it",
    "triggers.clear": "test_keys.py::test_slash_filter_narrows_the_rows_and_escape_clears_it",
    "activations.detail": "test_keys.py::test_enter_opens_trigger_activation_and_cache_details",
    "activations.retry": "test_keys.py::test_R_retries_a_failed_activation_with_the_same_input",
    "activations.follow": "test_panes.py::test_activations_pane_follow_status_and_trigger_filter",
    "activations.status": "test_panes.py::test_activations_pane_follow_status_and_trigger_filter",
    "activations.filter": "test_panes.py::test_activations_pane_follow_status_and_trigger_filter",
    "activations.clear": "test_panes.py::test_activations_pane_follow_status_and_trigger_filter",
    "performance.detail": "test_keys.py::test_enter_opens_trigger_activation_and_cache_details",
    "logs.info": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.warn": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.error": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.search": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.next": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.prev": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.trigger": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.follow": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.clear_view": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "logs.clear": "test_panes.py::test_logs_pane_level_keys_search_trigger_follow_and_clear",
    "caches.value": "test_keys.py::test_enter_opens_trigger_activation_and_cache_details",
    "caches.delete_key": "test_keys.py::test_cache_keys_delete_and_scope_clear_reach_the_engine",
    "caches.clear_scope": "test_keys.py::test_cache_keys_delete_and_scope_clear_reach_the_engine",
    "caches.switch": "test_keys.py::test_cache_keys_delete_and_scope_clear_reach_the_engine",
    "caches.system": "test_panes.py::test_caches_pane_s_switches_to_the_system_caches_and_e_expands_their_tree",
    "caches.scopes": "test_panes.py::test_caches_pane_s_switches_to_the_system_caches_and_e_expands_their_tree",
    "caches.expand_all": "test_panes.py::test_caches_pane_s_switches_to_the_system_caches_and_e_expands_their_tree",
    "plugins.triggers": "test_keys.py::test_enter_opens_trigger_activation_and_cache_details",
}


def test_every_registry_key_is_pressed_by_a_test() -> None:
    assert set(KEY_TESTS) == set(BY_ID), {"untested": set(BY_ID) - set(KEY_TESTS),
                                          "not in the registry": set(KEY_TESTS) - set(BY_ID)}
    for key_id, where in KEY_TESTS.items():
        module, _, name = where.partition("::")
        source = (HERE / module).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.M), (key_id, where)
