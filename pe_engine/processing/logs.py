"""Plugin and engine log lines: a bounded ring for `system.processing_engine_logs`,
the console and the store (which keeps them across restarts)."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..events import PluginLog
from .ports import EventPublisher

log = logging.getLogger("pe.plugins")
_LEVELS = {"INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


@dataclass(slots=True, frozen=True)
class LogEntry:
    time_ns: int
    database: str
    trigger: str
    level: str  # INFO | WARN | ERROR
    text: str


class LogBuffer:
    def __init__(self, bus: EventPublisher, capacity: int = 10_000, unsaved_capacity: int = 10_000):
        self.bus = bus
        self._ring: deque[LogEntry] = deque(maxlen=capacity)
        self._unsaved: deque[LogEntry] = deque(maxlen=unsaved_capacity)
        self._lock = threading.Lock()
        self.counts = {"INFO": 0, "WARN": 0, "ERROR": 0}

    def add(self, database: str, trigger: str, level: str, text: str) -> None:
        e = LogEntry(time.time_ns(), database, trigger, level, text)
        with self._lock:
            self._ring.append(e)
            self._unsaved.append(e)
            self.counts[level] = self.counts.get(level, 0) + 1
        if level != "INFO":
            log.log(_LEVELS.get(level, logging.INFO), "processing engine: [%s] %s", trigger, text)
        self.bus.publish(PluginLog(database=database, trigger=trigger, level=level, message=text))

    def restore(self, entries: list[LogEntry]) -> None:
        with self._lock:
            self._ring.extend(entries)

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._ring)

    def drain_unsaved(self) -> list[LogEntry]:
        with self._lock:
            out = list(self._unsaved)
            self._unsaved.clear()
            return out
