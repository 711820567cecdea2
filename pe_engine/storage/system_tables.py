"""Registry of `system.<name>` tables.

Other parts of the engine (the processing engine's triggers and logs, the
caches) own the data behind these tables; they register a provider here and
the query engine asks it for a fresh Arrow table only when a query needs it,
so nothing is kept up to date in the background.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import pyarrow as pa

# database name -> the table's current rows, or None when the table does not exist in that
# database (e.g. InfluxDB 3 shows `plugin_files` only in `_internal`)
Provider = Callable[[str], pa.Table | None]


class SystemTables:
    """Thread-safe name -> provider map; providers are called on query threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: dict[str, Provider] = {}

    def register(self, name: str, provider: Provider) -> None:
        """Add or replace a provider; `name` is used verbatim as `system.<name>`."""
        if not name:
            raise ValueError("system table name cannot be empty")
        with self._lock:
            self._providers[name] = provider

    def unregister(self, name: str) -> None:
        with self._lock:
            self._providers.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._providers)

    def build(self, db: str) -> dict[str, pa.Table]:
        """Call every provider for `db`; tables whose provider returns None are left out.
        A provider's exception propagates (bugs must be loud)."""
        with self._lock:
            providers = list(self._providers.items())
        out: dict[str, pa.Table] = {}
        for name, provider in providers:
            table = provider(db)
            if table is None:
                continue
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            if not isinstance(table, pa.Table):
                raise TypeError(f"system table provider '{name}' returned {type(table).__name__}, not pyarrow.Table")
            out[name] = table
        return out
