"""A table's query provider from its sources: memory batches and Parquet files, one point per key.

Every source knows its time range and WAL seq. Sources whose time ranges overlap form a
cluster; a source alone in its cluster with no repeated point inside (a memory batch, checked
by the first query that reads it; a file pe wrote) is read as it is. Every other row goes
through one dedup step in DataFusion — `GROUP BY tags, time` with each field's `last_value(f ORDER BY _seq)
IGNORE NULLS` — where `_seq` is (WAL seq << 32) + row for memory rows and (file max_seq << 32)
for file rows (a file is deduplicated inside; a later file has a higher seq). The provider is
a view: the clean memory rows, the clean files (one `pyarrow.dataset` whose per-file time
ranges let DataFusion skip files a time predicate excludes) and the deduplicated rows,
UNION ALL, in catalog column order with the catalog's types.

`build_sources` is the seam for callers that restrict what a table shows (retention: drop
sources wholly outside the bounds; the rows inside are filtered by the query).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from datafusion import SessionContext
from datafusion.catalog import Table

from .buffer import MemBatch
from .parquet_meta import FileRecord

SEQ = "__pe_seq"  # the ordering column of the dedup step (a name no user column is likely to have)
MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1
_TS = pa.timestamp("ns")


@dataclass(frozen=True, slots=True)
class Source:
    min_time: int
    max_time: int
    seq: int  # ordering between sources: a higher seq was written later
    dirty: bool  # may repeat a point inside itself
    mem: MemBatch | None = None
    file: FileRecord | None = None
    decoded: tuple[pa.RecordBatch, ...] | None = None  # a cached file's rows, widened


def build_sources(
    mem: Sequence[MemBatch],
    files: Sequence[FileRecord],
    decoded: Callable[[FileRecord], tuple[pa.RecordBatch, ...] | None] = lambda f: None,
    lo: int | None = None,
    hi: int | None = None,
) -> list[Source]:
    """Sources of a table; those wholly outside [lo, hi] (when given) are left out."""
    out: list[Source] = []
    for m in mem:
        if m.batch.num_rows == 0:
            continue
        out.append(Source(m.min_time, m.max_time, m.seq << 32, m.has_dups, mem=m))
    for f in files:
        known = f.known_range
        tmin, tmax = (f.min_time, f.max_time) if known else (MIN_TIME, MAX_TIME)
        # A file from before partitioning may repeat points and its range may be unknown.
        out.append(Source(tmin, tmax, f.max_seq << 32, f.partition is None, file=f, decoded=decoded(f)))
    if lo is not None or hi is not None:
        a = MIN_TIME if lo is None else lo
        b = MAX_TIME if hi is None else hi
        out = [s for s in out if s.max_time >= a and s.min_time <= b]
    return out


def clusters(sources: Sequence[Source]) -> list[list[Source]]:
    """Groups of sources whose time ranges overlap (transitively)."""
    out: list[list[Source]] = []
    hi = None
    for s in sorted(sources, key=lambda s: s.min_time):
        if out and hi is not None and s.min_time <= hi:
            out[-1].append(s)
            hi = max(hi, s.max_time)
        else:
            out.append([s])
            hi = s.max_time
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def file_dataset(fs: pafs.FileSystem, schema: pa.Schema, files: Sequence[FileRecord]) -> ds.FileSystemDataset:
    """Files as one dataset; each file's time range is its partition expression (pruning)."""
    exprs = []
    for f in files:
        if f.known_range:
            exprs.append((ds.field("time") >= pa.scalar(f.min_time, _TS)) & (ds.field("time") <= pa.scalar(f.max_time, _TS)))
        else:
            exprs.append(ds.scalar(True))
    return ds.FileSystemDataset.from_paths(
        [f.path for f in files], schema=schema, format=ds.ParquetFileFormat(), filesystem=fs, partitions=exprs
    )


