"""Flight SQL's catalog commands (GetCatalogs, GetDbSchemas, GetTables, GetTableTypes) as tables.

The rows come from the database's own `information_schema.tables`, so what a client lists is
what its SQL can name, laid out as InfluxDB 3 does: catalog `public`, the database's tables in
schema `iox`, `system` and `information_schema`. Filter patterns have SQL LIKE semantics
(`%`, `_`, `\\` escapes), as the spec asks; the catalog filter is an exact name.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from ..storage.query import CATALOG_NAME, USER_SCHEMA

TABLE_TYPES = ("BASE TABLE", "VIEW")  # what DataFusion's information_schema names

CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])
DB_SCHEMAS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()),
                               pa.field("db_schema_name", pa.utf8(), nullable=False)])
TABLES_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
                           pa.field("table_name", pa.utf8(), nullable=False),
                           pa.field("table_type", pa.utf8(), nullable=False)])
TABLES_WITH_SCHEMA_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), nullable=False))
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])

# The statement whose answer feeds every command here.
TABLES_SQL = ("SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables "
              "ORDER BY table_catalog, table_schema, table_name")


@dataclass(frozen=True)
class TableRow:
    catalog: str
    schema: str
    name: str
    type: str


def rows_from(answer: pa.Table) -> list[TableRow]:
    """TableRows from the answer of TABLES_SQL."""
    cols = [answer.column(i).to_pylist() for i in range(4)]
    return [TableRow(*r) for r in zip(*cols)]


def like(pattern: str | None) -> Callable[[str], bool]:
    """A matcher for one SQL LIKE pattern; None (no filter) matches everything."""
    if pattern is None:
        return lambda _: True
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    rx = re.compile("".join(out), re.DOTALL)
    return lambda name: rx.fullmatch(name) is not None


def _catalog_ok(catalog: str | None) -> Callable[[str], bool]:
    return (lambda _: True) if catalog is None else (lambda c: c == catalog)


def catalogs_table() -> pa.Table:
    return pa.Table.from_pylist([{"catalog_name": CATALOG_NAME}], schema=CATALOGS_SCHEMA)


def db_schemas_table(rows: Iterable[TableRow], catalog: str | None, pattern: str | None) -> pa.Table:
    """Every schema that holds a table, plus `iox` while the database has none."""
    found = {(r.catalog, r.schema) for r in rows} | {(CATALOG_NAME, USER_SCHEMA)}
    cat_ok, name_ok = _catalog_ok(catalog), like(pattern)
    out = [{"catalog_name": c, "db_schema_name": s} for c, s in sorted(found) if cat_ok(c) and name_ok(s)]
    return pa.Table.from_pylist(out, schema=DB_SCHEMAS_SCHEMA)


def tables_table(rows: Iterable[TableRow], catalog: str | None, schema_pattern: str | None,
                 table_pattern: str | None, table_types: list[str],
                 schema_of: Callable[[TableRow], pa.Schema] | None) -> pa.Table:
    """The matching tables ordered by catalog, schema, name; `schema_of` given: with table_schema
    (the IPC-serialized Arrow schema of each table)."""
    cat_ok, schema_ok, name_ok = _catalog_ok(catalog), like(schema_pattern), like(table_pattern)
    types = set(table_types)
    picked = sorted((r for r in rows if cat_ok(r.catalog) and schema_ok(r.schema) and name_ok(r.name)
                     and (not types or r.type in types)), key=lambda r: (r.catalog, r.schema, r.name))
    out: list[dict[str, object]] = [
        {"catalog_name": r.catalog, "db_schema_name": r.schema, "table_name": r.name, "table_type": r.type}
        for r in picked]
    if schema_of is None:
        return pa.Table.from_pylist(out, schema=TABLES_SCHEMA)
    for row, r in zip(out, picked):
        row["table_schema"] = schema_of(r).serialize().to_pybytes()
    return pa.Table.from_pylist(out, schema=TABLES_WITH_SCHEMA_SCHEMA)


def table_types_table() -> pa.Table:
    return pa.Table.from_pylist([{"table_type": t} for t in TABLE_TYPES], schema=TABLE_TYPES_SCHEMA)


def quote_ident(name: str) -> str:
    """A SQL identifier DataFusion reads back as exactly `name`."""
    return '"' + name.replace('"', '""') + '"'
