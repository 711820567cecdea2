"""Admission and bookkeeping of queries: how many run at once, how many wait, who is running.

A query gets a `QueryHandle` when it arrives (`QueryGovernor.open`), waits for a slot in a
bounded FIFO queue (`admit`; a full queue is answered at once with `QueryRejected`, HTTP 503),
runs, and leaves its `QueryRecord` in a bounded ring of recent queries that `system.queries`
lists next to the running ones. The handle is also how a query is stopped from any thread:
`cancel()` wakes whatever the query is waiting on (the queue, or the stream of batches, see
storage/query.py), so a timeout, a client that went away or a Flight cancel all end it the
same way.

Memory: every running query may use `memory_limit` bytes (DataFusion's pool for its operators,
and the answer it collects). Admitting at most `memory_budget // memory_limit` queries at once
keeps the sum of what running queries may hold within the server-wide budget, so a query never
fails because others happen to run: it waits for a slot instead.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from ..errors import QueryError

DEFAULT_HISTORY = 1000  # finished queries kept for system.queries
DEFAULT_MEMORY_LIMIT = 2 * 1024**3
RETRY_AFTER_SECONDS = 1
POLL_SECONDS = 0.02  # how often a caller's "am I cancelled?" callback is asked


class QueryStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


class QueryPhase(StrEnum):
    """InfluxDB 3's phase names (system.queries `phase`)."""

    RECEIVED = "received"
    PERMIT = "permit"
    PLANNED = "planned"
    SUCCESS = "success"
    FAIL = "fail"
    CANCEL = "cancel"


class QueryRejected(QueryError):
    """Too many queries running and waiting: try again shortly."""

    status = 503

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_SECONDS):
        super().__init__(message)
        self.retry_after = retry_after


class QueryTimedOut(QueryError):
    status = 504


class QueryCancelled(QueryError):
    status = 499  # the client closed the request; nobody reads the answer


class QueryMemoryExceeded(QueryError):
    status = 422


