"""What every persisted Parquet file says about itself (DESIGN §9: a catalog that can be lost).

Each file pe writes carries a `FileMeta` in its Parquet key-value metadata under the key
`pe.file_meta` (JSON): enough to rebuild the store's file list and the table's schema from the
files alone. `read_file_meta` reads only the footer.

A file covers the WAL records `min_seq..max_seq` of one table and one time partition, and is
internally deduplicated (one row per series key and time). A compacted file covers the union of
the seq ranges of the files it replaced, so a file whose range contains another file's range of
the same (db_id, table, partition) supersedes it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .catalog import ColumnDef, FieldType, TableDef

META_KEY = b"pe.file_meta"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ColumnMeta:
    name: str
    kind: str  # "tag" | "field" | "time"
    field_type: str | None = None  # FieldType name ("FLOAT", "INT", ...) for fields

    @classmethod
    def of(cls, col: ColumnDef) -> ColumnMeta:
        return cls(col.name, col.kind, None if col.field_type is None else col.field_type.name)

    def to_column_def(self) -> ColumnDef:
        return ColumnDef(self.name, self.kind, None if self.field_type is None else FieldType[self.field_type])


@dataclass(frozen=True)
class FileMeta:
    db_name: str
    db_id: str
    table: str
    partition: str  # e.g. "2026-12-02" (UTC day of every row's time)
    min_seq: int
    max_seq: int
    min_time: int  # ns since the epoch
    max_time: int
    rows: int
    columns: tuple[ColumnMeta, ...] = field(default_factory=tuple)
    format_version: int = FORMAT_VERSION
    merged_files: int = 0  # > 0: written by compaction, replacing this many files of the partition

    @staticmethod
    def columns_of(tdef: TableDef) -> tuple[ColumnMeta, ...]:
        return tuple(ColumnMeta.of(c) for c in tdef.columns.values())

    def table_def(self) -> TableDef:
        t = TableDef(self.table)
        for c in self.columns:
            t.add_column(c.to_column_def())
        return t

    def supersedes(self, other: FileMeta) -> bool:
        """True when this file holds everything `other` holds (a compaction of it)."""
        return (
            (self.db_id, self.table, self.partition) == (other.db_id, other.table, other.partition)
            and self.min_seq <= other.min_seq
            and other.max_seq <= self.max_seq
            and self != other
        )

    def to_kv(self) -> dict[bytes, bytes]:
        d = asdict(self)
        return {META_KEY: json.dumps(d, separators=(",", ":")).encode()}

    @classmethod
    def from_kv(cls, kv: dict[bytes, bytes] | None) -> FileMeta | None:
        """The metadata of a file pe wrote, or None for a file without it (older pe, foreign)."""
        if not kv or META_KEY not in kv:
            return None
        d = json.loads(kv[META_KEY])
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(f"parquet file format version {d['format_version']} is newer than this pe")
        cols = tuple(ColumnMeta(**c) for c in d.pop("columns", ()))
        known = {f for f in cls.__dataclass_fields__}
        return cls(columns=cols, **{k: v for k, v in d.items() if k in known})


def read_file_meta(fs: pafs.FileSystem, path: str) -> FileMeta | None:
    """Footer only. Raises OSError/ArrowInvalid for a missing or unreadable file."""
    with fs.open_input_file(path) as f:
        md = pq.read_metadata(f)
    return FileMeta.from_kv(md.metadata)


@dataclass(frozen=True)
class FileRecord:
    """One persisted file as the store lists it (and as queries see it).

    `partition` is None (and the time range unknown: min_time > max_time) for a file written
    before partitioning, until start-up reads its range from the file once.
    """

    path: str
    db_id: str
    table: str
    partition: str | None
    rows: int
    min_time: int
    max_time: int
    min_seq: int
    max_seq: int
    bytes: int = 0

    @property
    def known_range(self) -> bool:
        return self.min_time <= self.max_time

    @classmethod
    def of(cls, path: str, meta: FileMeta, size: int) -> FileRecord:
        return cls(path, meta.db_id, meta.table, meta.partition, meta.rows, meta.min_time, meta.max_time,
                   meta.min_seq, meta.max_seq, size)


UNKNOWN_RANGE = (1, 0)  # min_time > max_time: read from the file before use
