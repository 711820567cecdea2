"""LoggingTap: WARNING+ records of the engine's Python loggers that do not reach the event bus
themselves, kept for the Logs pane's next tick."""
from __future__ import annotations

import logging
from collections import deque

from ..model import LogLine


class LoggingTap(logging.Handler):
    """WARNING+ records of pe.* loggers that do not already reach the bus."""

    COVERED = ("pe.engine", "pe.plugins", "pe.tui")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: deque[LogLine] = deque(maxlen=1000)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.COVERED):
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]!r}"
        level = "ERROR" if record.levelno >= logging.ERROR else "WARN"
        self.lines.append(LogLine(record.created, level, "engine", f"{record.name}: {text}"))
