"""What a WAL flush hands on, and the one interface of everyone who wants it.

The writer calls its subscribers in registration order after a flush is durable and in the
buffers: the engine registers the value caches first and processing (WAL triggers) after, so
a plugin that queries `last_cache()` in `process_writes` sees the rows that fired it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class FlushedWrites:
    """What one WAL flush made durable for one database (handed to WAL triggers)."""

    seq: int
    database: str
    tables: dict[str, pa.RecordBatch]
    flushed_at_ns: int


@runtime_checkable
class FlushSubscriber(Protocol):
    """Told of every flush that wrote rows; runs on the engine loop and must not block it."""

    def on_flush(self, flushed: Sequence[FlushedWrites]) -> None: ...


@dataclass(frozen=True, slots=True)
class FlushCallback:
    """A plain function as a subscriber (tests and benchmarks that only collect)."""

    fn: Callable[[list[FlushedWrites]], Any]

    def on_flush(self, flushed: Sequence[FlushedWrites]) -> None:
        self.fn(list(flushed))
