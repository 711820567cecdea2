"""ConsoleHost: what a pane may ask of the app it lives in (read-only state and the clock).

Panes never call the source: what they want done goes up as a message (pe_tui.messages). Typing
panes against this narrow protocol instead of ConsoleApp keeps them free of the app module
(no import cycle, and a pane can be mounted in a test app that offers these few things).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Protocol


class ConsoleHost(Protocol):
    read_only: bool
    tz: dt.tzinfo | None
    selected_trigger: str | None

    def now(self) -> float: ...

    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
