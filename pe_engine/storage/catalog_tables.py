"""`system.databases` and `system.tables`: the catalog as InfluxDB 3 Core shows it.

As in InfluxDB 3 Core, both live in the `_internal` database (`SELECT * FROM system.databases`
with `db=_internal`). `system.databases` has `database_name`, `retention_period_ns` (null =
never expires), `deleted`, `hard_deletion_date`; `system.tables` has `database_name`,
`table_name`, `column_count`, `series_key_columns`, `last_cache_count`,
`distinct_cache_count`, `deleted`, `hard_deletion_time`. Deleted databases and tables are gone
from pe's catalog at once (their data is removed when they are deleted), so `deleted` is false.
"""
from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from .catalog import Catalog

INTERNAL_DB = "_internal"

DATABASES_SCHEMA = pa.schema([
    pa.field("database_name", pa.string(), nullable=False),
    pa.field("retention_period_ns", pa.uint64()),
    pa.field("deleted", pa.bool_(), nullable=False),
    pa.field("hard_deletion_date", pa.timestamp("s")),
])
TABLES_SCHEMA = pa.schema([
    pa.field("database_name", pa.string(), nullable=False),
    pa.field("table_name", pa.string(), nullable=False),
    pa.field("column_count", pa.uint64(), nullable=False),
    pa.field("series_key_columns", pa.string(), nullable=False),
    pa.field("last_cache_count", pa.uint64(), nullable=False),
    pa.field("distinct_cache_count", pa.uint64(), nullable=False),
    pa.field("deleted", pa.bool_(), nullable=False),
    pa.field("hard_deletion_time", pa.timestamp("s", tz="UTC")),
])

CacheCounts = Callable[[str, str], tuple[int, int]]  # (db, table) -> (last caches, distinct caches)


def databases_provider(catalog: Catalog) -> Callable[[str], pa.Table | None]:
    def provider(db: str) -> pa.Table | None:
        if db != INTERNAL_DB:
            return None
        dbs = sorted(catalog.databases.values(), key=lambda d: d.name)
        return pa.table({
            "database_name": [d.name for d in dbs],
            "retention_period_ns": [d.retention_period_ns for d in dbs],
            "deleted": [False] * len(dbs),
            "hard_deletion_date": [None] * len(dbs),
        }, schema=DATABASES_SCHEMA)

    return provider


def tables_provider(catalog: Catalog, cache_counts: CacheCounts | None = None) -> Callable[[str], pa.Table | None]:
    def provider(db: str) -> pa.Table | None:
        if db != INTERNAL_DB:
            return None
        rows: dict[str, list] = {f.name: [] for f in TABLES_SCHEMA}
        for d in sorted(catalog.databases.values(), key=lambda d: d.name):
            for t in sorted(d.tables.values(), key=lambda t: t.name):
                last, distinct = cache_counts(d.name, t.name) if cache_counts is not None else (0, 0)
                rows["database_name"].append(d.name)
                rows["table_name"].append(t.name)
                rows["column_count"].append(len(t.columns))
                rows["series_key_columns"].append(", ".join(t.tag_names))
                rows["last_cache_count"].append(last)
                rows["distinct_cache_count"].append(distinct)
                rows["deleted"].append(False)
                rows["hard_deletion_time"].append(None)
        return pa.table(rows, schema=TABLES_SCHEMA)

    return provider
