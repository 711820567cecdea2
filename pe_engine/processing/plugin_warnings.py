"""Python `warnings` raised by plugin code go to that trigger's log as WARN, not to stderr.

Plugins run concurrently in worker threads, and `warnings.catch_warnings` swaps module-global
state (not thread-safe), so instead one `warnings.showwarning` hook is installed once and routes
each warning by the thread that raised it: a thread running an activation has its log sink in a
thread-local (`routed_to`); any other thread gets the hook that was there before.
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["install", "routed_to", "warning_text"]

LogSink = Callable[[str, str], None]  # (level, text)

_active = threading.local()
_lock = threading.Lock()
_previous: Callable[..., Any] | None = None


def warning_text(message: Warning | str, category: type[Warning], filename: str, lineno: int) -> str:
    return f"{category.__name__}: {message} ({filename}:{lineno})"


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sink: LogSink | None = getattr(_active, "sink", None)
    if sink is None:
        fallback = _previous or warnings._showwarning_orig  # type: ignore[attr-defined]
        fallback(message, category, filename, lineno, file, line)
        return
    try:
        sink("WARN", warning_text(message, category, filename, lineno))
    except Exception:  # a log that cannot take it (e.g. a written-off activation) drops it
        pass


def install() -> None:
    """Put the routing hook in place (idempotent). Whatever hook was there stays the fallback."""
    global _previous
    with _lock:
        current = warnings.showwarning
        if current is _showwarning:
            return
        _previous = current
        warnings.showwarning = _showwarning


@contextmanager
def routed_to(sink: LogSink) -> Iterator[None]:
    """Warnings raised in this thread while inside go to `sink` (one activation's log)."""
    before = getattr(_active, "sink", None)
    _active.sink = sink
    try:
        yield
    finally:
        _active.sink = before
