"""Control-plane store: one SQLite file (WAL mode) via aiosqlite.

Holds what must survive a restart besides the data itself: the catalog,
Parquet snapshot files and the WAL position they cover. Later migrations add
triggers, plugin versions, cache snapshots and activation history. Writes are
batched: one transaction per save, executemany for rows.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import aiosqlite

from .lineprotocol.types import FieldType
from .storage.catalog import Catalog, ColumnDef, DatabaseDef, TableDef
from .storage.parquet_meta import UNKNOWN_RANGE, FileRecord

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
    """
    CREATE TABLE triggers (
        database TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
        PRIMARY KEY (database, name)
    );
    CREATE TABLE schedule_state (
        database TEXT NOT NULL, name TEXT NOT NULL, last_fired_ns INTEGER NOT NULL,
        PRIMARY KEY (database, name)
    );
    CREATE TABLE plugin_versions (
        filename TEXT NOT NULL, content_hash TEXT NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (filename, content_hash)
    );
    CREATE TABLE cache_entries (
        namespace TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, codec TEXT NOT NULL,
        expires_at REAL, PRIMARY KEY (namespace, key)
    );
    CREATE TABLE activations (
        id INTEGER PRIMARY KEY AUTOINCREMENT, database TEXT NOT NULL, trigger TEXT NOT NULL,
        started_at REAL NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL
    );
    CREATE INDEX activations_by_trigger ON activations(database, trigger, id);
    CREATE TABLE logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL, database TEXT NOT NULL,
        trigger TEXT NOT NULL, level TEXT NOT NULL, text TEXT NOT NULL
    );
    """,
    # 3: last/distinct value cache definitions (storage/caches/); kind is "last" or "distinct"
    """
    CREATE TABLE value_caches (
        kind TEXT NOT NULL, database TEXT NOT NULL, table_name TEXT NOT NULL, name TEXT NOT NULL,
        definition TEXT NOT NULL, PRIMARY KEY (kind, database, table_name, name)
    );
    """,
    # 4: Parquet files per table and time partition (storage/parquet_meta.py); NULL partition =
    # a file from before partitioning, its time range read once from the file at start.
    """
    ALTER TABLE parquet_files ADD COLUMN partition TEXT;
    ALTER TABLE parquet_files ADD COLUMN min_time INTEGER;
    ALTER TABLE parquet_files ADD COLUMN max_time INTEGER;
    ALTER TABLE parquet_files ADD COLUMN min_seq INTEGER;
    ALTER TABLE parquet_files ADD COLUMN max_seq INTEGER;
    ALTER TABLE parquet_files ADD COLUMN bytes INTEGER;
    UPDATE parquet_files SET min_seq = through_seq, max_seq = through_seq;
    CREATE INDEX parquet_files_by_partition ON parquet_files(db_id, table_name, partition);
    """,
    # 5: a database's retention period (NULL: never expires, storage/retention.py) and table
    # tombstones: rows of (db_id, table) up to WAL seq through_seq were deleted for good.
    """
    ALTER TABLE databases ADD COLUMN retention_period_ns INTEGER;
    CREATE TABLE deleted_tables (
        db_id TEXT NOT NULL, table_name TEXT NOT NULL, through_seq INTEGER NOT NULL,
        PRIMARY KEY (db_id, table_name)
    );
    """,
]


STORE_FILE_MODE = 0o600
STORE_FILE_SUFFIXES = ("", "-wal", "-shm")


def _keep_private(path: Path) -> None:
    """The store holds trigger arguments (often API keys): owner-only, whatever the umask, and
    also for a file an older version left 0644. An empty file is a valid new SQLite database,
    so creating it here first means it never exists with looser bits."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, STORE_FILE_MODE))
    for suffix in STORE_FILE_SUFFIXES:
        try:
            os.chmod(f"{path}{suffix}", STORE_FILE_MODE)
        except FileNotFoundError:
            pass


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.db: aiosqlite.Connection | None = None
        self.saved_catalog_version = -1
        self._tx_lock = asyncio.Lock()

    async def open(self) -> None:
        _keep_private(self.path)
        self.db = await aiosqlite.connect(self.path, isolation_level=None)  # we BEGIN explicitly
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=FULL")
        _keep_private(self.path)  # the -wal and -shm exist now
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
            # One script, one transaction: a crash mid-migration leaves the old version intact.
            await self.db.executescript(f"BEGIN;\n{MIGRATIONS[i]}\nPRAGMA user_version={i + 1};\nCOMMIT;")

    # -- meta ----------------------------------------------------------------
    async def get_meta(self, key: str, default: Any = None) -> Any:
        assert self.db is not None
        rows = await self.db.execute_fetchall("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    async def set_meta(self, key: str, value: Any) -> None:
        assert self.db is not None
        await self._tx([(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value)),
        )])

    # -- catalog -------------------------------------------------------------
    async def load_catalog(self, catalog: Catalog) -> None:
        assert self.db is not None
        dbs: dict[str, DatabaseDef] = {}
        for db_id, name, created_at, deleted, retention in await self.db.execute_fetchall(
            "SELECT id, name, created_at, deleted, retention_period_ns FROM databases"
        ):
            if deleted:
                catalog.deleted_ids.add(db_id)
                continue
            dbs[db_id] = DatabaseDef(name=name, id=db_id, created_at=created_at, retention_period_ns=retention)
        for db_id, tname, through in await self.db.execute_fetchall(
            "SELECT db_id, table_name, through_seq FROM deleted_tables"
        ):
            catalog.deleted_tables[(db_id, tname)] = int(through)
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
        await self._tx(self._catalog_statements(catalog))
        self.saved_catalog_version = version

    async def delete_database(self, catalog: Catalog, db_id: str, name: str) -> None:
        """A deleted database, durably, in one transaction: the catalog with its tombstone, its
        Parquet file rows, and its triggers with their schedule state. Either all of it is gone
        after a restart or none of it is (Engine.delete_database)."""
        assert self.db is not None
        version = catalog.version
        await self._tx([
            *self._catalog_statements(catalog),
            ("DELETE FROM parquet_files WHERE db_id=?", (db_id,)),
            ("DELETE FROM triggers WHERE database=?", (name,)),
            ("DELETE FROM schedule_state WHERE database=?", (name,)),
        ])
        self.saved_catalog_version = version

    @staticmethod
    def _catalog_statements(catalog: Catalog) -> list[tuple[str, list[tuple] | tuple]]:
        db_rows = [(d.id, d.name, d.created_at, 0, d.retention_period_ns) for d in catalog.databases.values()]
        db_rows += [(i, "", 0.0, 1, None) for i in catalog.deleted_ids]
        tombstones = [(d, t, seq) for (d, t), seq in catalog.deleted_tables.items()]
        col_rows = [
            (d.id, t.name, c.name, c.kind, None if c.field_type is None else int(c.field_type), pos)
            for d in catalog.databases.values()
            for t in d.tables.values()
            for pos, c in enumerate(t.columns.values())
        ]
        return [
            ("DELETE FROM databases WHERE deleted=0", ()),
            (
                "INSERT INTO databases(id, name, created_at, deleted, retention_period_ns) VALUES(?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET deleted=excluded.deleted",
                db_rows,
            ),
            ("DELETE FROM columns", ()),
            ("INSERT INTO columns VALUES(?,?,?,?,?,?)", col_rows),
            (
                "INSERT INTO deleted_tables(db_id, table_name, through_seq) VALUES(?,?,?) "
                "ON CONFLICT(db_id, table_name) DO UPDATE SET through_seq=max(through_seq, excluded.through_seq)",
                tombstones,
            ),
            # Files of a deleted table go with its tombstone, in the same transaction.
            (
                "DELETE FROM parquet_files WHERE EXISTS (SELECT 1 FROM deleted_tables d WHERE "
                "d.db_id=parquet_files.db_id AND d.table_name=parquet_files.table_name "
                "AND parquet_files.through_seq <= d.through_seq)",
                (),
            ),
        ]

    # -- snapshots -----------------------------------------------------------
    async def record_snapshot(self, through_seq: int, files: list[FileRecord]) -> None:
        """Commits the snapshot's files and the new WAL floor together."""
        await self._tx([
            (_INSERT_FILE, [_file_row(f, through_seq) for f in files]),
            (
                "INSERT INTO meta(key, value) VALUES('wal_persisted_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (json.dumps(through_seq),),
            ),
        ])

    async def replace_files(self, old: list[str], new: list[FileRecord]) -> None:
        """Compaction's swap: the new files in, the old ones out, one transaction."""
        await self._tx([
            ("DELETE FROM parquet_files WHERE path=?", [(p,) for p in old]),
            (_INSERT_FILE, [_file_row(f, f.max_seq) for f in new]),
        ])

    async def update_files(self, files: list[FileRecord]) -> None:
        """Rewrite the rows of files already listed (a legacy file's time range, read once)."""
        await self._tx([(_INSERT_FILE, [_file_row(f, f.max_seq) for f in files])])

    async def parquet_files(self) -> list[tuple[str, str, str, int]]:
        """(path, db_id, table, rows), oldest first (kept for callers that need no more)."""
        return [(f.path, f.db_id, f.table, f.rows) for f in await self.parquet_file_records()]

    async def parquet_file_records(self) -> list[FileRecord]:
        """Every recorded file, oldest WAL range first."""
        assert self.db is not None
        rows = await self.db.execute_fetchall(
            "SELECT path, db_id, table_name, partition, rows, min_time, max_time, min_seq, max_seq, bytes, "
            "through_seq FROM parquet_files ORDER BY max_seq, path"
        )
        out = []
        for path, db_id, table, part, n, tmin, tmax, smin, smax, size, through in rows:
            lo, hi = (tmin, tmax) if tmin is not None and tmax is not None else UNKNOWN_RANGE
            out.append(FileRecord(
                path, db_id, table, part, n, lo, hi,
                through if smin is None else smin, through if smax is None else smax, size or 0,
            ))
        return out

    async def forget_parquet(self, db_id: str) -> None:
        await self._tx([("DELETE FROM parquet_files WHERE db_id=?", (db_id,))])

    async def forget_files(self, paths: list[str]) -> None:
        """File rows removed in one transaction (expired files, storage/retention.py)."""
        if paths:
            await self._tx([("DELETE FROM parquet_files WHERE path=?", [(p,) for p in paths])])

    # -- processing engine ---------------------------------------------------
    async def _tx(self, statements: list[tuple[str, list[tuple] | tuple]]) -> None:
        """Run statements in one transaction; a list of tuples means executemany."""
        assert self.db is not None
        async with self._tx_lock:  # one connection: transactions from different tasks must not interleave
            task = asyncio.ensure_future(self._tx_locked(statements))
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                # Let the transaction commit or roll back before anyone else uses the connection.
                await asyncio.wait([task])
                raise

    async def _tx_locked(self, statements: list) -> None:
        assert self.db is not None
        try:
            await self.db.execute("BEGIN")
            for sql, params in statements:
                if isinstance(params, list):
                    await self.db.executemany(sql, params)
                else:
                    await self.db.execute(sql, params)
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            raise

    async def save_trigger(self, database: str, name: str, definition: dict) -> None:
        await self._tx([(
            "INSERT INTO triggers(database, name, definition) VALUES(?,?,?) "
            "ON CONFLICT(database, name) DO UPDATE SET definition=excluded.definition",
            (database, name, json.dumps(definition)),
        )])

    async def delete_trigger(self, database: str, name: str) -> None:
        await self._tx([
            ("DELETE FROM triggers WHERE database=? AND name=?", (database, name)),
            ("DELETE FROM schedule_state WHERE database=? AND name=?", (database, name)),
        ])

    async def load_triggers(self) -> list[dict]:
        assert self.db is not None
        rows = await self.db.execute_fetchall("SELECT definition FROM triggers ORDER BY database, name")
        return [json.loads(r[0]) for r in rows]

    async def save_schedule_state(self, rows: list[tuple[str, str, int]]) -> None:
        if rows:
            await self._tx([(
                "INSERT INTO schedule_state(database, name, last_fired_ns) VALUES(?,?,?) "
                "ON CONFLICT(database, name) DO UPDATE SET last_fired_ns=excluded.last_fired_ns",
                rows,
            )])

    async def load_schedule_state(self) -> dict[tuple[str, str], int]:
        assert self.db is not None
        rows = await self.db.execute_fetchall("SELECT database, name, last_fired_ns FROM schedule_state")
        return {(d, n): int(t) for d, n, t in rows}

    async def save_plugin_versions(self, rows: list[tuple[str, str, dict]]) -> None:
        if rows:
            await self._tx([(
                "INSERT OR REPLACE INTO plugin_versions(filename, content_hash, state) VALUES(?,?,?)",
                [(f, h, json.dumps(st)) for f, h, st in rows],
            )])

    async def load_plugin_versions(self) -> list[dict]:
        assert self.db is not None
        rows = await self.db.execute_fetchall("SELECT state FROM plugin_versions")
        return [json.loads(r[0]) for r in rows]

    async def replace_cache_snapshot(self, rows: list[tuple[str, str, bytes, str, float | None]]) -> None:
        await self._tx([
            ("DELETE FROM cache_entries", ()),
            ("INSERT INTO cache_entries(namespace, key, value, codec, expires_at) VALUES(?,?,?,?,?)", rows),
        ])

    async def load_cache_snapshot(self) -> list[tuple[str, str, bytes, str, float | None]]:
        assert self.db is not None
        rows = await self.db.execute_fetchall("SELECT namespace, key, value, codec, expires_at FROM cache_entries")
        return [tuple(r) for r in rows]

    async def append_history(
        self, activations: list[tuple[str, str, float, str, str]], logs: list[tuple[int, str, str, str, str]],
        keep_activations: int = 100_000, keep_logs: int = 100_000,
    ) -> None:
        stmts: list = []
        if activations:
            stmts.append((
                "INSERT INTO activations(database, trigger, started_at, status, record) VALUES(?,?,?,?,?)",
                activations,
            ))
            stmts.append((
                "DELETE FROM activations WHERE id <= (SELECT max(id) FROM activations) - ?", (keep_activations,)
            ))
        if logs:
            stmts.append(("INSERT INTO logs(time_ns, database, trigger, level, text) VALUES(?,?,?,?,?)", logs))
            stmts.append(("DELETE FROM logs WHERE id <= (SELECT max(id) FROM logs) - ?", (keep_logs,)))
        if stmts:
            await self._tx(stmts)

    async def recent_logs(self, limit: int) -> list[tuple[int, str, str, str, str]]:
        assert self.db is not None
        rows = await self.db.execute_fetchall(
            "SELECT time_ns, database, trigger, level, text FROM logs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [tuple(r) for r in reversed(rows)]

    async def recent_activations(self, limit: int) -> list[dict]:
        assert self.db is not None
        rows = await self.db.execute_fetchall(
            "SELECT record FROM activations ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [json.loads(r[0]) for r in reversed(rows)]

    # -- value caches (last/distinct) ------------------------------------------
    async def save_value_cache(self, kind: str, definition: dict) -> None:
        await self._tx([(
            "INSERT INTO value_caches(kind, database, table_name, name, definition) VALUES(?,?,?,?,?) "
            "ON CONFLICT(kind, database, table_name, name) DO UPDATE SET definition=excluded.definition",
            (kind, definition["db"], definition["table"], definition["name"], json.dumps(definition)),
        )])

    async def delete_value_cache(self, kind: str, database: str, table: str, name: str) -> None:
        await self._tx([(
            "DELETE FROM value_caches WHERE kind=? AND database=? AND table_name=? AND name=?",
            (kind, database, table, name),
        )])

    async def load_value_caches(self) -> list[tuple[str, dict]]:
        assert self.db is not None
        rows = await self.db.execute_fetchall(
            "SELECT kind, definition FROM value_caches ORDER BY kind, database, table_name, name"
        )
        return [(k, json.loads(d)) for k, d in rows]


_INSERT_FILE = (
    "INSERT OR REPLACE INTO parquet_files(path, db_id, table_name, rows, through_seq, partition, "
    "min_time, max_time, min_seq, max_seq, bytes) VALUES(?,?,?,?,?,?,?,?,?,?,?)"
)


def _file_row(f: FileRecord, through_seq: int) -> tuple:
    lo, hi = (f.min_time, f.max_time) if f.known_range else (None, None)
    return (f.path, f.db_id, f.table, f.rows, through_seq, f.partition, lo, hi, f.min_seq, f.max_seq, f.bytes)
