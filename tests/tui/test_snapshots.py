"""SVG snapshots of every pane, the help screen, a trigger detail and the confirmation dialog.

Deterministic input: the recorded demo session (RecordedSource.demo, the source pe_tui.screenshots
uses), a frozen clock, UTC, no animations, no timer (one tick applied by hand in `run_before`).
Update with `pytest tests/tui/test_snapshots.py --snapshot-update` after an intended UI change,
and look at the SVGs (tests/tui/__snapshots__/test_snapshots/) before committing them.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from pe_tui.app import ConsoleApp
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.screens import ConfirmScreen, HelpScreen, TriggerDetailScreen

SIZE = (160, 46)


def demo_app() -> ConsoleApp:
    app = ConsoleApp(RecordedSource.demo(now=FROZEN_NOW), clock=lambda: FROZEN_NOW, tz=dt.timezone.utc,
                     auto_tick=False)
    app.animation_level = "none"
    return app


async def _drain(pilot: Pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.pause(0)  # every message queued so far processed (no wait for CPU idle)


def keys(key_event, *presses: str, expect: type | None = None) -> Callable[[Pilot], Awaitable[None]]:
    """run_before: apply the demo tick, then queue each key as the terminal driver would and let
    it be processed before the next; detail screens load in thread workers, waited for at the end."""

    async def before(pilot: Pilot) -> None:
        app = pilot.app
        await app.refresh_now()  # type: ignore[attr-defined]
        await _drain(pilot)
        for key in presses:
            event = key_event(key)
            event.set_sender(app)
            app.post_message(event)
            await _drain(pilot)
        await app.workers.wait_for_complete()
        await _drain(pilot)
        if expect is not None:
            assert isinstance(app.screen, expect), app.screen

    return before


def test_triggers_pane(snap_compare, key_event) -> None:
    # fleet_report: a schedule trigger (next fire time); flaky_strict shows as disabled by error
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "1", *["down"] * 4))


def test_activations_pane(snap_compare, key_event) -> None:
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "2"))


def test_performance_pane(snap_compare, key_event) -> None:
    # slow_rollup: the run-time histogram with the long tail
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "3", *["down"] * 9))


def test_logs_pane(snap_compare, key_event) -> None:
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "4"))


def test_caches_pane(snap_compare, key_event) -> None:
    # demo/last_values, the busy scope, with its keys
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "5", "down", "tab"))


def test_plugins_pane(snap_compare, key_event) -> None:
    # downsampler.py: two versions in its history
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "6", "down"))


def test_help_screen(snap_compare, key_event) -> None:
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "question_mark", expect=HelpScreen))


def test_trigger_detail(snap_compare, key_event) -> None:
    # fleet_report: arguments, settings and its next five fire times
    assert snap_compare(demo_app(), terminal_size=SIZE,
                        run_before=keys(key_event, "1", *["down"] * 4, "enter",
                                                                        expect=TriggerDetailScreen))


def test_confirm_delete_dialog(snap_compare, key_event) -> None:
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=keys(key_event, "1", "d", expect=ConfirmScreen))
