"""`iox::column::type` field metadata on query results, as InfluxDB 3 sets it.

InfluxDB keeps the column kind in each table's Arrow schema and DataFusion carries field
metadata through plain column references (also aliased, also as GROUP BY keys), not
through computed expressions. Clients rely on it: influxdb3-js's `asPoint()` tells tags
from fields by it. pe's tables carry no metadata, so the same rule is read off the
statement's logical plan (no data touched): each output column of the outermost
projection that is a column of a user table (`*`, `col`, `t.col`, `col AS x`, a group key)
gets its kind; everything else gets none. Kinds come from the table's registered schema,
which the catalog builds one-to-one from its column kinds (tags are dictionaries, `time`
the timestamp, fields by type).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from ..lineprotocol.types import iox_type_name
from .catalog import ARROW_FIELD, TAG_TYPE, TIME_TYPE

METADATA_KEY = b"iox::column::type"
USER_SCHEMAS = (None, "iox")  # where user tables live (storage/query.py); system tables get none
_PASS_THROUGH = ("Limit", "Sort", "Distinct")

SchemaLookup = Callable[[str], pa.Schema | None]  # a user table's schema, None when not one


def kind_of(f: pa.Field) -> str | None:
    """The InfluxDB column type of a catalog-built field."""
    if f.type == TAG_TYPE:
        return iox_type_name("tag", None)
    if f.name == "time" and f.type == TIME_TYPE:
        return iox_type_name("time", None)
    ft = ARROW_FIELD.get(str(f.type))
    return None if ft is None else iox_type_name("field", ft)


def _name(node: Any) -> str:
    return type(node).__name__


def _relations(plan: Any, tables: SchemaLookup, out: dict[str, pa.Schema]) -> None:
    """Table names and the aliases put directly on them -> the tables' schemas."""
    node = plan.to_variant()
    if _name(node) == "TableScan":
        _, schema_name, _ = node.fqn()
        schema = tables(node.table_name()) if schema_name in USER_SCHEMAS else None
        if schema is not None:
            out[node.table_name()] = schema
    elif _name(node) == "SubqueryAlias":
        inner = plan.inputs()[0].to_variant()
        if _name(inner) == "TableScan":
            _, schema_name, _ = inner.fqn()
            schema = tables(inner.table_name()) if schema_name in USER_SCHEMAS else None
            if schema is not None:
                out[str(node.alias())] = schema
    for child in plan.inputs():
        _relations(child, tables, out)


def plan_kinds(plan: Any, tables: SchemaLookup) -> dict[int, str]:
    """Output position -> iox type for the outermost projection's table columns."""
    top = plan
    while _name(top.to_variant()) in _PASS_THROUGH and top.inputs():
        top = top.inputs()[0]
    projection = top.to_variant()
    if _name(projection) != "Projection":
        return {}
    relations: dict[str, pa.Schema] = {}
    _relations(top, tables, relations)
    if not relations:
        return {}
    kinds: dict[int, str] = {}
    for i, e in enumerate(projection.projections()):
        if e.variant_name() == "Alias":
            e = e.to_variant().expr()
        if e.variant_name() != "Column":
            continue
        col = e.to_variant()
        schema = relations.get(col.relation() or "")
        if schema is None:
            continue
        idx = schema.get_field_index(col.name())
        kind = kind_of(schema.field(idx)) if idx >= 0 else None
        if kind is not None:
            kinds[i] = kind
    return kinds


def tagged_schema(schema: pa.Schema, kinds: dict[str, str]) -> pa.Schema:
    """`schema` with `iox::column::type` on the fields named in `kinds`."""
    if not kinds:
        return schema
    fields = []
    for f in schema:
        kind = kinds.get(f.name)
        if kind is not None:
            f = f.with_metadata({**(f.metadata or {}), METADATA_KEY: kind.encode()})
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)
