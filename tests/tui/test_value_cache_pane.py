"""The Caches pane's system caches: last-value (LVC) and distinct-value (DVC) caches listed
beside the plugin scopes, the selected one's contents as a tree that follows the writes live
and keeps what the operator expanded, collapsed and selected."""
from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

from pe_engine.embedded import EngineThread
from pe_tui.app import ConsoleApp
from pe_tui.live import EngineBridge
from pe_tui.model import StatusInfo, Tick, value_cache_id
from pe_tui.panes import CachesPane
from pe_tui.panes.caches.tree import MORE as _MORE
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.screens import CacheValueScreen
from support.waiting import pilot_wait_for

SIZE = (160, 46)
LVC = value_cache_id("last", "tui", "cpu", "cpu_last")
DVC = value_cache_id("distinct", "tui", "cpu", "cpu_hosts")


# `await wait_for(pilot, predicate, what=...)`: poll between pilot pauses, 15 s at most
wait_for = partial(pilot_wait_for, timeout=15.0)


def started(app: ConsoleApp) -> bool:
    """The app's deferred start-up focus has landed on the first pane's table. A pane key
    pressed before it makes two tabs take the focus from each other (app._tab_activated)."""
    main = app.active_pane.main_widget()
    return main is not None and app.focused is main


def on_screen(widget) -> bool:
    return all(node.display for node in widget.ancestors_with_self if node is not widget.app)


def labels(pane: CachesPane) -> dict[tuple, str]:
    """What the tree shows: node path -> label text."""
    return {p: n.label.plain for p, n in pane._by_path.items()}


def leaf(pane: CachesPane, path: tuple) -> str:
    return labels(pane).get(path, "")


def write(et: EngineThread, *lines: str) -> None:
    et.run(et.engine.write_lp("tui", "\n".join(lines)))


