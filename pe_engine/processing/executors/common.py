"""What every executor does around a call: open the activation record, count its output."""
from __future__ import annotations

from typing import Callable

from ..activations import ActivationRecord
from ..executor import ActivationRequest, Outcome

__all__ = ["MAX_ACTIVATION_LOG_LINES", "open_record", "record_logger", "count_lines_out"]

MAX_ACTIVATION_LOG_LINES = 50


def open_record(req: ActivationRequest, new_id: Callable[[], int], started: float, started_wall: float) -> ActivationRecord:
    job = req.job
    return ActivationRecord(
        id=new_id() if req.record_id is None else req.record_id,
        database=req.database,
        trigger=req.trigger,
        kind=job.invocation.kind,
        plugin=req.plugin,
        scheduled_at=job.scheduled_at,
        dispatched_at=job.dispatched_wall,
        started_at=started_wall,
        dispatch_latency=started - job.dispatched_at,
        attempt=job.attempt,
        rows_in=job.rows_in,
    )


def record_logger(rec: ActivationRecord, req: ActivationRequest) -> Callable[[str, str], None]:
    """Log lines go to the record (bounded; it counts what it leaves out) and the trigger's log."""

    def log(level: str, text: str) -> None:
        rec.add_log(f"{level}: {text}", MAX_ACTIVATION_LOG_LINES)
        req.log(level, text)

    return log


def count_lines_out(outcome: Outcome, lines_written: int) -> int:
    queued = outcome.queued_writes or {}
    return lines_written + sum(text.count("\n") + 1 for lines in queued.values() for text in lines)

