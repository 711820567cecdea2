"""In-memory Arrow buffers: the queryable data that is not yet (only) in Parquet.

A table's data is a list of Parquet files (already snapshotted, `FileRecord`s) plus a list of
narrow record batches that arrived since (`MemBatch`: the batch, its WAL seq, its time range,
found off the loop, and whether it repeats a point, found when a query first asks). Readers get
a consistent view via `TableData.view()`; writers only append. Everything here runs on the engine's
event loop, so no locks are needed; views are immutable snapshots.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from .batch import widen
from .parquet_meta import UNKNOWN_RANGE, FileRecord


def tag_names_of(schema: pa.Schema) -> list[str]:
    """The series-key columns of a batch: its dictionary (tag) columns."""
    return [f.name for f in schema if pa.types.is_dictionary(f.type)]


@dataclass(frozen=True, slots=True)
class MemBatch:
    """One WAL record's rows of one table, as written, with what queries need to know of it."""

    batch: pa.RecordBatch  # narrow
    seq: int
    min_time: int
    max_time: int
    # Whether two rows share a series key and time: None until a query first asks (`has_dups`),
    # so the write path pays only for the time range.
    dups: bool | None = field(default=None, compare=False)

    @classmethod
    def of(cls, batch: pa.RecordBatch, seq: int) -> MemBatch:
        """The batch's time range (one pass); call off the event loop (WAL or parse thread)."""
        if batch.num_rows == 0:
            return cls(batch, seq, 1, 0, False)
        mm = pc.min_max(batch.column(batch.schema.get_field_index("time")).cast(pa.int64()))
        return cls(batch, seq, mm["min"].as_py(), mm["max"].as_py())

    @property
    def has_dups(self) -> bool:
        """Two rows with the same series key and time. Found on first use (a query thread) and
        kept; two threads asking at once both compute the same answer."""
        dups = self.dups
        if dups is None:
            dups = repeats_point(self.batch)
            object.__setattr__(self, "dups", dups)
        return dups


def repeats_point(batch: pa.RecordBatch) -> bool:
    """True when two rows of the batch have the same tags (dictionary columns) and time."""
    n = batch.num_rows
    if n < 2:
        return False
    t = batch.column(batch.schema.get_field_index("time")).cast(pa.int64())
    if pc.count_distinct(t).as_py() == n:  # unique times cannot repeat a point
        return False
    keys = tag_names_of(batch.schema) + ["time"]
    return pa.Table.from_batches([batch]).group_by(keys).aggregate([]).num_rows < n


@dataclass(frozen=True, slots=True)
class TableView:
    """An immutable picture of one table for a query."""

    name: str
    schema: pa.Schema
    files: tuple[FileRecord, ...]
    mem: tuple[MemBatch, ...]
    version: int

    @property
    def parquet_files(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    @property
    def batches(self) -> tuple[pa.RecordBatch, ...]:  # narrow; `memory_table()` for the widened form
        return tuple(m.batch for m in self.mem)

    def memory_table(self) -> pa.Table:
        if not self.mem:
            return self.schema.empty_table()
        return pa.Table.from_batches([widen(m.batch, self.schema) for m in self.mem], schema=self.schema)


def legacy_record(path: str, rows: int, db_id: str = "", table: str = "", seq: int = 0) -> FileRecord:
    """A file known only by its path (time range unknown: every query reads it)."""
    return FileRecord(path, db_id, table, None, rows, *UNKNOWN_RANGE, seq, seq)


class TableData:
    """One table's data. State is one immutable tuple swapped atomically, so a
    query thread taking a view never sees a half-applied snapshot."""

    __slots__ = ("name", "_state", "version")

    def __init__(self, name: str) -> None:
        self.name = name
        # (parquet files, parquet rows, memory batches)
        self._state: tuple[tuple[FileRecord, ...], int, tuple[MemBatch, ...]] = ((), 0, ())
        self.version = 0

    def append(self, batch: pa.RecordBatch, seq: int, mem: MemBatch | None = None) -> None:
        """`mem` is `MemBatch.of(batch, seq)` computed off the loop; computed here when absent."""
        files, prows, batches = self._state
        self._state = (files, prows, batches + (mem if mem is not None else MemBatch.of(batch, seq),))
        self.version += 1

    def add_parquet(self, file: FileRecord | str, rows: int = 0) -> None:
        rec = file if isinstance(file, FileRecord) else legacy_record(str(file), rows, table=self.name)
        files, prows, batches = self._state
        self._state = (files + (rec,), prows + rec.rows, batches)
        self.version += 1

    def view(self, schema: pa.Schema) -> TableView:
        files, _, batches = self._state
        return TableView(self.name, schema, files, batches, self.version)

    def cut(self, through_seq: int) -> list[pa.RecordBatch]:
        """Batches from WAL records <= through_seq (what a snapshot persists)."""
        return [m.batch for m in self.cut_mem(through_seq)]

    def cut_mem(self, through_seq: int) -> list[MemBatch]:
        return [m for m in self._state[2] if m.seq <= through_seq]

    def replace_with_parquet(
        self, through_seq: int, path: FileRecord | str | None | list[FileRecord], rows: int = 0
    ) -> None:
        """Drop batches <= through_seq and add the file(s) that now hold their rows."""
        files, prows, batches = self._state
        keep = tuple(m for m in batches if m.seq > through_seq)
        if isinstance(path, list):
            new = tuple(path)
        elif path is None:
            new = ()
        else:
            new = (path if isinstance(path, FileRecord) else legacy_record(path, rows, table=self.name, seq=through_seq),)
        self._state = (files + new, prows + sum(f.rows for f in new), keep)
        self.version += 1

    def replace_files(self, old: set[str], new: list[FileRecord]) -> None:
        """Compaction's swap (old paths out, their merged file in); files not found are kept out."""
        files, _, batches = self._state
        kept = tuple(f for f in files if f.path not in old) + tuple(new)
        self._state = (kept, sum(f.rows for f in kept), batches)
        self.version += 1

    @property
    def files(self) -> tuple[FileRecord, ...]:
        return self._state[0]

    @property
    def parquet_files(self) -> tuple[str, ...]:
        return tuple(f.path for f in self._state[0])

    @property
    def batches(self) -> tuple[pa.RecordBatch, ...]:
        return tuple(m.batch for m in self._state[2])

    @property
    def rows_in_memory(self) -> int:
        return sum(m.batch.num_rows for m in self._state[2])

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