async def test_live_lvc_and_dvc_trees(engine_thread: EngineThread) -> None:
    et = engine_thread
    write(et, "cpu,region=eu,host=a usage=1.5,note=\"ok\"", "cpu,region=eu,host=b usage=2.5",
          "cpu,region=us,host=c usage=3.5")
    vc = et.engine.value_caches
    et.run(vc.create_last_cache("tui", "cpu", name="cpu_last", key_columns=["region", "host"],
                                value_columns=["usage", "note"], count=1, ttl="1h"))
    et.run(vc.create_distinct_cache("tui", "cpu", name="cpu_hosts", columns=["region", "host"]))
    app = ConsoleApp(engine_thread=et, refresh=0.1)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(CachesPane)
        # let the start-up focus land first: a pane key pressed before the app's deferred
        # start-up focus_main makes the two tabs take the focus from each other, for ever
        await wait_for(pilot, lambda: started(app) and app.ticks_applied > 0, what="start-up")
        await pilot.press("5")
        await wait_for(pilot, lambda: pane.scope_table.has_focus, what="the Caches pane")
        await wait_for(pilot, lambda: set(pane.system) == {LVC, DVC}, what="both system caches listed")
        assert list(pane.system) == [LVC, DVC]  # last-value caches first
        assert pane.system_table.row_count == 2
        assert len(pane.scopes) >= 1  # the plugin scopes are still there
        row = pane.system[LVC]
        assert (row.columns, row.count, row.ttl) == (["region", "host"], 1, 3600)
        assert pane.system[DVC].max_cardinality == 100_000

        # `s`: the system caches section; the LVC's contents come as a tree
        await pilot.press("s")
        await wait_for(pilot, lambda: pane.system_table.has_focus, what="the system caches")
        assert pane.section == "system" and pane.system_id == LVC
        tree = pane.value_tree
        await wait_for(pilot, lambda: ("us", "c") in pane._by_path, what="the LVC tree")
        assert on_screen(tree) and not on_screen(pane.key_table)
        assert "usage=1.5" in leaf(pane, ("eu", "a")) and 'note=ok' in leaf(pane, ("eu", "a"))
        assert "usage=2.5" in leaf(pane, ("eu", "b"))
        assert "usage=3.5" in leaf(pane, ("us", "c"))
        assert "T" in leaf(pane, ("eu", "a")) and "Z  usage=" in leaf(pane, ("eu", "a"))  # ISO time first
        assert leaf(pane, ("eu",)).startswith("region=eu") and "2 keys" in leaf(pane, ("eu",))
        assert pane._by_path[("eu",)].is_expanded  # a small tree opens expanded

        # the operator collapses "eu" and puts the cursor on us/c, in the tree
        await pilot.press("tab")
        await wait_for(pilot, lambda: tree.has_focus, what="the tree")
        pane._by_path[("eu",)].collapse()
        await pilot.pause()
        tree.move_cursor(pane._by_path[("us", "c")])
        await pilot.pause()
        assert tree.cursor_node is pane._by_path[("us", "c")]

        # a newer row arrives: the tree follows, and keeps what the operator did
        node_c = pane._by_path[("us", "c")]
        write(et, "cpu,region=us,host=c usage=9.25", "cpu,region=us,host=d usage=4.5")
        await wait_for(pilot, lambda: "usage=9.25" in leaf(pane, ("us", "c")), what="the new value of us/c")
        await wait_for(pilot, lambda: ("us", "d") in pane._by_path, what="the new key us/d")
        assert "usage=3.5" not in leaf(pane, ("us", "c"))
        assert pane._by_path[("us", "c")] is node_c  # updated in place, not rebuilt
        assert not pane._by_path[("eu",)].is_expanded  # still collapsed
        assert tree.cursor_node is node_c  # the cursor stayed on its node
        assert "3 keys" in leaf(pane, ("us",)) or "2 keys" in leaf(pane, ("us",))

        # enter on a leaf: the full row in the value screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CacheValueScreen), what="the value screen")
        text = app.screen.text
        assert "usage" in text and "9.25" in text and "'us'" in text and " ns)" in text
        await pilot.press("escape")
        await pilot.pause()

        # the DVC: the column hierarchy as levels; a new combination shows up live
        await pilot.press("tab")  # back to the system cache list
        await wait_for(pilot, lambda: pane.system_table.has_focus, what="the system cache list")
        await pilot.press("down")
        await wait_for(pilot, lambda: pane.system_id == DVC and ("us", "d") in pane._by_path,
                       what="the DVC tree")
        assert "last seen" in leaf(pane, ("eu", "a"))
        write(et, "cpu,region=ap,host=e usage=0.5")
        await wait_for(pilot, lambda: ("ap", "e") in pane._by_path, what="the new combination ap/e")
        assert "1 combination" in leaf(pane, ("ap",))

        # back to the LVC: its collapsed node and cursor come back as they were
        await pilot.press("up")
        await wait_for(pilot, lambda: pane.system_id == LVC and ("us", "c") in pane._by_path, what="the LVC again")
        assert not pane._by_path[("eu",)].is_expanded
        assert tree.cursor_node is pane._by_path[("us", "c")]

        # `e`: every level open (one was closed), then every level closed
        regions = [pane._by_path[(r,)] for r in ("eu", "us")]
        await pilot.press("e")
        assert all(n.is_expanded for n in regions)
        await pilot.press("e")
        assert not any(n.is_expanded for n in regions)
        await pilot.press("e")

        # nothing is deleted from here: system caches go with the CLI or the HTTP API
        assert app.screen.active_bindings  # sanity
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "delete_key" not in actions and "clear_scope" not in actions
        assert "expand_all" in actions and "show_scopes" in actions and "show_system" not in actions

        # `s` again: the plugin scopes and their keys, as before
        await pilot.press("s")
        await wait_for(pilot, lambda: pane.scope_table.has_focus, what="the plugin scopes")
        assert pane.section == "plugin"
        assert on_screen(pane.key_table) and not on_screen(tree)
        await pilot.press("q")
    assert app.return_code == 0


