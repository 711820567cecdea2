"""The console's Message types. Small, data only; tests observe them with `message_hook`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from .model import Tick, TriggerDetail, ActivationRecord


class TickReady(Message):
    """One collected tick (None: nothing changed). Posted once per tick by the TickDriver.

    Not replaceable: every tick carries stream data (activations, log lines)
    that a replacement would lose. Ticks never pile up anyway, because the
    next collection starts only after this one was applied.
    """

    def __init__(self, tick: "Tick | None") -> None:
        super().__init__()
        self.tick = tick


class TickFailed(Message):
    """Collecting a tick raised; the console reports it and keeps ticking."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class TickApplied(Message):
    """The app finished applying a tick to the panes (tests wait on this)."""

    def __init__(self, seq: int, painted: bool) -> None:
        super().__init__()
        self.seq = seq
        self.painted = painted


@dataclass
class ActionDone(Message):
    """A mutating action finished in its worker (ok or not)."""

    action: str
    ok: bool
    message: str


class RefreshRateChanged(Message):
    """The refresh interval changed (+/-). Replaceable: only the latest matters."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RefreshRateChanged)


class PauseChanged(Message):
    """Repaint paused or resumed (`p`). Replaceable: only the latest matters."""

    def __init__(self, paused: bool) -> None:
        super().__init__()
        self.paused = paused

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PauseChanged)


class TriggerSelected(Message):
    """The highlighted trigger changed in a pane (other panes follow the selection)."""

    def __init__(self, key: str | None) -> None:
        super().__init__()
        self.key = key

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TriggerSelected)


class TriggerDetailLoaded(Message):
    def __init__(self, detail: "TriggerDetail") -> None:
        super().__init__()
        self.detail = detail


class ActivationDetailLoaded(Message):
    def __init__(self, record: "ActivationRecord", can_retry: bool) -> None:
        super().__init__()
        self.record = record
        self.can_retry = can_retry


class CacheValueLoaded(Message):
    def __init__(self, scope_label: str, key: str, text: str) -> None:
        super().__init__()
        self.scope_label = scope_label
        self.key = key
        self.text = text
