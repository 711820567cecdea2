"""The distinct values of each tag, kept up to date from WAL flushes, for InfluxQL's
`SHOW TAG VALUES` (what InfluxDB 1.x answers from its series index).

A (table, tag) is learnt on first use with one DISTINCT scan; from the moment that starts, every
flush adds its batch's values (a vectorised unique per tag column), so nothing written during
the scan is missed. Values whose rows were since deleted by retention stay listed, as in 1.x
until a shard is dropped. A table deleted and created again starts over (entries hold the
catalog's table object). Memory: one string per distinct value per tag; a tag with more than
`max_values` distinct values is not indexed (its lookups scan).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from .catalog import Catalog, TableDef
from .flush import FlushedWrites

DEFAULT_MAX_VALUES = 100_000


@dataclass
class _Entry:
    table: TableDef
    values: set[str] = field(default_factory=set)
    ready: bool = False
    overflow: bool = False


class TagValueIndex:
    """A FlushSubscriber; `values` may be called from any thread."""

    def __init__(self, catalog: Catalog, max_values: int = DEFAULT_MAX_VALUES) -> None:
        self._catalog = catalog
        self._max = max_values
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], _Entry] = {}

    def _table(self, db: str, table: str) -> TableDef | None:
        d = self._catalog.databases.get(db)
        return d.tables.get(table) if d is not None else None

    def values(self, db: str, table: str, tag: str, scan: Callable[[], list[str]]) -> list[str] | None:
        """Sorted values of `tag`, or None when it is not indexed (too many values): then scan."""
        tdef = self._table(db, table)
        if tdef is None:
            return []
        key = (db, table, tag)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.table is not tdef:
                entry = self._entries[key] = _Entry(tdef)  # flushes from now on are collected
            elif entry.ready:
                return None if entry.overflow else sorted(entry.values)
        found = scan()
        with self._lock:
            if self._entries.get(key) is not entry:
                return sorted(found)  # dropped meanwhile (table deleted): answer the scan
            entry.values.update(found)
            entry.ready = True
            entry.overflow = entry.overflow or len(entry.values) > self._max
            if entry.overflow:
                entry.values.clear()
                return sorted(found)
            return sorted(entry.values)

    def on_flush(self, flushed: Sequence[FlushedWrites]) -> None:
        with self._lock:
            if not self._entries:
                return
            wanted = [(k, e) for k, e in self._entries.items() if not e.overflow]
        for fw in flushed:
            for (db, table, tag), entry in wanted:
                if db != fw.database or table not in fw.tables:
                    continue
                batch = fw.tables[table]
                if tag not in batch.schema.names:
                    continue
                col = batch.column(tag)
                uniq = pc.unique(col)
                if pa.types.is_dictionary(uniq.type):
                    uniq = uniq.cast(uniq.type.value_type)
                new = [v for v in uniq.to_pylist() if v is not None]
                with self._lock:
                    entry.values.update(new)
                    if len(entry.values) > self._max:
                        entry.overflow = True
                        entry.values.clear()
