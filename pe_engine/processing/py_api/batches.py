"""The table batches a WAL plugin reads, and query results as rows (InfluxDB 3 shapes)."""
from __future__ import annotations

import gc
from itertools import repeat
from typing import Any

import pyarrow as pa

__all__ = ["table_to_rows", "batch_to_rows", "TableBatch"]


def table_to_rows(table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """Query results as list[dict]: tags as str, timestamps as int ns, NULL as None."""
    cols = []
    names = table.schema.names
    for name, col in zip(names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64()) if col.type.unit == "ns" else col.cast(pa.timestamp("ns")).cast(pa.int64())
        elif pa.types.is_date(col.type) or pa.types.is_time(col.type) or pa.types.is_duration(col.type):
            col = col.cast(pa.int64())
        cols.append(col.to_pylist())
    return [dict(zip(names, vals)) for vals in zip(*cols)] if cols else []


def _column_values(col: pa.Array) -> list:
    if pa.types.is_dictionary(col.type):
        # Each distinct tag value becomes one str object, shared by every row that has it.
        values = col.dictionary.to_pylist()
        return [None if i is None else values[i] for i in col.indices.to_pylist()]
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return col.to_pylist()


def batch_to_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """WAL rows as InfluxDB hands them to process_writes: only the columns present in each row,
    tags then fields then time, `time` as int ns."""
    names = batch.schema.names
    cols = [_column_values(c) for c in batch.columns]
    has_nulls = any(c.null_count for c in batch.columns)
    # Building 100k dicts makes the cyclic GC scan a growing heap again and again; the rows
    # hold no cycles, so pause it while they are built.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if not has_nulls:
            return list(map(dict, map(zip, repeat(names), zip(*cols))))
        return [{k: v for k, v in zip(names, vals) if v is not None} for vals in zip(*cols)]
    finally:
        if was_enabled:
            gc.enable()


class TableBatch(dict):
    """One entry of `table_batches`: `{"table_name": ..., "rows": [...]}` plus `"arrow"`.

    `rows` is built on first access, so a plugin that only reads the Arrow data
    never pays for Python row dicts. Every ordinary dict access sees `rows`.
    """

    __slots__ = ("_batch",)

    def __init__(self, table_name: str, batch: pa.RecordBatch):
        super().__init__(table_name=table_name, arrow=batch)
        self._batch = batch

    def _materialize(self) -> None:
        if not dict.__contains__(self, "rows"):
            dict.__setitem__(self, "rows", batch_to_rows(self._batch))

    def __missing__(self, key: str) -> Any:
        if key == "rows":
            self._materialize()
            return dict.__getitem__(self, "rows")
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key == "rows" or dict.__contains__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if key == "rows":
            return self["rows"]
        return dict.get(self, key, default)

    def _all(self) -> "TableBatch":
        self._materialize()
        return self

    def keys(self):
        return dict.keys(self._all())

    def items(self):
        return dict.items(self._all())

    def values(self):
        return dict.values(self._all())

    def __iter__(self):
        return dict.__iter__(self._all())

    def __len__(self) -> int:
        return dict.__len__(self._all())

    def __repr__(self) -> str:
        return dict.__repr__(self._all())

    def copy(self) -> dict:
        return dict(self._all().items())

    def __reduce__(self) -> tuple:
        """Pickled as the entries it has (a cache value put by a worker process, a cache
        snapshot): `rows` is not built just to be pickled."""
        return (_rebuild_table_batch, (self._batch, dict(dict.items(self))))

    @property
    def num_rows(self) -> int:
        return self._batch.num_rows


def _rebuild_table_batch(batch: pa.RecordBatch, entries: dict) -> TableBatch:
    tb = TableBatch.__new__(TableBatch)
    tb._batch = batch
    dict.update(tb, entries)
    return tb
