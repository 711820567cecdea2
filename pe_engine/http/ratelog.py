"""One log line per cause per interval, however often the cause happens.

A client (or a flood of them) can make the server fail the same way thousands of times a
second: out of file descriptors on accept, garbage instead of HTTP. Logging each one is a
second denial of service (the disk fills, the real messages drown), so such causes go through
here: the first occurrence is logged, the rest of the interval only counted, and the next
line says how many were not shown.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RateLimitedLog"]


@dataclass
class _Cause:
    next_at: float = 0.0
    suppressed: int = 0


@dataclass
class RateLimitedLog:
    logger: logging.Logger
    interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _causes: dict[str, _Cause] = field(default_factory=dict)

    def log(self, level: int, cause: str, msg: str, *args: object, exc_info: object = None) -> bool:
        """Log `msg` unless `cause` was logged less than `interval` ago; True when it was logged."""
        now = self.clock()
        c = self._causes.setdefault(cause, _Cause())
        if now < c.next_at:
            c.suppressed += 1
            return False
        if c.suppressed:
            msg += " (%d more since the last such line)"
            args = (*args, c.suppressed)
        c.suppressed = 0
        c.next_at = now + self.interval
        self.logger.log(level, msg, *args, exc_info=exc_info)  # type: ignore[arg-type]
        return True

    def warning(self, cause: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, cause, msg, *args)
