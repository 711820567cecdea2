"""The narrow interfaces processing needs from the rest of the engine (DESIGN §11).

The processing engine is handed these, never "the whole engine": a data host
that writes line protocol and runs queries, the control-plane store subset it
persists to, a catalog lookup, a system-table registry, an event publisher, a
source of WAL flushes, and a clock. `Engine` satisfies `ProcessingHost`
structurally; tests can hand in fakes. Nothing here imports the rest of
processing, so every module may import this one.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

import pyarrow as pa

if TYPE_CHECKING:
    from ..events import Event
    from ..lineprotocol.types import ParsedTable
    from ..storage.catalog import DatabaseDef, WritePlan

__all__ = [
    "Clock", "SystemClock", "LineErrorLike", "WriteOutcome", "DataHost", "CatalogLookup", "LogSink",
    "EventPublisher", "FlushedBatch", "FlushSubscriberLike", "FlushSource", "SystemTableRegistry",
    "ProcessingStore", "PluginHost", "ProcessingHost",
]


class Clock(Protocol):
    """Wall and monotonic time; the scheduler and catch-up read it so tests can drive them."""

    def time_ns(self) -> int: ...

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real clocks."""

    def time_ns(self) -> int:
        return time.time_ns()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class LineErrorLike(Protocol):
    @property
    def line_number(self) -> int: ...

    @property
    def message(self) -> str: ...


class WriteOutcome(Protocol):
    @property
    def errors(self) -> Sequence[LineErrorLike]: ...


class DataHost(Protocol):
    """Where plugin writes go and plugin queries run."""

    async def write_lp(
        self,
        db: str,
        body: bytes | str,
        precision: str | None = "ns",
        accept_partial: bool = True,
        no_sync: bool = False,
    ) -> WriteOutcome: ...

    async def query(self, db: str, sql: str, params: dict[str, Any] | None = None) -> pa.Table: ...

    def query_sync(self, db: str, sql: str, params: dict[str, Any] | None = None) -> pa.Table: ...


class CatalogLookup(Protocol):
    """The catalog as processing reads it: does a database exist, what would a write do."""

    @property
    def databases(self) -> Mapping[str, "DatabaseDef"]: ...

    def get_db(self, name: str) -> "DatabaseDef": ...

    def plan_write(self, db: "DatabaseDef", parsed: dict[str, "ParsedTable"]) -> "WritePlan": ...


class LogSink(Protocol):
    """The processing engine's log (system.processing_engine_logs)."""

    def add(self, database: str, trigger: str, level: str, text: str) -> None: ...


class EventPublisher(Protocol):
    def publish(self, ev: "Event") -> None: ...


class FlushedBatch(Protocol):
    """What one WAL flush made durable for one database."""

    @property
    def seq(self) -> int: ...

    @property
    def database(self) -> str: ...

    @property
    def tables(self) -> Mapping[str, pa.RecordBatch]: ...


class FlushSubscriberLike(Protocol):
    def on_flush(self, flushed: Sequence[Any]) -> None: ...


class FlushSource(Protocol):
    """Tells subscribers of every WAL flush that wrote rows (on the engine loop)."""

    def subscribe(self, subscriber: FlushSubscriberLike) -> None: ...

    def unsubscribe(self, subscriber: FlushSubscriberLike) -> None: ...


class SystemTableRegistry(Protocol):
    def register(self, name: str, provider: Callable[[str], pa.Table | None]) -> None: ...


class ProcessingStore(Protocol):
    """The control-plane store subset processing persists to."""

    async def save_trigger(self, database: str, name: str, definition: dict) -> None: ...

    async def delete_trigger(self, database: str, name: str) -> None: ...

    async def load_triggers(self) -> list[dict]: ...

    async def save_schedule_state(self, rows: list[tuple[str, str, int]]) -> None: ...

    async def load_schedule_state(self) -> dict[tuple[str, str], int]: ...

    async def save_plugin_versions(self, rows: list[tuple[str, str, Any]]) -> None: ...

    async def load_plugin_versions(self) -> list[Any]: ...

    async def replace_cache_snapshot(self, rows: list[tuple[str, str, bytes, str, float | None]]) -> None: ...

    async def load_cache_snapshot(self) -> list[tuple[str, str, bytes, str, float | None]]: ...

    async def append_history(
        self, activations: list[tuple[str, str, float, str, str]], logs: list[tuple[int, str, str, str, str]],
        keep_activations: int = 100_000, keep_logs: int = 100_000,
    ) -> None: ...

    async def recent_logs(self, limit: int) -> list[tuple[int, str, str, str, str]]: ...

    async def recent_activations(self, limit: int) -> list[dict]: ...


class PluginHost(DataHost, Protocol):
    """What `influxdb3_local` needs: the data host plus the catalog (database names)."""

    @property
    def catalog(self) -> CatalogLookup: ...


class ProcessingHost(PluginHost, FlushSource, Protocol):
    """Everything the processing engine is handed at construction (Engine is one)."""

    @property
    def bus(self) -> EventPublisher: ...

    @property
    def store(self) -> ProcessingStore: ...

    @property
    def system_tables(self) -> SystemTableRegistry: ...
