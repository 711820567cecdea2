"""A clock tests move by hand: the engine's scheduler and catch-up read wall time from it."""
from __future__ import annotations

import time
from dataclasses import dataclass

NS = 1_000_000_000


@dataclass
class FakeClock:
    """Wall time stands still until a test sets or advances it; monotonic time is real
    (intervals such as snapshot periods keep working)."""

    now_ns: int

    def time_ns(self) -> int:
        return self.now_ns

    def time(self) -> float:
        return self.now_ns / NS

    def monotonic(self) -> float:
        return time.monotonic()

    def set(self, seconds: float) -> None:
        self.now_ns = int(seconds * NS)
