"""Panes post intent messages and only the app calls the source: each key of a pane that changes
the engine becomes one small message (pe_tui.messages); the app asks first where it must and runs
the source's action in a worker."""
from __future__ import annotations

from typing import Any

from pe_tui.messages import ClearCacheScope, DeleteCacheKey, DeleteTrigger, SetLoadRate, ToggleTrigger
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.screens import ConfirmScreen

SIZE = (160, 46)
INTENTS = (ToggleTrigger, DeleteTrigger, DeleteCacheKey, ClearCacheScope, SetLoadRate)


async def test_keys_become_intents_and_the_app_runs_them(make_app) -> None:
    source = RecordedSource.demo(now=FROZEN_NOW)
    seen: list[Any] = []
    app = make_app(source)

    def hook(message: Any) -> None:
        if isinstance(message, INTENTS):
            seen.append(message)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await app.refresh_now()
        await pilot.pause()
        row = app.query_one("#triggers").selected()  # type: ignore[attr-defined]
        await pilot.press("space")
        await app.workers.wait_for_complete()
        await pilot.pause()
        toggle = next(m for m in seen if isinstance(m, ToggleTrigger))
        assert (toggle.database, toggle.name, toggle.enabled) == (row.database, row.name, row.state != "enabled")
        assert source.actions == [("set_trigger_enabled", (row.database, row.name, row.state != "enabled"))]

        await pilot.press("d")  # the app asks first; "n" keeps it
        await pilot.pause()
        delete = next(m for m in seen if isinstance(m, DeleteTrigger))
        assert (delete.database, delete.name, delete.plugin, delete.spec) == (row.database, row.name, row.plugin,
                                                                             row.spec)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert [a for a, _ in source.actions] == ["set_trigger_enabled"]

        await pilot.press("right_square_bracket")  # the demo load generator: 600 -> 1200 lines/s
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any(isinstance(m, SetLoadRate) and m.lines_per_second == 1200 for m in seen)
        assert source.actions[-1] == ("set_load_rate", (1200,))

        await pilot.press("5")
        await pilot.pause()
        caches = app.query_one("#caches")
        caches.key_table.focus()  # type: ignore[attr-defined]
        await pilot.pause()
        scope, key = caches.scope(), caches.selected_key()  # type: ignore[attr-defined]
        await pilot.press("d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any(isinstance(m, DeleteCacheKey) and (m.scope_id, m.key) == (scope.id, key.key) for m in seen)
        assert source.actions[-1] == ("delete_cache_key", (scope.id, key.key))
        await pilot.press("C")
        await pilot.pause()
        clear = next(m for m in seen if isinstance(m, ClearCacheScope))
        assert (clear.scope_id, clear.label) == (scope.id, scope.label)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert source.actions[-1] == ("clear_cache_scope", (scope.id,))
