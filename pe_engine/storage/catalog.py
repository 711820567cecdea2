"""Catalog: databases, tables and typed columns, with name rules and limits.

The catalog is the authority on column types. It is persisted by the store
(pe_engine.store) and can also be rebuilt from WAL batches, whose Arrow schemas
carry the same information, so a crash between a WAL fsync and a catalog save
loses nothing.
"""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

import pyarrow as pa

from ..errors import AlreadyExists, DatabaseNotFound, InvalidName, LimitExceeded, TableNotFound
from ..lineprotocol.types import FieldType, LineError, ParsedTable, iox_type_name

TAG_TYPE = pa.dictionary(pa.int32(), pa.string())
TIME_TYPE = pa.timestamp("ns")
FIELD_ARROW = {
    FieldType.FLOAT: pa.float64(),
    FieldType.INT: pa.int64(),
    FieldType.UINT: pa.uint64(),
    FieldType.STRING: pa.string(),
    FieldType.BOOL: pa.bool_(),
}
ARROW_FIELD = {str(v): k for k, v in FIELD_ARROW.items()}
# InfluxDB 3's names for field types in `POST /api/v3/configure/table` and `--fields name:type`
FIELD_TYPE_NAMES = {
    "utf8": FieldType.STRING,
    "int64": FieldType.INT,
    "uint64": FieldType.UINT,
    "float64": FieldType.FLOAT,
    "bool": FieldType.BOOL,
}

# `db/rp`: InfluxDB 3's naming for a v1 database and retention policy (InfluxQL's DBRP rule)
DB_NAME_RE = re.compile(r"^(?=.{1,64}$)[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9][A-Za-z0-9_\-]*)?$")
RESERVED_DATABASES = {"_internal"}
MAX_IDENT_LEN = 512


def validate_db_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidName("database name cannot be empty")
    if name in RESERVED_DATABASES:
        raise InvalidName(f"database name '{name}' is reserved for the system")
    if not DB_NAME_RE.match(name):
        raise InvalidName(
            f"invalid database name '{name}': use 1-64 characters, letters, digits, '_' or '-', "
            "starting with a letter or digit, and at most one '/' (db/rp)"
        )


def identifier_problem(kind: str, name: str) -> str | None:
    """Why `name` cannot be a table/column name, or None when it can."""
    if not name:
        return f"{kind} name cannot be empty"
    if len(name) > MAX_IDENT_LEN:
        return f"{kind} name is longer than {MAX_IDENT_LEN} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"{kind} name '{name[:64]}' contains a control character"
    return None


@dataclass
class ColumnDef:
    name: str
    kind: str  # "tag" | "field" | "time"
    field_type: FieldType | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "tag":
            return TAG_TYPE
        if self.kind == "time":
            return TIME_TYPE
        assert self.field_type is not None
        return FIELD_ARROW[self.field_type]

    @property
    def iox_type(self) -> str:
        return iox_type_name(self.kind, self.field_type)


@dataclass
class TableDef:
    name: str
    columns: dict[str, ColumnDef] = field(default_factory=dict)
    _schema: pa.Schema | None = field(default=None, repr=False)

    def add_column(self, col: ColumnDef) -> None:
        self.columns[col.name] = col
        self._schema = None

    @property
    def tag_names(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.kind == "tag"]

    @property
    def arrow_schema(self) -> pa.Schema:
        """Tags, then fields, then time (InfluxDB's column order)."""
        if self._schema is None:
            cols = list(self.columns.values())
            ordered = (
                [c for c in cols if c.kind == "tag"]
                + [c for c in cols if c.kind == "field"]
                + [c for c in cols if c.kind == "time"]
            )
            self._schema = pa.schema(
                [pa.field(c.name, c.arrow_type, nullable=c.kind != "time") for c in ordered]
            )
        return self._schema


@dataclass
class DatabaseDef:
    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    tables: dict[str, TableDef] = field(default_factory=dict)
    retention_period_ns: int | None = None  # None: rows never expire (storage/retention.py)


@dataclass
class WritePlan:
    """What a body will do to the catalog, decided before anything changes."""

    accepted: dict[str, tuple[ParsedTable, list[int] | None]]  # table -> (parsed, kept row idx or None=all)
    errors: list[LineError]
    new_tables: list[str]
    new_columns: dict[str, list[ColumnDef]]