@dataclass(frozen=True)
class QueryLimits:
    max_concurrent: int = 0  # 0: twice the cores
    max_queued: int = 64
    memory_limit: int = 0  # bytes per query; 0: DEFAULT_MEMORY_LIMIT (at most the budget)
    memory_budget: int = 0  # bytes for all running queries; 0: half the machine's memory

    def resolved(self) -> "QueryLimits":
        """The same limits with the automatic values filled in."""
        budget = self.memory_budget or _half_of_memory()
        limit = min(self.memory_limit or DEFAULT_MEMORY_LIMIT, budget)
        concurrent = self.max_concurrent or 2 * (os.cpu_count() or 1)
        return QueryLimits(max(1, concurrent), max(0, self.max_queued), max(1, limit), max(1, budget))

    @property
    def slots(self) -> int:
        """Queries admitted at once: the concurrency limit, and what the memory budget allows."""
        return max(1, min(self.max_concurrent, self.memory_budget // self.memory_limit))


def _half_of_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):
        return 8 * 1024**3


@dataclass
class QueryRecord:
    """One query as system.queries shows it."""

    id: str
    database: str
    text: str
    query_type: str
    issue_time_ns: int
    started: float  # monotonic
    phase: QueryPhase = QueryPhase.RECEIVED
    status: QueryStatus = QueryStatus.RUNNING
    permit_s: float | None = None
    plan_s: float | None = None
    execute_s: float | None = None
    end_s: float | None = None
    parquet_files: int | None = None
    rows: int = 0
    max_memory: int = 0  # bytes of the answer held (DataFusion's own pool is not visible from Python)
    error: str | None = None


class QueryHandle:
    """A query's record, deadline and cancellation; `cancel` may be called from any thread."""

    def __init__(self, record: QueryRecord, deadline: float | None, timeout: float | None,
                 poll: Callable[[], bool] | None) -> None:
        self.record = record
        self.deadline = deadline
        self.timeout = timeout
        self.poll = poll  # e.g. a Flight call's is_cancelled
        self._lock = threading.Lock()
        self._stopped: QueryStatus | None = None
        self._wakers: list[Callable[[], None]] = []

    @property
    def stopped(self) -> QueryStatus | None:
        """TIMEOUT or CANCELLED once the query was told to stop."""
        return self._stopped

    def cancel(self, why: QueryStatus = QueryStatus.CANCELLED) -> None:
        with self._lock:
            if self._stopped is not None:
                return
            self._stopped = why
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    def on_cancel(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` when the query is cancelled (now, if it already is); returns the undo."""
        with self._lock:
            self._wakers.append(wake)
            already = self._stopped is not None
        if already:
            wake()

        def undo() -> None:
            with self._lock:
                if wake in self._wakers:
                    self._wakers.remove(wake)

        return undo

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise the query's stop reason, if any (also: the deadline passed, the caller left)."""
        if self._stopped is None:
            left = self.remaining()
            if left is not None and left <= 0:
                self.cancel(QueryStatus.TIMEOUT)
            elif self.poll is not None and self.poll():
                self.cancel(QueryStatus.CANCELLED)
        if self._stopped is not None:
            raise self.stop_error()

    def stop_error(self) -> QueryError:
        if self._stopped is QueryStatus.TIMEOUT:
            return QueryTimedOut(f"query did not finish within {self.timeout:g} s")
        return QueryCancelled("query cancelled: the client went away or cancelled it")


class QueryGovernor:
    """Bounded concurrency with a bounded FIFO queue, plus the registry behind system.queries."""

    def __init__(self, limits: QueryLimits | None = None, *, history: int = DEFAULT_HISTORY) -> None:
        self.limits = (limits or QueryLimits()).resolved()
        self._cond = threading.Condition()
        self._active = 0
        self._waiting: deque[QueryHandle] = deque()
        self._running: dict[str, QueryRecord] = {}
        self._recent: deque[QueryRecord] = deque(maxlen=max(1, history))

    # -- lifecycle of one query -------------------------------------------
    def open(self, db: str, text: str, *, timeout: float | None = None, query_type: str = "sql",
             poll: Callable[[], bool] | None = None) -> QueryHandle:
        """Register an arriving query (listed as running from now on)."""
        record = QueryRecord(str(uuid.uuid4()), db, text, query_type, time.time_ns(), time.monotonic())
        deadline = None if timeout is None or timeout <= 0 else record.started + timeout
        with self._cond:
            self._running[record.id] = record
        return QueryHandle(record, deadline, timeout, poll)

    def admit(self, h: QueryHandle) -> None:
        """Wait for a slot (FIFO). QueryRejected when the queue is full; the handle's stop
        reason when it is cancelled or its deadline passes while waiting."""
        h.check()
        slots = self.limits.slots
        with self._cond:
            if self._active < slots and not self._waiting:
                self._active += 1
                self._permitted(h)
                return
            self._reject_if_full()
            self._waiting.append(h)
        undo = h.on_cancel(self._wake_all)
        try:
            with self._cond:
                while True:
                    if self._waiting[0] is h and self._active < slots:
                        self._active += 1
                        break
                    self._cond.release()
                    try:
                        h.check()
                    finally:
                        self._cond.acquire()
                    left = h.remaining()
                    wait = POLL_SECONDS if h.poll is not None else None
                    if left is not None:
                        wait = max(0.0, left if wait is None else min(wait, left))
                    self._cond.wait(wait)
        finally:
            undo()
            with self._cond:
                if h in self._waiting:
                    self._waiting.remove(h)
                self._cond.notify_all()
        self._permitted(h)

    def check_room(self) -> None:
        """QueryRejected now when a query arriving this moment could neither run nor wait (lets
        a caller answer 503 before handing the query to a thread)."""
        with self._cond:
            if self._active >= self.limits.slots or self._waiting:
                self._reject_if_full()

    def _reject_if_full(self) -> None:
        if len(self._waiting) >= self.limits.max_queued:
            raise QueryRejected(
                f"too many queries: {self._active} running and {len(self._waiting)} waiting "
                f"(--max-concurrent-queries {self.limits.max_concurrent}); retry shortly"
            )

    def release(self, h: QueryHandle) -> None:
        """The query no longer runs: its slot goes to the next in line."""
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def finish(self, h: QueryHandle, error: BaseException | None) -> None:
        """Record the outcome and move the record to the ring of recent queries."""
        r = h.record
        r.end_s = time.monotonic() - r.started
        if error is None:
            r.status, r.phase = QueryStatus.SUCCESS, QueryPhase.SUCCESS
        elif isinstance(error, QueryTimedOut):
            r.status, r.phase, r.error = QueryStatus.TIMEOUT, QueryPhase.CANCEL, str(error)
        elif isinstance(error, QueryCancelled):
            r.status, r.phase, r.error = QueryStatus.CANCELLED, QueryPhase.CANCEL, str(error)
        else:
            r.status, r.phase, r.error = QueryStatus.FAILED, QueryPhase.FAIL, str(error) or type(error).__name__
        if r.permit_s is not None and r.execute_s is None and r.plan_s is not None:
            r.execute_s = r.end_s - r.plan_s - r.permit_s
        with self._cond:
            self._running.pop(r.id, None)
            self._recent.append(r)

    def _permitted(self, h: QueryHandle) -> None:
        h.record.permit_s = time.monotonic() - h.record.started
        h.record.phase = QueryPhase.PERMIT

    def _wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- what is going on ---------------------------------------------------
    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def records(self) -> list[QueryRecord]:
        """Recent queries, oldest first, then the running ones."""
        with self._cond:
            return list(self._recent) + list(self._running.values())

    def table(self, db: str) -> pa.Table:
        """system.queries for `db` (`_internal` lists every database's)."""
        now = time.monotonic()
        rows = [r for r in self.records() if db == "_internal" or r.database == db]
        rows.sort(key=lambda r: r.issue_time_ns)

        def ns(v: float | None) -> int | None:
            return None if v is None else int(v * 1e9)

        running = [r.status is QueryStatus.RUNNING for r in rows]
        cols = {
            "id": pa.array([r.id for r in rows], pa.string()),
            "phase": pa.array([str(r.phase) for r in rows], pa.string()),
            "issue_time": pa.array([r.issue_time_ns for r in rows], pa.timestamp("ns")),
            "query_type": pa.array([r.query_type for r in rows], pa.string()),
            "query_text": pa.array([r.text for r in rows], pa.string()),
            "partitions": pa.array([None] * len(rows), pa.int64()),
            "parquet_files": pa.array([r.parquet_files for r in rows], pa.int64()),
            "plan_duration": pa.array([ns(r.plan_s) for r in rows], pa.duration("ns")),
            "permit_duration": pa.array([ns(r.permit_s) for r in rows], pa.duration("ns")),
            "execute_duration": pa.array([ns(r.execute_s) for r in rows], pa.duration("ns")),
            "end2end_duration": pa.array(
                [ns(r.end_s if r.end_s is not None else now - r.started) for r in rows], pa.duration("ns")
            ),
            "compute_duration": pa.array([None] * len(rows), pa.duration("ns")),
            "max_memory": pa.array([r.max_memory for r in rows], pa.int64()),
            "success": pa.array([r.status is QueryStatus.SUCCESS for r in rows], pa.bool_()),
            "running": pa.array(running, pa.bool_()),
            "cancelled": pa.array([r.status in (QueryStatus.CANCELLED, QueryStatus.TIMEOUT) for r in rows],
                                  pa.bool_()),
            "trace_id": pa.array([None] * len(rows), pa.string()),
            # pe's own columns, after InfluxDB's
            "database": pa.array([r.database for r in rows], pa.string()),
            "status": pa.array([str(r.status) for r in rows], pa.string()),
            "rows": pa.array([r.rows for r in rows], pa.int64()),
            "error": pa.array([r.error for r in rows], pa.string()),
        }
        return pa.table(cols)