async def test_recorded_session_round_trips_value_caches(make_app) -> None:
    """The demo session carries both system caches; their contents survive the JSON of
    `--record` and come only for the cache on screen."""
    source = RecordedSource.demo(now=FROZEN_NOW)
    tick = source._ticks[0]
    assert [r.kind for r in tick.value_caches] == ["distinct", "last"]
    again = Tick.from_json(tick.to_json())
    assert again.value_caches == tick.value_caches
    contents = source.value_contents[tick.value_caches[1].id]
    with_contents = Tick(at=tick.at, status=tick.status, value_cache=contents)
    back = Tick.from_json(with_contents.to_json())
    assert back.value_cache == contents and isinstance(back.value_cache.items[0].key, tuple)

    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await wait_for(pilot, lambda: started(app), what="the start-up focus")
        pane = app.query_one(CachesPane)
        await pilot.press("5")
        await wait_for(pilot, lambda: pane.scope_table.has_focus, what="the Caches pane")
        assert source.value_cache_selected is None  # nothing on screen: nothing sent
        await pilot.press("s")
        await wait_for(pilot, lambda: source.value_cache_selected == pane.system_id, what="the selection")
        tick = await app.refresh_now()
        assert tick is not None and tick.value_cache is not None and tick.value_cache.id == pane.system_id
        await pilot.pause()
        assert len([p for p, n in pane._by_path.items() if not n.allow_expand]) == 20  # 20 hosts
        assert await app.refresh_now() is None  # unchanged: nothing more is sent
        await pilot.press("1")
        await wait_for(pilot, lambda: source.value_cache_selected is None,
                       what="the source told that no system cache is on screen")


async def test_several_rows_per_key_and_the_cap(engine_thread: EngineThread, make_app) -> None:
    """count > 1: the key is a level and its rows are the leaves, newest first; past the cap
    the bridge sends the first keys only and the tree says how many more there are."""
    et = engine_thread
    write(et, *[f"cpu,host=h{i} usage={i}.5" for i in range(5)])
    write(et, *[f"cpu,host=h{i} usage={i}.75" for i in range(5)])
    et.run(et.engine.value_caches.create_last_cache("tui", "cpu", name="two", key_columns=["host"],
                                                    value_columns=["usage"], count=2))
    bridge = EngineBridge(et)
    try:
        row = next(r for r in bridge.collect().value_caches if r.name == "two")
        contents = bridge.value_cache_provider.contents(row, time.time(), key_limit=3)
    finally:
        bridge.close()
    assert contents.total == 5
    assert [i.key for i in contents.items] == [("h0",), ("h0",), ("h1",), ("h1",), ("h2",), ("h2",)]
    assert [i.values["usage"] for i in contents.items[:2]] == [0.75, 0.5]  # newest first

    tick = Tick(at=FROZEN_NOW, status=StatusInfo(now=FROZEN_NOW), value_caches=[row])
    source = RecordedSource([tick], value_cache_contents={row.id: replace(contents, at=FROZEN_NOW)})
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await wait_for(pilot, lambda: started(app), what="the start-up focus")
        pane = app.query_one(CachesPane)
        await pilot.press("5")
        await wait_for(pilot, lambda: pane.scope_table.has_focus, what="the Caches pane")
        await pilot.press("s")
        await wait_for(pilot, lambda: source.value_cache_selected == row.id, what="the selection")
        await app.refresh_now()
        await wait_for(pilot, lambda: ("h2",) in pane._by_path, what="the tree")
        assert "2 rows" in leaf(pane, ("h0",)) and pane._by_path[("h0",)].allow_expand
        assert "usage=0.75" in leaf(pane, ("h0", ("#", 0))) and "usage=0.5" in leaf(pane, ("h0", ("#", 1)))
        assert ("h3",) not in pane._by_path
        assert leaf(pane, _MORE).startswith("… 2 more keys")
        assert list(pane._by_path)[-1] == _MORE  # last


def test_snapshot_lvc_tree(snap_compare, make_app) -> None:
    async def run_before(pilot) -> None:
        app = pilot.app
        await app.refresh_now()
        await wait_for(pilot, lambda: started(app), what="the start-up focus")
        pane = app.query_one(CachesPane)
        await pilot.press("5")
        await wait_for(pilot, lambda: pane.scope_table.has_focus, what="the Caches pane")
        await pilot.press("s")
        await wait_for(pilot, lambda: pane.system_table.has_focus, what="the system caches")
        await app.refresh_now()
        await pilot.press("tab")
        await wait_for(pilot, lambda: pane.value_tree.has_focus and pane._by_path, what="the tree")
        await pilot.press("down", "down", "down")  # the cursor on a host
        await pilot.pause()

    assert snap_compare(make_app(RecordedSource.demo(now=FROZEN_NOW)), terminal_size=SIZE, run_before=run_before)
