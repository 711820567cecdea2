"""Files the catalog no longer lists (compacted away, expired), deleted once no query reads them.

Compaction and the retention sweeper both swap files out of the store and the buffers first,
so new queries stop reading them; a query planned before the swap may still be streaming one.
A doomed file is deleted as soon as no running query pins it; while pins are unknown (a query
is being planned, or no pin source was given) it waits `grace` seconds instead.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pyarrow.fs as pafs

Report = Callable[[str, str], None]  # (level, message)
UNBOUNDED_QUERY_GRACE = 600.0  # seconds: the wait while pins are unknown when queries have no time limit


def grace_for(query_timeout: float) -> float:
    """How long a doomed file may wait for pins to be known: a query can run for its time limit;
    with none (0) the wait is long, never zero (a zero grace deleted a file a query being
    planned had just picked)."""
    return query_timeout if query_timeout > 0 else UNBOUNDED_QUERY_GRACE


class DoomedFiles:
    def __init__(
        self,
        fs: pafs.FileSystem,
        *,
        grace: float,
        report: Report,
        what: str,
        in_use: Callable[[], set[str] | None] | None = None,
    ) -> None:
        self.fs = fs
        self.grace = grace
        self._report = report
        self._what = what  # who doomed them, for the warning when a delete fails
        self._in_use = in_use
        self._doomed: list[tuple[float, str]] = []  # (delete at the latest after monotonic time, path)

    def __len__(self) -> int:
        return len(self._doomed)

    def add(self, paths: Iterable[str]) -> None:
        at = time.monotonic() + self.grace
        self._doomed.extend((at, p) for p in paths)

    def delete_due(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        busy = self._in_use() if self._in_use is not None else None  # None: pins unknown
        # A file a running query pinned stays; `grace` bounds the wait only while pins are unknown.
        if busy is None:
            due = [p for t, p in self._doomed if t <= now]
        else:
            due = [p for _, p in self._doomed if p not in busy]
        gone = set(due)
        self._doomed = [(t, p) for t, p in self._doomed if p not in gone]
        self.delete_now(due)

    def delete_all_now(self) -> None:
        """At stop: no query runs any more."""
        self.delete_now([p for _, p in self._doomed])
        self._doomed = []

    def delete_now(self, paths: list[str]) -> None:
        """Files no query was ever given (e.g. a merge that found nothing to swap)."""
        for p in paths:
            try:
                self.fs.delete_file(p)
            except FileNotFoundError:
                pass
            except OSError as e:
                self._report("WARN", f"{self._what} could not delete {p}: {e}")
