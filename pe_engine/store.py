"""Control-plane store: one SQLite file (WAL mode) via aiosqlite.

Holds what must survive a restart besides the data itself: the catalog,
Parquet snapshot files and the WAL position they cover. Later migrations add
triggers, plugin versions, cache snapshots and activation history. Writes are
batched: one transaction per save, executemany for rows.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiosqlite

from .lineprotocol.types import FieldType
from .storage.catalog import Catalog, ColumnDef, DatabaseDef, TableDef

# Each entry upgrades the schema by one version (PRAGMA user_version).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE databases (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE columns (
        db_id TEXT NOT NULL, table_name TEXT NOT NULL, name TEXT NOT NULL,
        kind TEXT NOT NULL, field_type INTEGER, position INTEGER NOT NULL,
        PRIMARY KEY (db_id, table_name, name)
    );
    CREATE TABLE parquet_files (
        path TEXT PRIMARY KEY, db_id TEXT NOT NULL, table_name TEXT NOT NULL,
        rows INTEGER NOT NULL, through_seq INTEGER NOT NULL
    );
    """,
]


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.db: aiosqlite.Connection | None = None
        self.saved_catalog_version = -1

    async def open(self) -> None:
        self.db = await aiosqlite.connect(self.path)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=FULL")
        await self._migrate()

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def _migrate(self) -> None:
        assert self.db is not None
        async with self.db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        for i in range(version, len(MIGRATIONS)):
            await self.db.executescript(MIGRATIONS[i])
            await self.db.execute(f"PRAGMA user_version={i + 1}")
            await self.db.commit()

    # -- meta ----------------------------------------------------------------
    async def get_meta(self, key: str, default: Any = None) -> Any:
        assert self.db is not None
        rows = await self.db.execute_fetchall("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    async def set_meta(self, key: str, value: Any) -> None:
        assert self.db is not None
        await self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value)),
        )
        await self.db.commit()

    # -- catalog -------------------------------------------------------------
    async def load_catalog(self, catalog: Catalog) -> None:
        assert self.db is not None
        dbs: dict[str, DatabaseDef] = {}
        for db_id, name, created_at, deleted in await self.db.execute_fetchall(
            "SELECT id, name, created_at, deleted FROM databases"
        ):
            if deleted:
                catalog.deleted_ids.add(db_id)
                continue
            dbs[db_id] = DatabaseDef(name=name, id=db_id, created_at=created_at)
        for db_id, tname, cname, kind, ftype, _pos in await self.db.execute_fetchall(
            "SELECT db_id, table_name, name, kind, field_type, position FROM columns ORDER BY db_id, table_name, position"
        ):
            db = dbs.get(db_id)
            if db is None:
                continue
            t = db.tables.get(tname)
            if t is None:
                t = db.tables[tname] = TableDef(tname)
            t.add_column(ColumnDef(cname, kind, FieldType(ftype) if ftype is not None else None))
        for db in dbs.values():
            catalog.restore_db(db)
        self.saved_catalog_version = catalog.version

    async def save_catalog(self, catalog: Catalog) -> None:
        """Write the whole catalog in one transaction (schema changes are rare)."""
        assert self.db is not None
        version = catalog.version
        if version == self.saved_catalog_version:
            return
        db_rows = [(d.id, d.name, d.created_at, 0) for d in catalog.databases.values()]
        db_rows += [(i, "", 0.0, 1) for i in catalog.deleted_ids]
        col_rows = [
            (d.id, t.name, c.name, c.kind, None if c.field_type is None else int(c.field_type), pos)
            for d in catalog.databases.values()
            for t in d.tables.values()
            for pos, c in enumerate(t.columns.values())
        ]
        await self.db.execute("BEGIN")
        try:
            await self.db.execute("DELETE FROM databases WHERE deleted=0")
            await self.db.executemany(
                "INSERT INTO databases(id, name, created_at, deleted) VALUES(?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET deleted=excluded.deleted",
                db_rows,
            )
            await self.db.execute("DELETE FROM columns")
            await self.db.executemany("INSERT INTO columns VALUES(?,?,?,?,?,?)", col_rows)
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            raise
        self.saved_catalog_version = version

    # -- snapshots -----------------------------------------------------------
    async def record_snapshot(self, through_seq: int, files: list[tuple[str, str, str, int]]) -> None:
        """files: (path, db_id, table, rows). Commits the files and the new WAL floor together."""
        assert self.db is not None
        await self.db.execute("BEGIN")
        try:
            await self.db.executemany(
                "INSERT OR REPLACE INTO parquet_files(path, db_id, table_name, rows, through_seq) VALUES(?,?,?,?,?)",
                [(p, d, t, r, through_seq) for p, d, t, r in files],
            )
            await self.db.execute(
                "INSERT INTO meta(key, value) VALUES('wal_persisted_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (json.dumps(through_seq),),
            )
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            raise

    async def parquet_files(self) -> list[tuple[str, str, str, int]]:
        assert self.db is not None
        rows = await self.db.execute_fetchall(
            "SELECT path, db_id, table_name, rows FROM parquet_files ORDER BY through_seq, path"
        )
        return [tuple(r) for r in rows]

    async def forget_parquet(self, db_id: str) -> None:
        assert self.db is not None
        await self.db.execute("DELETE FROM parquet_files WHERE db_id=?", (db_id,))
        await self.db.commit()
