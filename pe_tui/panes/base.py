"""Pane: absorb ticks into a model (cheap, every tick), repaint widgets only when visible and dirty."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from textual.containers import Vertical
from textual.widget import Widget

from ..keys import MUTATING, bindings, keys_for
from ..model import Tick

if TYPE_CHECKING:
    from .host import ConsoleHost


class Pane(Vertical):
    """Base of the six panes.

    `absorb(tick)` runs for every pane on every applied tick and only updates
    Python state; `repaint()` pushes that state into widgets and runs only for
    the visible pane (and when it becomes visible). `min_repaint_interval` lets
    time-relative cells ("3s ago", "in 4s") move even when no data changed.
    """

    SCOPE: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    min_repaint_interval: ClassVar[float | None] = None
    #: at most this many repaints per second even when every tick brings data (None: every tick)
    max_repaint_rate: ClassVar[float | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__dict__.get("SCOPE"):  # before Textual merges the bindings of the class
            cls.BINDINGS = bindings(cls.SCOPE)
        super().__init_subclass__(**kwargs)

    def __init__(self) -> None:
        super().__init__(id=self.SCOPE)
        self.dirty = True
        self.last_repaint = 0.0
        self.repaints = 0
        self._binding_state: tuple | None = None

    @property
    def console(self) -> "ConsoleHost":
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------ ticks
    def absorb(self, tick: Tick) -> None:
        """Update the model from a tick; set `self.dirty` when something changed."""

    def repaint(self) -> None:
        """Push the model into the widgets."""

    def repaint_if_needed(self, force: bool = False) -> bool:
        since = time.monotonic() - self.last_repaint
        due = self.min_repaint_interval is not None and since >= self.min_repaint_interval
        if not (self.dirty or due or force):
            return False
        if not force and self.max_repaint_rate and since < 1.0 / self.max_repaint_rate:
            return False  # stays dirty: painted on a later tick
        self.dirty = False
        self.last_repaint = time.monotonic()
        self.repaints += 1
        self.repaint()
        return True

    # ------------------------------------------------------------------ focus and keys
    def main_widget(self) -> Widget | None:
        return None

    def focus_main(self) -> None:
        w = self.main_widget()
        if w is not None:
            w.focus()

    def maybe_refresh_bindings(self) -> None:
        """Refresh the footer only when an action's availability changed (a footer refresh
        rebuilds its keys: too costly for every cursor move)."""
        state = tuple(self.check_action(k.action_name, ()) for k in keys_for(self.SCOPE))
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.console.read_only and action in MUTATING.get(self.SCOPE, ()):
            return False
        return True
