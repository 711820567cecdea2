"""What every executor does around a call: open the activation record and the plugin's API,
and settle both into an Outcome, so the thread and process executors report alike."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from ...durations import format_duration
from ..activations import ActivationRecord
from ..enums import ActivationStatus
from ..executor import ActivationRequest, Outcome
from ..ports import PluginHost
from ..py_api.local import PluginApi
from ..responses import PluginResponse

__all__ = [
    "MAX_ACTIVATION_LOG_LINES", "OpenActivation", "count_lines_out", "open_activation", "open_record",
    "record_logger",
]

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



@dataclass(eq=False)
class OpenActivation:
    """One activation between its start and its outcome: the record, its log and the plugin's API."""

    req: ActivationRequest
    rec: ActivationRecord
    api: PluginApi
    log: Callable[[str, str], None]
    started: float

    def note(self, text: str) -> None:
        """The engine's own start/finish lines, as InfluxDB writes them."""
        self.log("INFO", text)

    def start_note_if_called(self) -> None:
        if self.req.notes_only_when_called:
            self.note(self.req.job.invocation.start_note())

    def release_api(self) -> None:
        if self.req.on_api is not None:
            self.req.on_api(self.api, False)

    def finish(
        self,
        status: ActivationStatus,
        error: str | None = None,
        traceback: str | None = None,
        *,
        cpu_time: float = 0.0,
        memory_peak: int = 0,
        response: PluginResponse | None = None,
    ) -> Outcome:
        req, rec, api = self.req, self.rec, self.api
        rec.run_time = time.perf_counter() - self.started
        rec.finished_at = time.time()
        rec.cpu_time = cpu_time
        rec.memory_peak = memory_peak
        rec.status = status
        rec.error = error
        rec.traceback = traceback
        if status == ActivationStatus.OK or not req.notes_only_when_called:
            self.note(f"finished execution in {format_duration(rec.run_time)}")
        outcome = Outcome(rec, response)
        if req.capture_writes:
            outcome.captured_writes = api.captured_writes()
        elif status == ActivationStatus.OK:
            outcome.queued_writes = api.take_queued()
            rec.lines_out = count_lines_out(outcome, api.lines_written)
        return outcome


def open_activation(
    req: ActivationRequest,
    new_id: Callable[[], int],
    host: PluginHost,
    loop: asyncio.AbstractEventLoop,
) -> OpenActivation:
    """Start the record and build the plugin's API (handed to `req.on_api`); write the start
    note now unless it waits until the plugin is found."""
    started, started_wall = time.perf_counter(), time.time()
    rec = open_record(req, new_id, started, started_wall)
    log = record_logger(rec, req)
    api = PluginApi(
        host=host,
        loop=loop,
        database=req.database,
        trigger=req.trigger,
        cache=req.cache,
        log=log,
        capture_writes=req.capture_writes,
    )
    if req.on_api is not None:
        req.on_api(api, True)
    act = OpenActivation(req, rec, api, log, started)
    if not req.notes_only_when_called:
        act.note(req.job.invocation.start_note())
    return act

