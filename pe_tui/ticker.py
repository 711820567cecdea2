"""TickDriver: the Textual side of collection.

A self-rescheduling timer (default 4 Hz, adjustable, never overlapping) runs the source's
`collect()` in a thread worker and posts ONE `TickReady` (or `TickFailed`) message per tick;
the app calls `done()` once it applied the tick, which schedules the next one.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from .messages import TickFailed, TickReady

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

    from .source import ConsoleSource

log = logging.getLogger("pe.tui")


class TickDriver:
    """Collects in a thread worker on a self-rescheduling timer; one TickReady per tick.

    Never overlaps (the next collection is scheduled only after the app applied
    the previous tick, see `done`), rate changes apply from the next tick, and
    pausing the console does not stop collection (the app merges paused ticks).
    """

    MIN_INTERVAL = 0.1
    MAX_INTERVAL = 10.0
    KICK_DELAY = 0.05  # an action changed something: collect this soon instead of at the next interval

    def __init__(self, app: "App", source: "ConsoleSource", interval: float = 0.25) -> None:
        self.app = app
        self.source = source
        self.interval = min(self.MAX_INTERVAL, max(self.MIN_INTERVAL, interval))
        self.busy = False
        self.stopped = False
        self.ticks = 0
        self.last_collect_seconds = 0.0
        self.next_delay: float | None = None  # what the pending timer was set to (None: none)
        self._kicked = False
        self._timer: "Timer | None" = None

    def start(self) -> None:
        self.stopped = False
        self._schedule(0.0)

    def stop(self) -> None:
        self.stopped = True
        self.next_delay = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def kick(self) -> None:
        """Collect soon: an action just changed something. While a collection is in flight it may
        have read the state from before the change, so the one after it comes soon as well,
        not a whole interval later."""
        if self.stopped:
            return
        if self.busy:
            self._kicked = True
            return
        self._schedule(self.KICK_DELAY)

    def done(self) -> None:
        """The app applied the last tick: schedule the next one."""
        self.busy = False
        if not self.stopped:
            kicked, self._kicked = self._kicked, False
            self._schedule(self.KICK_DELAY if kicked else self.interval)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        # never 0: Textual's timer divides by its interval when it runs late
        self.next_delay = max(0.01, delay)
        self._timer = self.app.set_timer(self.next_delay, self._fire, name="pe-tick")

    def _fire(self) -> None:
        self._timer = None
        self.next_delay = None
        if self.busy or self.stopped:
            return
        self.busy = True
        self.app.run_worker(self._collect, thread=True, exit_on_error=False, group="pe-collect",
                            name="collect", description="collect one console tick")

    def _collect(self) -> None:
        t0 = time.perf_counter()
        try:
            tick = self.source.collect()
        except Exception as e:  # noqa: BLE001 -- reported, never fatal
            log.exception("console tick failed")
            self.app.post_message(TickFailed(f"{type(e).__name__}: {e}"))
            return
        finally:
            self.last_collect_seconds = time.perf_counter() - t0
        self.ticks += 1
        self.app.post_message(TickReady(tick))
