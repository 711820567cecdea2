"""Turn parsed columns into Arrow record batches typed by the catalog.

Batches are *narrow*: they hold only the columns present in the body. The
buffer widens them to the table's current schema when a query needs it.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..lineprotocol.types import ParsedTable
from .catalog import FIELD_ARROW, TIME_TYPE, FieldType, TableDef


_ARANGE: pa.Array = pa.array(range(4096), pa.int64())  # 0..n-1, grown on demand


def _arange(n: int) -> pa.Array:
    global _ARANGE
    if len(_ARANGE) < n:
        _ARANGE = pa.array(range(max(n, 2 * len(_ARANGE))), pa.int64())
    return _ARANGE.slice(0, n)


def _column(pt: ParsedTable, name: str, values: list, typ: pa.DataType) -> pa.Array:
    """One column over every row of the table: a sparse column's values are scattered to
    their rows by Arrow (nulls elsewhere), with no per-row Python work."""
    arr = pa.array(values, typ)
    rows = pt.index.get(name)
    if rows is None:
        return arr
    at = pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)])
    return arr.take(pc.index_in(_arange(pt.rows), value_set=at))


def to_record_batch(tdef: TableDef, pt: ParsedTable, keep: list[int] | None = None) -> pa.RecordBatch:
    picks = None if keep is None else pa.array(keep, pa.int64())
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, values in pt.tags.items():
        arr = _column(pt, name, values, pa.string())
        if picks is not None:
            arr = arr.take(picks)
        arrays.append(pc.dictionary_encode(arr))
        fields.append(pa.field(name, arrays[-1].type))
    for name, (ftype, values) in pt.fields.items():
        typ = FIELD_ARROW[FieldType(ftype)]
        arr = _column(pt, name, values, typ)
        arrays.append(arr if picks is None else arr.take(picks))
        fields.append(pa.field(name, typ))
    times = pa.array(pt.time, TIME_TYPE)
    arrays.append(times if picks is None else times.take(picks))
    fields.append(pa.field("time", TIME_TYPE, nullable=False))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def widen(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """Give a narrow batch every column of `schema`, in its order; missing ones are null."""
    n = batch.num_rows
    names = batch.schema.names
    cols = []
    for f in schema:
        if f.name in names:
            col = batch.column(names.index(f.name))
            if col.type != f.type:
                col = col.cast(f.type)
            cols.append(col)
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.RecordBatch.from_arrays(cols, schema=schema)