class ProviderBuilder:
    """Builds providers on a private context; names registered there are gone when it returns."""

    def __init__(self, helper: SessionContext, fs: pafs.FileSystem, partitions: int) -> None:
        self.helper = helper
        self.fs = fs
        self.partitions = partitions

    def build(
        self,
        schema: pa.Schema,
        sources: Sequence[Source],
        wide: Callable[[MemBatch], pa.RecordBatch],
        with_seq: Callable[[MemBatch], pa.RecordBatch],
        disjoint: Callable[[list[MemBatch]], bool] | None = None,
    ) -> Table:
        """`disjoint(batches)`: True when overlapping memory batches share no point (checked
        once per set of batches by the caller, e.g. `keys_disjoint` with a cache)."""
        clean_batches: list[pa.RecordBatch] = []
        clean_files: list[FileRecord] = []
        dirty_mem: list[pa.RecordBatch] = []
        dirty_parts: list[tuple[str, object]] = []  # (kind, payload): "mem", "file", "decoded"
        for group in clusters(sources):
            if len(group) == 1 and not group[0].dirty:
                s = group[0]
                if s.mem is not None:
                    clean_batches.append(wide(s.mem))
                elif s.decoded is not None:
                    clean_batches.extend(s.decoded)
                elif s.file is not None:
                    clean_files.append(s.file)
                continue
            mems = [s.mem for s in group if s.mem is not None]
            if (disjoint is not None and len(mems) == len(group) and not any(s.dirty for s in group)
                    and disjoint(mems)):
                clean_batches.extend(wide(m) for m in mems)  # overlapping times, no common point
                continue
            for s in group:
                if s.mem is not None:
                    dirty_mem.append(with_seq(s.mem))
                elif s.file is not None:
                    dirty_parts.append(("decoded" if s.decoded is not None else "file", s))
        if not dirty_mem and not dirty_parts:
            if not clean_files:
                return self.memtable(schema, clean_batches)
            if not clean_batches:
                return Table(file_dataset(self.fs, schema, clean_files))
        names: list[str] = []
        try:
            return self._view(schema, clean_batches, clean_files, dirty_mem, dirty_parts, names)
        finally:
            for n in names:
                self.helper.deregister_table(n)

    def _name(self, names: list[str]) -> str:
        n = f"s{uuid.uuid4().hex}"
        names.append(n)
        return n

    def _register_batches(self, names: list[str], schema: pa.Schema, batches: list[pa.RecordBatch]) -> str:
        name = self._name(names)
        if not batches:
            batches = [pa.RecordBatch.from_pylist([], schema=schema)]
        n = min(self.partitions, len(batches))
        self.helper.register_record_batches(name, [batches[i::n] for i in range(n)])
        return name

    def _view(
        self,
        schema: pa.Schema,
        clean_batches: list[pa.RecordBatch],
        clean_files: list[FileRecord],
        dirty_mem: list[pa.RecordBatch],
        dirty_parts: list[tuple[str, object]],
        names: list[str],
    ) -> Table:
        cols = ", ".join(_q(n) for n in schema.names)
        parts: list[str] = []
        if clean_batches:
            parts.append(f"SELECT {cols} FROM {self._register_batches(names, schema, clean_batches)}")
        if clean_files:
            name = self._name(names)
            self.helper.register_dataset(name, file_dataset(self.fs, schema, clean_files))
            parts.append(f"SELECT {cols} FROM {name}")
        if dirty_mem or dirty_parts:
            inner: list[str] = []
            if dirty_mem:
                seq_schema = dirty_mem[0].schema
                inner.append(f"SELECT {cols}, {SEQ} FROM {self._register_batches(names, seq_schema, dirty_mem)}")
            for kind, payload in dirty_parts:
                assert isinstance(payload, Source) and payload.file is not None
                name = self._name(names)
                if kind == "decoded" and payload.decoded is not None:
                    n = min(self.partitions, len(payload.decoded)) or 1
                    bs = list(payload.decoded) or [pa.RecordBatch.from_pylist([], schema=schema)]
                    self.helper.register_record_batches(name, [bs[i::n] for i in range(n)])
                else:
                    self.helper.register_dataset(name, file_dataset(self.fs, schema, [payload.file]))
                inner.append(f"SELECT {cols}, CAST({payload.seq} AS BIGINT) AS {SEQ} FROM {name}")
            keys = [f.name for f in schema if pa.types.is_dictionary(f.type) or f.name == "time"]
            select = []
            for f in schema:
                if f.name in keys:
                    select.append(_q(f.name))
                else:
                    select.append(f"last_value({_q(f.name)} ORDER BY {SEQ}) IGNORE NULLS AS {_q(f.name)}")
            group = ", ".join(_q(k) for k in keys)
            parts.append(
                f"SELECT {', '.join(select)} FROM ({' UNION ALL '.join(inner)}) AS d GROUP BY {group}"
            )
        return self.helper.sql(" UNION ALL ".join(parts)).into_view()

    def memtable(self, schema: pa.Schema, batches: list[pa.RecordBatch]) -> Table:
        names: list[str] = []
        name = self._register_batches(names, schema, batches)
        try:
            return self.helper.catalog().schema().table(name)
        finally:
            self.helper.deregister_table(name)


def keys_disjoint(batches: Sequence[pa.RecordBatch]) -> bool:
    """True when no (tags, time) appears twice across (and within) the widened batches."""
    if not batches:
        return True
    schema = batches[0].schema
    keys = [f.name for f in schema if pa.types.is_dictionary(f.type) or f.name == "time"]
    t = pa.Table.from_batches(batches, schema=schema).select(keys).unify_dictionaries()
    return t.group_by(keys).aggregate([]).num_rows == t.num_rows


def seq_column(batch: pa.RecordBatch, seq: int) -> pa.Array:
    """(seq << 32) + row index, one value per row."""
    return pc.add(pa.array(range(batch.num_rows), pa.int64()), pa.scalar(seq << 32, pa.int64()))
