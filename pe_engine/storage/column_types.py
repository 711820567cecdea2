"""`iox::column::type` field metadata on query results, as InfluxDB 3 sets it.

InfluxDB keeps the column kind in each table's Arrow schema and DataFusion carries field
metadata through plain column references (also aliased, also as GROUP BY keys), not
through computed expressions. Clients rely on it: influxdb3-js's `asPoint()` tells tags
from fields by it. pe's tables carry no metadata, so the same rule is applied to the
result: each output column that is a bare column of a user table in the outermost
SELECT (`*`, `col`, `t.col`, `col AS x`) gets its kind; everything else gets none.
Kinds come from the table's registered schema, which the catalog builds one-to-one from
its column kinds (tags are dictionaries, `time` the timestamp, fields by type).
"""
from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..lineprotocol.types import iox_type_name
from .catalog import ARROW_FIELD, TAG_TYPE, TIME_TYPE

METADATA_KEY = b"iox::column::type"

SchemaLookup = Callable[[str], pa.Schema | None]  # a user table's schema, None when not one


def kind_of(f: pa.Field) -> str | None:
    """The InfluxDB column type of a catalog-built field."""
    if f.type == TAG_TYPE:
        return iox_type_name("tag", None)
    if f.name == "time" and f.type == TIME_TYPE:
        return iox_type_name("time", None)
    ft = ARROW_FIELD.get(str(f.type))
    return None if ft is None else iox_type_name("field", ft)


def parse(sql: str) -> exp.Expr | None:
    """The statement's syntax tree (None when sqlglot cannot read it: then no metadata)."""
    try:
        return sqlglot.parse_one(sql, read="postgres")
    except Exception:
        return None


def result_kinds(tree: exp.Expr | None, tables: SchemaLookup) -> dict[str, str]:
    """Output column name -> iox type for the bare table columns of the outer SELECT."""
    if not isinstance(tree, exp.Select) or tree.args.get("with") is not None:
        return {}
    sources: dict[str, pa.Schema] = {}  # alias or name -> schema
    order: list[pa.Schema] = []
    froms = [tree.args.get("from") or tree.args.get("from_")] + [j for j in tree.args.get("joins") or []]
    for part in froms:
        if part is None:
            continue
        node = part.this
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            return {}  # subqueries, table functions: no lineage here
        if node.db and node.db.lower() != "iox":
            return {}
        schema = tables(node.name)
        if schema is None:
            return {}
        sources[node.name.lower()] = schema
        if node.alias:
            sources[node.alias.lower()] = schema
        order.append(schema)
    if not order:
        return {}
    kinds: dict[str, str] = {}
    for p in tree.expressions:
        out = p.alias_or_name
        inner = p.this if isinstance(p, exp.Alias) else p
        if isinstance(inner, exp.Star):
            for schema in order:
                kinds.update({f.name: k for f in schema if (k := kind_of(f)) is not None})
            continue
        if isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star):
            schema = sources.get(inner.table.lower())
            if schema is not None:
                kinds.update({f.name: k for f in schema if (k := kind_of(f)) is not None})
            continue
        if not isinstance(inner, exp.Column):
            continue
        candidates = [sources[inner.table.lower()]] if inner.table else order
        for schema in candidates:
            idx = schema.get_field_index(inner.name)
            if idx >= 0:
                kind = kind_of(schema.field(idx))
                if kind is not None:
                    kinds[out] = kind
                break
    return kinds


def tagged_schema(schema: pa.Schema, kinds: dict[str, str]) -> pa.Schema:
    """`schema` with `iox::column::type` on the fields named in `kinds` (a type check guards)."""
    if not kinds:
        return schema
    fields = []
    for f in schema:
        kind = kinds.get(f.name)
        if kind is not None and _fits(kind, f.type):
            f = f.with_metadata({**(f.metadata or {}), METADATA_KEY: kind.encode()})
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def with_column_types(table: pa.Table, kinds: dict[str, str]) -> pa.Table:
    """`table` relabelled with tagged_schema (no data copied)."""
    schema = tagged_schema(table.schema, kinds)
    return table if schema.equals(table.schema, check_metadata=True) else pa.Table.from_arrays(table.columns, schema=schema)


def _fits(kind: str, t: pa.DataType) -> bool:
    if kind.endswith("::tag"):
        return pa.types.is_dictionary(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
    if kind.endswith("::timestamp"):
        return pa.types.is_timestamp(t)
    return True
