"""Rows to Parquet files, one per table and time partition (a UTC day), deduplicated and sorted.

The rule (DESIGN §9): one point per series key (the tag values, by column; a missing tag is
null) and time; for each field the last non-null value in write order wins. Input rows are in
write order (WAL seq, then line), so Arrow's ordered `last` aggregation applies the rule.
Files are sorted by series key and time, carry a `FileMeta` in their key-value metadata and
become durable under their final name (temp file, fsync, rename, fsync the directory), every
path through `pyarrow.fs`.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .batch import widen
from .parquet_meta import FileMeta, FileRecord

DAY_NS = 86_400 * 10**9


def partition_of(time_ns: int) -> str:
    """The partition name of a time: its UTC day, "YYYY-MM-DD"."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=(time_ns // DAY_NS) * DAY_NS // 1000)).strftime(
        "%Y-%m-%d"
    )


def partition_bounds(partition: str) -> tuple[int, int]:
    day = dt.datetime.strptime(partition, "%Y-%m-%d") - dt.datetime(1970, 1, 1)
    lo = (day.days * 86_400) * 10**9
    return lo, lo + DAY_NS - 1


def key_columns(schema: pa.Schema) -> list[str]:
    """Series key then time: every dictionary (tag) column, in schema order, then `time`."""
    return [f.name for f in schema if pa.types.is_dictionary(f.type)] + ["time"]


def dedup(table: pa.Table) -> pa.Table:
    """One row per (tags, time): each field's last non-null value in row order. Schema kept."""
    keys = key_columns(table.schema)
    fields = [n for n in table.schema.names if n not in keys]
    if table.num_rows < 2:
        return table
    table = table.unify_dictionaries()
    if table.group_by(keys).aggregate([]).num_rows == table.num_rows:
        return table
    g = table.group_by(keys, use_threads=False).aggregate([(f, "last") for f in fields])
    cols = {n: g.column(n) for n in keys}
    cols.update({f: g.column(f"{f}_last") for f in fields})
    return pa.Table.from_arrays(
        [cols[n].cast(t.type) for n, t in zip(table.schema.names, table.schema)], schema=table.schema
    )


def sort_by_key(table: pa.Table) -> pa.Table:
    """Rows ordered by series key (tag values as text, nulls last) then time."""
    keys = key_columns(table.schema)
    probe = pa.table({f"k{i}": table.column(k).cast(pa.string()) if k != "time" else table.column(k)
                      for i, k in enumerate(keys)})
    idx = pc.sort_indices(probe, sort_keys=[(f"k{i}", "ascending") for i in range(len(keys))])
    return table.take(idx)


def split_by_day(table: pa.Table) -> list[tuple[str, pa.Table]]:
    """(partition, rows of that UTC day) for each day present."""
    if table.num_rows == 0:
        return []
    days = pc.floor_temporal(table.column("time"), unit="day")
    uniq = days.unique()
    if len(uniq) == 1:
        return [(partition_of(uniq[0].cast(pa.int64()).as_py()), table)]
    out = []
    for d in pc.sort_indices(uniq).to_pylist():
        day = uniq[d]
        out.append((partition_of(day.cast(pa.int64()).as_py()), table.filter(pc.equal(days, day))))
    return out


def time_range(table: pa.Table) -> tuple[int, int]:
    mm = pc.min_max(table.column("time").cast(pa.int64()))
    return mm["min"].as_py(), mm["max"].as_py()


def file_path(root: str, db_id: str, table_dir: str, partition: str, min_seq: int, max_seq: int) -> str:
    return f"{root}/{db_id}/{table_dir}/{partition}/{min_seq:020d}-{max_seq:020d}-{uuid.uuid4().hex[:8]}.parquet"


def write_file(fs: pafs.FileSystem, path: str, table: pa.Table, meta: FileMeta) -> FileRecord:
    """Durable under `path` before returning (temp file, fsync, rename, fsync the directory)."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    tmp = path + ".tmp"
    table = table.replace_schema_metadata(meta.to_kv())
    with fs.open_output_stream(tmp) as out:
        pq.write_table(table, out, compression="zstd", row_group_size=256 * 1024)
    fsync_path(tmp)
    fs.move(tmp, path)
    fsync_path(parent)
    return FileRecord.of(path, meta, fs.get_file_info(path).size)


def write_partitions(
    fs: pafs.FileSystem,
    root: str,
    table_dir: str,
    meta: FileMeta,
    schema: pa.Schema,
    batches: Sequence[tuple[pa.RecordBatch, int]],
) -> list[FileRecord]:
    """CPU thread: (batch, WAL seq) in write order -> one deduplicated, sorted file per day.

    `meta` gives the database, table and columns; rows, partition, times and seqs are filled in.
    """
    if not batches:
        return []
    wide = pa.Table.from_batches([widen(b, schema) for b, _ in batches], schema=schema)
    spans = [(pc.min_max(b.column(b.schema.get_field_index("time")).cast(pa.int64())), s) for b, s in batches
             if b.num_rows]
    out = []
    for partition, part in split_by_day(wide):
        lo, hi = partition_bounds(partition)
        seqs = [s for mm, s in spans if mm["min"].as_py() <= hi and mm["max"].as_py() >= lo]
        rows = sort_by_key(dedup(part))
        tmin, tmax = time_range(rows)
        m = FileMeta(
            db_name=meta.db_name, db_id=meta.db_id, table=meta.table, partition=partition,
            min_seq=min(seqs), max_seq=max(seqs), min_time=tmin, max_time=tmax, rows=rows.num_rows,
            columns=meta.columns,
        )
        out.append(write_file(fs, file_path(root, meta.db_id, table_dir, partition, m.min_seq, m.max_seq), rows, m))
    return out


def fsync_path(path: str) -> None:
    """fsync a local file or directory (a no-op for paths that are not local)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fill_time_ranges(fs: pafs.FileSystem, records: list[FileRecord]) -> tuple[list[FileRecord], list[FileRecord]]:
    """Files recorded before partitioning get their time range from their statistics, once.

    Returns (all records, the ones that changed). A file that cannot be read keeps its unknown
    range (queries that read it report it).
    """
    out, changed = [], []
    for r in records:
        if r.known_range:
            out.append(r)
            continue
        try:
            with fs.open_input_file(r.path) as f:
                md = pq.read_metadata(f)
            lo = hi = None
            col = md.schema.to_arrow_schema().get_field_index("time")
            for g in range(md.num_row_groups):
                st = md.row_group(g).column(col).statistics
                if st is None or not st.has_min_max:
                    lo = hi = None
                    break
                a, b = _ns(st.min_raw), _ns(st.max_raw)
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
            size = fs.get_file_info(r.path).size or 0
        except (OSError, ValueError, pa.ArrowException):
            out.append(r)
            continue
        if lo is None or hi is None:
            out.append(r)
            continue
        # The partition stays unknown: an old file may repeat a point, so queries deduplicate it.
        new = FileRecord(r.path, r.db_id, r.table, None, r.rows, lo, hi, r.min_seq, r.max_seq, size)
        out.append(new)
        changed.append(new)
    return out, changed


def _ns(v: object) -> int:
    """A raw INT64 statistic (timestamps are stored as ns integers)."""
    if isinstance(v, int):
        return v
    raise ValueError(f"unexpected time statistic {v!r}")
