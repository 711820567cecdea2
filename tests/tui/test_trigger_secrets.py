"""The console never shows a secret-looking trigger argument: the live bridge hands the detail
screen `***`, and the screen masks too (a recorded session made before the rule still has the
values), while the plugin itself still gets the real value."""
from __future__ import annotations

import datetime as dt
import io

from rich.console import Console

from pe_engine.embedded import EngineThread
from pe_tui.live.bridge import EngineBridge
from pe_tui.model import TriggerDetail
from pe_tui.screens.trigger_detail import render_trigger_detail

SECRET = "sk-live-0123456789"
ARGS = {"API_Key": SECRET, "authHeader": SECRET, "db_password": SECRET, "window": "5m"}


def _text(detail: TriggerDetail) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(render_trigger_detail(detail, 0.0, dt.timezone.utc))
    return out.getvalue()


def test_live_trigger_detail_masks_secret_arguments(engine_thread: EngineThread) -> None:
    et = engine_thread
    pe = et.engine.processing
    et.run(pe.create_trigger("tui", "keyed", "tick.py", "every:1h", arguments=dict(ARGS)))
    bridge = EngineBridge(et)
    try:
        detail = bridge.trigger_detail("tui", "keyed")
    finally:
        bridge.close()
    assert detail.arguments == {"API_Key": "***", "authHeader": "***", "db_password": "***", "window": "5m"}
    text = _text(detail)
    assert SECRET not in text and "***" in text and "5m" in text
    # the definition the plugin is called with is untouched
    assert pe.triggers[("tui", "keyed")].arguments == ARGS


def test_the_screen_masks_a_detail_that_still_has_the_values(engine_thread: EngineThread) -> None:
    bridge = EngineBridge(engine_thread)
    try:
        detail = bridge.trigger_detail("tui", "ticker")
    finally:
        bridge.close()
    detail.arguments = dict(ARGS)  # as a recording made before masking holds them
    text = _text(detail)
    assert SECRET not in text
    assert text.count("***") == 3 and "5m" in text
