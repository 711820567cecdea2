"""In-memory Arrow buffers: the queryable data that is not yet (only) in Parquet.

A table's data is a list of Parquet files (already snapshotted) plus a list of
narrow record batches that arrived since. Readers get a consistent view via
`TableData.view()`; writers only append. Everything here runs on the engine's
event loop, so no locks are needed; views are immutable snapshots.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class TableData:
    name: str
    batches: list[pa.RecordBatch] = field(default_factory=list)
    batch_seqs: list[int] = field(default_factory=list)  # WAL seq each batch came from
    parquet_files: list[str] = field(default_factory=list)
    rows_in_memory: int = 0
    rows_in_parquet: int = 0
    version: int = 0

    def append(self, batch: pa.RecordBatch, seq: int) -> None:
        self.batches.append(batch)
        self.batch_seqs.append(seq)
        self.rows_in_memory += batch.num_rows
        self.version += 1

    def view(self, schema: pa.Schema) -> TableView:
        return TableView(self.name, schema, tuple(self.parquet_files), tuple(self.batches), self.version)

    def cut(self, through_seq: int) -> list[pa.RecordBatch]:
        """Batches from WAL records <= through_seq (what a snapshot persists)."""
        return [b for b, s in zip(self.batches, self.batch_seqs) if s <= through_seq]

    def replace_with_parquet(self, through_seq: int, path: str | None, rows: int) -> None:
        keep = [(b, s) for b, s in zip(self.batches, self.batch_seqs) if s > through_seq]
        self.batches = [b for b, _ in keep]
        self.batch_seqs = [s for _, s in keep]
        self.rows_in_memory = sum(b.num_rows for b in self.batches)
        if path is not None:
            self.parquet_files.append(path)
            self.rows_in_parquet += rows
        self.version += 1

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
