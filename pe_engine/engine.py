"""Engine: lifecycle of the storage engine; wires catalog, WAL, buffers, store and query."""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from .config import EngineConfig
from .events import EventBus
from .lineprotocol.types import LineError


@dataclass
class WriteResult:
    database: str
    lines_written: int = 0
    rows: int = 0
    errors: list[LineError] = field(default_factory=list)
    rejected_all: bool = False  # accept_partial=False and some line was bad: nothing was written


class Engine:
    """In-process API. All methods are coroutines on the engine's loop unless noted.

    write_lp(db, body, precision="ns", accept_partial=True, no_sync=False) -> WriteResult
        Creates the database on first write. Raises InvalidName for a bad db name.
        Returns with errors listed (never raises for bad lines). With no_sync=False
        returns after the WAL record holding the write was fsync'd.
    query(db, sql, params=None) -> pa.Table
        Raises DatabaseNotFound, QueryError.
    create_database(name) / delete_database(name) / list_databases() -> list[str] (sync)
    """
