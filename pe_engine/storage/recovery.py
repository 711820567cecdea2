"""Start-up recovery: what was persisted comes back before the engine serves anything.

Parquet files the store recorded go back into the buffers; the WAL after the persisted
sequence is replayed into them (a torn tail is repaired by the WAL itself). Replayed rows
rebuild schemas but never reach flush subscribers, so they do not re-fire triggers.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from .buffer import BufferStore, legacy_record
from .catalog import Catalog, DatabaseDef
from .parquet_meta import FileRecord
from .persist import db_by_id
from .wal import ReplayReport, Wal

log = logging.getLogger("pe.engine")


def register_parquet(
    catalog: Catalog, buffers: BufferStore, files: Iterable[FileRecord | tuple[str, str, str, int]]
) -> set[str]:
    """Recorded files (`FileRecord`s, or legacy (path, db_id, table, rows)) into the buffers;
    returns the paths kept."""
    known = set()
    for f in files:
        rec = f if isinstance(f, FileRecord) else legacy_record(f[0], f[3], f[1], f[2])
        db = db_by_id(catalog, rec.db_id)
        if db is None:
            continue
        known.add(rec.path)
        buffers.table(db.name, rec.table).add_parquet(rec)
    return known


def table_floors(files: Iterable[FileRecord]) -> dict[tuple[str, str], int]:
    """(db id, table) -> the highest WAL seq its recorded files hold. A snapshot records a table's
    files all or none, so every row of that table up to there is in a file (a snapshot whose
    other tables failed records these above the store's WAL floor)."""
    out: dict[tuple[str, str], int] = {}
    for f in files:
        key = (f.db_id, f.table)
        out[key] = max(out.get(key, 0), f.max_seq)
    return out


def replay_wal(
    catalog: Catalog, buffers: BufferStore, wal: Wal, persisted: int,
    floors: dict[tuple[str, str], int] | None = None,
) -> ReplayReport:
    """WAL thread: records after `persisted` into the buffers, then open the WAL for appends.
    `floors` (`table_floors`): a table's rows already in its recorded files are not replayed."""
    floors = floors or {}
    for rec in wal.replay(after_seq=persisted):
        for e in rec.entries:
            if e.db_id in catalog.deleted_ids:
                continue
            if rec.seq <= floors.get((e.db_id, e.table), 0):
                continue  # persisted by a snapshot whose other tables failed
            if rec.seq <= catalog.table_deleted_through(e.db_id, e.table):
                continue  # rows of a table deleted after this record
            db = db_by_id(catalog, e.db_id)
            if db is None:
                if e.db_name in catalog.databases:
                    log.warning("WAL entry for %s has an unknown database id; skipped", e.db_name)
                    continue
                db = DatabaseDef(name=e.db_name, id=e.db_id)
                catalog.restore_db(db)
                catalog.version += 1
            catalog.absorb_schema(db, e.table, e.batch.schema)
            buffers.table(db.name, e.table).append(e.batch, rec.seq)
    wal.open_for_append()
    return wal.report
