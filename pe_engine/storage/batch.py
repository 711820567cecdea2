"""Turn parsed columns into Arrow record batches typed by the catalog.

Batches are *narrow*: they hold only the columns present in the body. The
buffer widens them to the table's current schema when a query needs it.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..lineprotocol.types import ParsedTable
from .catalog import FIELD_ARROW, TIME_TYPE, FieldType, TableDef


def _take(values: list, keep: list[int] | None) -> list:
    return values if keep is None else [values[i] for i in keep]


def to_record_batch(tdef: TableDef, pt: ParsedTable, keep: list[int] | None = None) -> pa.RecordBatch:
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name, values in pt.tags.items():
        arr = pa.array(_take(values, keep), pa.string())
        arrays.append(pc.dictionary_encode(arr))
        fields.append(pa.field(name, arrays[-1].type))
    for name, (ftype, values) in pt.fields.items():
        typ = FIELD_ARROW[FieldType(ftype)]
        arrays.append(pa.array(_take(values, keep), typ))
        fields.append(pa.field(name, typ))
    arrays.append(pa.array(_take(pt.time, keep), TIME_TYPE))
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
