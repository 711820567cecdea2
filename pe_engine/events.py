"""Typed engine events and the EventBus that fans them out.

The bus never blocks the engine: each subscriber gets a bounded deque; when it
is full the oldest event is dropped and counted. Deques are safe to drain from
another thread (the console drains its own from the UI thread).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(slots=True, frozen=True)
class WalFlushed(Event):
    seq: int
    databases: tuple[str, ...]
    rows: int
    duration: float  # seconds spent writing + fsyncing the record


@dataclass(slots=True, frozen=True)
class WriteAccepted(Event):
    database: str
    lines: int
    rejected: int


@dataclass(slots=True, frozen=True)
class SnapshotDone(Event):
    seq: int
    files: int
    rows: int
    duration: float


@dataclass(slots=True, frozen=True)
class DatabaseChanged(Event):
    database: str
    action: str  # "created" | "deleted"


@dataclass(slots=True, frozen=True)
class EngineLog(Event):
    level: str  # INFO | WARN | ERROR
    message: str
    source: str = "engine"  # "engine" or a trigger name


@dataclass(slots=True, frozen=True)
class PluginLog(Event):
    database: str
    trigger: str
    level: str
    message: str


@dataclass(slots=True, frozen=True)
class ActivationFinished(Event):
    record: Any  # processing.activations.ActivationRecord


@dataclass(slots=True, frozen=True)
class TriggerChanged(Event):
    database: str
    trigger: str
    action: str  # created | deleted | enabled | disabled | disabled_by_error | updated
    detail: str | None = None


class Subscription:
    def __init__(self, maxlen: int):
        self._q: deque[Event] = deque(maxlen=maxlen)
        self.dropped = 0
        self.closed = False

    def _offer(self, ev: Event) -> None:
        if len(self._q) == self._q.maxlen:
            self.dropped += 1
        self._q.append(ev)

    def drain(self, limit: int | None = None) -> list[Event]:
        out: list[Event] = []
        q = self._q
        while q and (limit is None or len(out) < limit):
            try:
                out.append(q.popleft())
            except IndexError:
                break
        return out

    def __len__(self) -> int:
        return len(self._q)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, maxlen: int = 10_000) -> Subscription:
        sub = Subscription(maxlen)
        with self._lock:
            self._subs = [*self._subs, sub]
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        with self._lock:
            self._subs = [s for s in self._subs if s is not sub]

    def publish(self, ev: Event) -> None:
        self.published += 1
        for sub in self._subs:  # copy-on-write list: no lock on the hot path
            sub._offer(ev)

    def extra(self) -> dict[str, Any]:
        return {"subscribers": len(self._subs), "published": self.published}
