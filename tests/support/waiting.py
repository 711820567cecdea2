"""Poll a predicate until it returns something truthy, or fail after a timeout saying what was awaited.

One implementation (`_polls`, a generator that yields how long to pause), two entry points:
`wait_for` (async; `pause` lets a Textual test pass `pilot.pause` so the app keeps running) and
`wait_until` (blocking, for code that talks to a subprocess). Never a fixed sleep, never a timing
assert: the happy path returns as soon as the condition holds.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

__all__ = ["TimedOut", "pilot_wait_for", "wait_for", "wait_until"]


class TimedOut(AssertionError):
    """The awaited condition did not hold in time (an AssertionError, so pytest reports it as a failure)."""


def _polls(predicate: Callable[[], Any], what: str, timeout: float, interval: float) -> Generator[float, None, Any]:
    """Check `predicate`; yield `interval` while it is falsy; raise once `timeout` has passed
    (after one last check); return its value once truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:g}s waiting for {what}")
        yield interval


async def wait_for(predicate: Callable[[], Any], what: str = "condition", timeout: float = 15.0, *,
                   interval: float = 0.01, pause: Callable[[float], Awaitable[Any]] | None = None) -> Any:
    """Await `predicate()` being truthy and return its value; `pause(interval)` between polls
    (asyncio.sleep unless given, e.g. `pause=pilot.pause`)."""
    pause = pause or asyncio.sleep
    polls = _polls(predicate, what, timeout, interval)
    try:
        while True:
            await pause(next(polls))
    except StopIteration as done:
        return done.value


def wait_until(predicate: Callable[[], Any], what: str = "condition", timeout: float = 20.0, *,
               interval: float = 0.05) -> Any:
    """Blocking `wait_for`: time.sleep between polls."""
    polls = _polls(predicate, what, timeout, interval)
    try:
        while True:
            time.sleep(next(polls))
    except StopIteration as done:
        return done.value


async def pilot_wait_for(pilot: Any, predicate: Callable[[], Any], what: str = "condition", timeout: float = 15.0, *,
                         interval: float = 0.05) -> Any:
    """`wait_for` in a Textual test: `pilot.pause(interval)` between polls, so the app keeps running."""
    return await wait_for(predicate, what, timeout, interval=interval, pause=pilot.pause)
