"""In-memory Arrow buffers: the queryable data that is not yet (only) in Parquet.

A table's data is a list of Parquet files (already snapshotted) plus a list of
narrow record batches that arrived since. Readers get a consistent view via
`TableData.view()`; writers only append. Everything here runs on the engine's
event loop, so no locks are needed; views are immutable snapshots.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from .batch import widen


@dataclass(frozen=True, slots=True)
class TableView:
    """An immutable picture of one table for a query."""

    name: str
    schema: pa.Schema
    parquet_files: tuple[str, ...]
    batches: tuple[pa.RecordBatch, ...]  # narrow; call `memory_table()` for the widened form
    version: int

    def memory_table(self) -> pa.Table:
        if not self.batches:
            return self.schema.empty_table()
        return pa.Table.from_batches([widen(b, self.schema) for b in self.batches], schema=self.schema)


class TableData:
    """One table's data. State is one immutable tuple swapped atomically, so a
    query thread taking a view never sees a half-applied snapshot."""

    __slots__ = ("name", "_state", "version")

    def __init__(self, name: str) -> None:
        self.name = name
        # (parquet files, parquet rows, batches, seq of each batch)
        self._state: tuple[tuple[str, ...], int, tuple[pa.RecordBatch, ...], tuple[int, ...]] = ((), 0, (), ())
        self.version = 0

    def append(self, batch: pa.RecordBatch, seq: int) -> None:
        files, prows, batches, seqs = self._state
        self._state = (files, prows, batches + (batch,), seqs + (seq,))
        self.version += 1

    def add_parquet(self, path: str, rows: int) -> None:
        files, prows, batches, seqs = self._state
        self._state = (files + (path,), prows + rows, batches, seqs)
        self.version += 1

    def view(self, schema: pa.Schema) -> TableView:
        files, _, batches, _ = self._state
        return TableView(self.name, schema, files, batches, self.version)

    def cut(self, through_seq: int) -> list[pa.RecordBatch]:
        """Batches from WAL records <= through_seq (what a snapshot persists)."""
        _, _, batches, seqs = self._state
        return [b for b, s in zip(batches, seqs) if s <= through_seq]

    def replace_with_parquet(self, through_seq: int, path: str | None, rows: int) -> None:
        files, prows, batches, seqs = self._state
        keep = [(b, s) for b, s in zip(batches, seqs) if s > through_seq]
        if path is not None:
            files, prows = files + (path,), prows + rows
        self._state = (files, prows, tuple(b for b, _ in keep), tuple(s for _, s in keep))
        self.version += 1

    @property
    def parquet_files(self) -> tuple[str, ...]:
        return self._state[0]

    @property
    def batches(self) -> tuple[pa.RecordBatch, ...]:
        return self._state[2]

    @property
    def rows_in_memory(self) -> int:
        return sum(b.num_rows for b in self._state[2])

    @property
    def rows_in_parquet(self) -> int:
        return self._state[1]

    @property
    def rows(self) -> int:
        return self.rows_in_memory + self.rows_in_parquet


class BufferStore:
    """db name -> table name -> TableData."""

    def __init__(self) -> None:
        self.dbs: dict[str, dict[str, TableData]] = {}

    def table(self, db: str, table: str) -> TableData:
        tables = self.dbs.setdefault(db, {})
        td = tables.get(table)
        if td is None:
            td = tables[table] = TableData(table)
        return td

    def drop_db(self, db: str) -> None:
        self.dbs.pop(db, None)

    def rows_in_memory(self) -> int:
        return sum(t.rows_in_memory for tables in self.dbs.values() for t in tables.values())
