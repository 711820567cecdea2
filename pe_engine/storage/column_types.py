"""`iox::column::type` field metadata on query results, as InfluxDB 3 sets it.

InfluxDB keeps the column kind in each table's Arrow schema and DataFusion carries field
metadata through plain column references (also aliased, also as GROUP BY keys), not
through computed expressions. Clients rely on it: influxdb3-js's `asPoint()` tells tags
from fields by it. pe's tables carry no metadata, so the same rule is read off the
statement's logical plan (no data touched): each output column of the outermost
projection that is a column of a user table as it is (`*`, `col`, `t.col`, `col AS x`, a
group key, through subqueries, CTEs, filters and joins) gets its kind; everything else
(expressions, aggregates, UNION) gets none. Kinds come from the table's registered schema,
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


def _column(e: Any) -> tuple[str | None, str] | None:
    """(relation, name) of a bare column reference, seen through an alias; None otherwise."""
    if e.variant_name() == "Alias":
        e = e.to_variant().expr()
    if e.variant_name() != "Column":
        return None
    col = e.to_variant()
    return col.relation(), col.name()


def _output_name(e: Any) -> str | None:
    if e.variant_name() == "Alias":
        return str(e.to_variant().alias())
    col = _column(e)
    return None if col is None else col[1]


def _resolve(plan: Any, relation: str | None, name: str, tables: SchemaLookup, depth: int = 0) -> str | None:
    """The kind of column `relation.name` of `plan`'s output, followed down to a user table."""
    if depth > 64:
        return None
    node = plan.to_variant()
    kind = _name(node)
    inputs = plan.inputs()
    if kind == "TableScan":
        _, schema_name, _ = node.fqn()
        if schema_name not in USER_SCHEMAS or relation not in (None, node.table_name()):
            return None
        schema = tables(node.table_name())
        idx = schema.get_field_index(name) if schema is not None else -1
        return kind_of(schema.field(idx)) if schema is not None and idx >= 0 else None
    if kind == "SubqueryAlias":
        if relation not in (None, str(node.alias())):
            return None
        return _resolve(inputs[0], None, name, tables, depth + 1)
    if kind == "Projection":
        for e in node.projections():
            col = _column(e)
            if _output_name(e) != name or (relation is not None and col is not None and e.variant_name() == "Column"
                                           and col[0] not in (None, relation)):
                continue
            return None if col is None else _resolve(inputs[0], col[0], col[1], tables, depth + 1)
        return None
    if kind == "Aggregate":
        for e in node.group_by_exprs():
            col = _column(e)
            if col is not None and col[1] == name and (relation is None or col[0] in (None, relation)):
                return _resolve(inputs[0], col[0], col[1], tables, depth + 1)
        return None
    if kind in _PASS_THROUGH or kind in ("Filter", "Join", "CrossJoin", "Repartition"):
        for child in inputs:  # a join: the side that has the column
            found = _resolve(child, relation, name, tables, depth + 1)
            if found is not None:
                return found
    return None


def plan_kinds(plan: Any, tables: SchemaLookup) -> dict[int, str]:
    """Output position -> iox type for the outermost projection's columns that come, as they
    are, from a user table (through aliases, subqueries, filters, joins and group keys)."""
    top = plan
    while _name(top.to_variant()) in _PASS_THROUGH and top.inputs():
        top = top.inputs()[0]
    projection = top.to_variant()
    if _name(projection) != "Projection":
        return {}
    kinds: dict[int, str] = {}
    for i, e in enumerate(projection.projections()):
        col = _column(e)
        if col is None:
            continue
        kind = _resolve(top.inputs()[0], col[0], col[1], tables)
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