class Catalog:
    def __init__(
        self,
        max_databases: int = 100,
        max_tables_per_database: int = 4000,
        max_columns_per_table: int = 500,
    ) -> None:
        self.databases: dict[str, DatabaseDef] = {}
        self.deleted_ids: set[str] = set()
        # (db id, table) -> the last WAL sequence whose rows of that table were deleted: WAL records
        # and Parquet files up to it hold rows of a deleted table, never shown again.
        self.deleted_tables: dict[tuple[str, str], int] = {}
        self.max_databases = max_databases
        self.max_tables = max_tables_per_database
        self.max_columns = max_columns_per_table
        self.version = 0  # bumped on every change; the store saves when it moves

    # -- databases -------------------------------------------------------
    def get_db(self, name: str) -> DatabaseDef:
        try:
            return self.databases[name]
        except KeyError:
            raise DatabaseNotFound(name) from None

    def create_db(
        self, name: str, *, exist_ok: bool = False, retention_period_ns: int | None = None
    ) -> DatabaseDef:
        if name in self.databases:
            if exist_ok:
                return self.databases[name]
            raise AlreadyExists(f"database already exists: {name}")
        validate_db_name(name)
        if len(self.databases) >= self.max_databases:
            raise LimitExceeded(
                f"cannot create database '{name}': the limit of {self.max_databases} databases is reached"
            )
        db = DatabaseDef(name, retention_period_ns=retention_period_ns)
        self.databases[name] = db
        self.version += 1
        return db

    def delete_db(self, name: str) -> DatabaseDef:
        db = self.get_db(name)
        del self.databases[name]
        self.deleted_ids.add(db.id)
        self.version += 1
        return db

    def restore_db(self, db: DatabaseDef) -> None:
        """Put back a database loaded from the store or rebuilt from the WAL."""
        self.databases[db.name] = db

    # -- tables ------------------------------------------------------------
    def create_table(
        self, db: DatabaseDef, name: str, tags: list[str], fields: list[tuple[str, str]]
    ) -> TableDef:
        """A table with its tags and typed fields up front (`POST /api/v3/configure/table`).

        `fields` are (name, InfluxDB type name: utf8/int64/uint64/float64/bool). Bad names,
        duplicates or types are InvalidName (400); an existing table is AlreadyExists (409).
        """
        if name in db.tables:
            raise AlreadyExists(f"table '{name}' already exists in database '{db.name}'")
        problem = identifier_problem("table", name)
        if problem:
            raise InvalidName(problem)
        if not tags:
            raise InvalidName("a table needs at least one tag column")
        if len(db.tables) >= self.max_tables:
            raise LimitExceeded(
                f"table '{name}' cannot be created: database '{db.name}' has reached "
                f"the limit of {self.max_tables} tables"
            )
        columns = [ColumnDef(t, "tag") for t in tags]
        for fname, ftype in fields:
            ft = FIELD_TYPE_NAMES.get(ftype) if isinstance(ftype, str) else None
            if ft is None:
                raise InvalidName(
                    f"invalid type {ftype!r} for field '{fname}': use one of {', '.join(FIELD_TYPE_NAMES)}"
                )
            columns.append(ColumnDef(fname, "field", ft))
        seen: set[str] = set()
        for col in columns:
            problem = identifier_problem("column", col.name) if isinstance(col.name, str) else "column name must be a string"
            if problem is None and col.name == "time":
                problem = f"'time' cannot be used as a {col.kind} name"
            if problem is None and col.name in seen:
                problem = f"column '{col.name}' is given twice"
            if problem:
                raise InvalidName(problem)
            seen.add(col.name)
        if len(columns) + 1 > self.max_columns:
            raise LimitExceeded(
                f"table '{name}' would have {len(columns) + 1} columns, over the limit of {self.max_columns}"
            )
        t = TableDef(name)
        for col in columns:
            t.add_column(col)
        t.add_column(ColumnDef("time", "time"))
        db.tables[name] = t
        self.version += 1
        return t

    def delete_table(self, db: DatabaseDef, name: str, through_seq: int) -> TableDef:
        """Forget a table; rows of it up to WAL sequence `through_seq` are dead for good."""
        t = db.tables.pop(name, None)
        if t is None:
            raise TableNotFound(f"table '{name}' not found in database '{db.name}'")
        key = (db.id, name)
        self.deleted_tables[key] = max(through_seq, self.deleted_tables.get(key, -1))
        self.version += 1
        return t

    def table_deleted_through(self, db_id: str, table: str) -> int:
        """The WAL sequence up to which rows of (db, table) were deleted; -1 when never."""
        return self.deleted_tables.get((db_id, table), -1)

    # -- writes ----------------------------------------------------------
    def plan_write(self, db: DatabaseDef, parsed: dict[str, ParsedTable]) -> WritePlan:
        """Check a parsed body against the schema; reject lines, not bodies."""
        errors: list[LineError] = []
        accepted: dict[str, tuple[ParsedTable, list[int] | None]] = {}
        new_tables: list[str] = []
        new_columns: dict[str, list[ColumnDef]] = {}
        table_count = len(db.tables)
        for tname, pt in parsed.items():
            tdef = db.tables.get(tname)
            if tdef is None:
                problem = identifier_problem("table", tname)
                if problem is None and table_count >= self.max_tables:
                    problem = (
                        f"table '{tname}' cannot be created: database '{db.name}' has reached "
                        f"the limit of {self.max_tables} tables"
                    )
                if problem:
                    errors.extend(_reject_all(pt, problem))
                    continue
                table_count += 1
                new_tables.append(tname)
                existing: dict[str, ColumnDef] = {}
            else:
                existing = tdef.columns
            bad_rows: dict[int, str] = {}
            added: list[ColumnDef] = []
            for kind, name, ftype in _columns_of(pt):
                col = existing.get(name)
                if col is None:
                    problem = identifier_problem("column", name)
                    if problem is None and name == "time":
                        problem = f"'time' cannot be used as a {kind} name"
                    if problem is None:
                        added.append(ColumnDef(name, kind, ftype))
                        continue
                    msg = problem
                else:
                    if col.kind == kind and col.field_type == ftype:
                        continue
                    got = ColumnDef(name, kind, ftype).iox_type
                    msg = (
                        f"invalid column type for column '{name}', expected {col.iox_type}, got {got}"
                    )
                for i in pt.value_rows(name):
                    if i not in bad_rows:
                        bad_rows[i] = msg
            total = len(existing) + len(added) + (0 if existing else 1)  # + time
            if added and total > self.max_columns:
                msg = (
                    f"table '{tname}' would have {total} columns, over the limit of {self.max_columns}"
                )
                added_names = {c.name for c in added}
                for kind, name, ftype in _columns_of(pt):
                    if name in added_names:
                        for i in pt.value_rows(name):
                            if i not in bad_rows:
                                bad_rows[i] = msg
                added = []
            if bad_rows:
                for i in sorted(bad_rows):
                    errors.append(LineError(pt.line_numbers[i], "", bad_rows[i]))
                keep = [i for i in range(pt.rows) if i not in bad_rows]
                if not keep:
                    if tname in new_tables:
                        new_tables.remove(tname)
                        table_count -= 1
                    continue
                # Columns only used by rejected rows must not be added.
                kept = set(keep)
                added = [c for c in added if any(i in kept for i in pt.value_rows(c.name))]
                accepted[tname] = (pt, keep)
            else:
                accepted[tname] = (pt, None)
            if added:
                new_columns[tname] = added
        return WritePlan(accepted, errors, new_tables, new_columns)

    def apply_plan(self, db: DatabaseDef, plan: WritePlan) -> None:
        changed = False
        for tname in plan.new_tables:
            if tname in plan.accepted and tname not in db.tables:
                t = TableDef(tname)
                t.add_column(ColumnDef("time", "time"))
                db.tables[tname] = t
                changed = True
        for tname, cols in plan.new_columns.items():
            t = db.tables[tname]
            for c in cols:
                if c.name not in t.columns:
                    t.add_column(c)
                    changed = True
        if changed:
            self.version += 1

    def absorb_schema(self, db: DatabaseDef, table: str, schema: pa.Schema) -> None:
        """Extend the catalog from a WAL batch schema during replay."""
        t = db.tables.get(table)
        if t is None:
            t = db.tables[table] = TableDef(table)
            t.add_column(ColumnDef("time", "time"))
            self.version += 1
        for f in schema:
            if f.name in t.columns:
                continue
            if f.name == "time":
                continue
            if pa.types.is_dictionary(f.type):
                t.add_column(ColumnDef(f.name, "tag"))
            else:
                t.add_column(ColumnDef(f.name, "field", ARROW_FIELD[str(f.type)]))
            self.version += 1


def _columns_of(pt: ParsedTable):
    for name in pt.tags:
        yield "tag", name, None
    for name, (ftype, _) in pt.fields.items():
        yield "field", name, FieldType(ftype)


def _reject_all(pt: ParsedTable, msg: str) -> list[LineError]:
    return [LineError(n, "", msg) for n in pt.line_numbers]
