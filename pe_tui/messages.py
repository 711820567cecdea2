"""The console's Message types. Small, data only; tests observe them with `message_hook`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from .model import ActivationRecord, Tick, TriggerDetail


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


# ====================================================================== intents (pane -> app)
# A pane never calls the source: it posts one of these and the app decides (confirmation for
# what destroys, a thread worker that never takes the console down, a toast with the result).


@dataclass
class ToggleTrigger(Message):
    """Enable (`enabled=True`) or disable a trigger."""

    database: str
    name: str
    enabled: bool


@dataclass
class DeleteTrigger(Message):
    """Delete a trigger; the app asks first (plugin, spec and state are for the question)."""

    database: str
    name: str
    plugin: str = ""
    spec: str = ""
    enabled: bool = False


@dataclass
class RunTriggerNow(Message):
    database: str
    name: str


@dataclass
class RetryActivation(Message):
    """Run a failed activation again with its original input."""

    activation_id: int


@dataclass
class DeleteCacheKey(Message):
    scope_id: str
    key: str


@dataclass
class ClearCacheScope(Message):
    """Remove every key of a plugin cache scope; the app asks first."""

    scope_id: str
    label: str = ""
    kind: str = ""
    total_keys: int = 0


@dataclass
class SetLoadRate(Message):
    """The demo load generator's rate, lines per second."""

    lines_per_second: int


@dataclass
class ShowTriggerDetail(Message):
    database: str
    name: str


@dataclass
class ShowActivationDetail(Message):
    record: "ActivationRecord"


@dataclass
class ShowCacheValue(Message):
    scope_id: str
    scope_label: str
    key: str


@dataclass
class ShowTriggersUsing(Message):
    """Switch to the Triggers pane filtered on a plugin file."""

    filename: str


@dataclass
class SelectValueCache(Message):
    """The system cache the Caches pane shows (None: none on screen), for the source to send."""

    cache_id: str | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SelectValueCache)
