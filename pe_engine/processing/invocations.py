"""Typed invocations: what one activation calls, and with which arguments.

One class per plugin type (DESIGN §10: `WalCall`, `ScheduleCall`, `RequestCall`).
Each knows its entry point, its kind, the line the engine logs when the call
starts, and how to build the plugin's positional arguments. `Job` is the
runtime's envelope around an invocation: attempt, timing and the request's
future, which the invocation itself does not care about.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import pyarrow as pa

from .enums import PluginType, TriggerKind
from .py_api.batches import TableBatch

if TYPE_CHECKING:
    from .responses import PluginResponse

__all__ = ["WalCall", "ScheduleCall", "RequestCall", "Invocation", "Job"]

Args = dict[str, str] | None


@dataclass(frozen=True, slots=True)
class WalCall:
    """`process_writes(influxdb3_local, table_batches, args)` for one WAL flush."""

    kind: ClassVar[TriggerKind] = TriggerKind.WAL
    plugin_type: ClassVar[PluginType] = PluginType.WAL_ROWS
    entry_point: ClassVar[str] = "process_writes"

    seq: int
    database: str
    tables: Mapping[str, pa.RecordBatch]

    @property
    def rows_in(self) -> int:
        return sum(b.num_rows for b in self.tables.values())

    @property
    def scheduled_at(self) -> float | None:
        return None

    def start_note(self) -> str:
        return "starting execution of wal plugin."

    def arguments(self, api: Any, args: Args) -> tuple[Any, ...]:
        return (api, [TableBatch(name, batch) for name, batch in self.tables.items()], args)


@dataclass(frozen=True, slots=True)
class ScheduleCall:
    """`process_scheduled_call(influxdb3_local, call_time, args)` for one tick (ns since the epoch)."""

    kind: ClassVar[TriggerKind] = TriggerKind.SCHEDULE
    plugin_type: ClassVar[PluginType] = PluginType.SCHEDULE
    entry_point: ClassVar[str] = "process_scheduled_call"

    fire_ns: int

    @property
    def rows_in(self) -> int:
        return 0

    @property
    def scheduled_at(self) -> float:
        return self.fire_ns / 1e9

    def start_note(self) -> str:
        when = dt.datetime.fromtimestamp(self.fire_ns / 1e9, dt.timezone.utc).replace(tzinfo=None)
        return f"starting execution with scheduled time {when} UTC"

    def arguments(self, api: Any, args: Args) -> tuple[Any, ...]:
        call_time = dt.datetime.fromtimestamp(self.fire_ns // 1_000_000_000)
        return (api, call_time, args)


@dataclass(frozen=True, slots=True)
class RequestCall:
    """`process_request(influxdb3_local, query_parameters, request_headers, request_body, args)`."""

    kind: ClassVar[TriggerKind] = TriggerKind.REQUEST
    plugin_type: ClassVar[PluginType] = PluginType.REQUEST
    entry_point: ClassVar[str] = "process_request"

    query_parameters: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def rows_in(self) -> int:
        return 0

    @property
    def scheduled_at(self) -> float | None:
        return None

    def start_note(self) -> str:
        return "starting execution of request plugin."

    def arguments(self, api: Any, args: Args) -> tuple[Any, ...]:
        return (api, self.query_parameters, self.headers, self.body, args)


Invocation = WalCall | ScheduleCall | RequestCall


@dataclass(slots=True)
class Job:
    """One invocation waiting for (or running in) a trigger, with its retry bookkeeping."""

    invocation: Invocation
    scheduled_at: float | None = None  # epoch seconds
    dispatched_at: float = field(default_factory=time.perf_counter)
    dispatched_wall: float = field(default_factory=time.time)
    attempt: int = 1
    future: "asyncio.Future[PluginResponse] | None" = None  # request triggers await their response

    @classmethod
    def of(cls, invocation: Invocation, future: "asyncio.Future[PluginResponse] | None" = None) -> "Job":
        return cls(invocation, scheduled_at=invocation.scheduled_at, future=future)

    @property
    def kind(self) -> TriggerKind:
        return self.invocation.kind

    @property
    def rows_in(self) -> int:
        return self.invocation.rows_in

    def again(self) -> "Job":
        """A fresh envelope for the same input (the console's retry of a failed activation)."""
        return Job(self.invocation, scheduled_at=self.scheduled_at)
