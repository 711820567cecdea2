"""What running InfluxQL needs from the engine, as small interfaces the caller hands in.

The planner sees measurement schemas and a way to run DataFusion SQL; it never sees the engine.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa


class FieldKind(enum.Enum):
    """InfluxQL's field types, as `SHOW FIELD KEYS` names them."""
    FLOAT = "float"
    INTEGER = "integer"
    UNSIGNED = "unsigned"
    STRING = "string"
    BOOLEAN = "boolean"

    @property
    def numeric(self) -> bool:
        return self in (FieldKind.FLOAT, FieldKind.INTEGER, FieldKind.UNSIGNED)


@dataclass(frozen=True)
class MeasurementSchema:
    name: str
    tags: tuple[str, ...]
    fields: dict[str, FieldKind] = field(default_factory=dict)

    def kind(self, name: str) -> str | None:
        """"tag", "field" or None (the measurement has no such column)."""
        if name in self.fields:
            return "field"
        if name in self.tags:
            return "tag"
        return None


class SchemaSource(Protocol):
    def databases(self) -> list[str]: ...

    def measurements(self, db: str) -> list[str]:
        """Sorted; [] for an unknown database."""
        ...

    def schema(self, db: str, measurement: str) -> MeasurementSchema | None: ...

    def tag_values(self, db: str, measurement: str, tag: str) -> list[str] | None:
        """All values of a tag, sorted, from an index; None when there is none (then SQL scans)."""
        ...


class DatabaseAdmin(Protocol):
    """v1 `CREATE DATABASE` / `DROP DATABASE` through `/query`."""

    def create_database(self, name: str) -> None: ...

    def drop_database(self, name: str) -> None: ...


SqlRunner = Callable[[str, str], pa.Table]  # (database, DataFusion SQL) -> result


@dataclass
class QueryContext:
    database: str | None  # `db=`; a statement's `FROM db.rp.m` or `ON db` overrides it
    schema: SchemaSource
    run_sql: SqlRunner
    now_ns: int
    params: dict[str, object] = field(default_factory=dict)
    admin: DatabaseAdmin | None = None
    max_buckets: int = 1_000_000  # GROUP BY time buckets per statement (series x intervals)

    def sql(self, db: str, text: str) -> pa.Table:
        """Run SQL; tag columns come back dictionary-encoded, which Arrow cannot sort or join on."""
        table = self.run_sql(db, text)
        if not any(pa.types.is_dictionary(f.type) for f in table.schema):
            return table
        cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
        return pa.Table.from_arrays(cols, names=table.column_names)
