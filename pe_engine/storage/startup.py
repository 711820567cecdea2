"""What start-up found wrong, and the Parquet files no catalog row speaks for (DESIGN §9).

`StartupProblems` is the one list of everything start-up had to report: each entry is logged
(ERROR or WARN) when it is added and shown by `SELECT * FROM system.startup_problems` (any
database) until the next start. Columns: `time`, `level`, `kind`, `path`, `detail`. Kinds:

- `catalog_missing`, `catalog_corrupt`, `catalog_rebuilt`, `catalog_stale`, `state_lost`: the
  control-plane store (pe.sqlite) was absent or unusable, or may have lost recent commits;
- `wal_gap`, `wal_unreadable`, `wal_corrupt`: WAL records that could not be replayed;
- `parquet_missing`, `parquet_unreadable`: a recorded file that is gone or cannot be read (left
  out of queries, kept in the catalog so it comes back if the file does);
- `parquet_recovered`, `parquet_set_aside`, `parquet_tmp_removed`, `parquet_legacy`: files the
  catalog did not know (see `reconcile_parquet`).

`reconcile_parquet` decides, for every `.parquet` under the data directory that the store does
not list, one of two things — nothing is deleted:

- **recovered**: registered in the store and served, when its rows are not available any other
  way (the WAL that produced them is gone, so no replay re-creates them);
- **set aside** to `<data>/parquet/_orphaned/<same relative path>` with an ERROR, when its rows
  are already served: covered by recorded files (an interrupted compaction's output or input),
  or re-created by this start's WAL replay (a snapshot that crashed before its record: its WAL
  segments are still there). Recovering those too would store every row twice; queries
  deduplicate, but the space would be spent for nothing.

A file whose seq range is only partly in the replayed WAL (a compacted file spanning the point
where the WAL starts, seen only when pe.sqlite was lost) is recovered: some of its rows are
then served twice, which query-time dedup (one point per series and time) makes harmless.
`.parquet.tmp` files were never acknowledged as persisted and are removed, with a WARN naming
each.
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .buffer import BufferStore
from .catalog import Catalog, DatabaseDef
from .parquet_meta import UNKNOWN_RANGE, FileMeta, FileRecord, read_file_meta
from .wal import ReplayReport

_log = logging.getLogger("pe.engine")

ORPHANED_DIR = "_orphaned"
SQLITE_HEADER = b"SQLite format 3\x00"
_LEGACY_NAME = re.compile(r"^(\d{20})\.parquet$")  # <through seq>.parquet, before file metadata
_SEQ_NAME = re.compile(r"^(\d{20})-(\d{20})-[0-9a-f]+\.parquet$")  # <min seq>-<max seq>-<id>.parquet


@dataclass(frozen=True)
class StartupProblem:
    time_ns: int
    level: str  # "ERROR" | "WARN"
    kind: str
    path: str
    detail: str


class StartupProblems:
    """Thread-safe list of start-up problems; `table` is the `system.startup_problems` provider."""

    SCHEMA = pa.schema([
        pa.field("time", pa.timestamp("ns"), nullable=False),
        pa.field("level", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("path", pa.string()),
        pa.field("detail", pa.string()),
    ])

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[StartupProblem] = []

    def add(self, level: str, kind: str, path: str | Path, detail: str, *, log: bool = True) -> None:
        """Record a problem; `log=False` when the caller logged it already."""
        p = StartupProblem(time.time_ns(), level, kind, str(path), detail)
        with self._lock:
            self._items.append(p)
        if log:
            self._log(level, kind, str(path), detail)

    @staticmethod
    def _log(level: str, kind: str, path: str, detail: str) -> None:
        (_log.error if level == "ERROR" else _log.warning)("start-up: %s: %s%s", kind, f"{path}: " if path else "", detail)

    @property
    def items(self) -> list[StartupProblem]:
        with self._lock:
            return list(self._items)

    def kinds(self) -> list[str]:
        return [p.kind for p in self.items]

    def table(self, db: str) -> pa.Table:
        items = self.items
        return pa.table({
            "time": pa.array([p.time_ns for p in items], pa.timestamp("ns")),
            "level": [p.level for p in items],
            "kind": [p.kind for p in items],
            "path": [p.path for p in items],
            "detail": [p.detail for p in items],
        }, schema=self.SCHEMA)


# ------------------------------------------------------------------ the store file


def store_file_problem(path: Path) -> str | None:
    """Why the SQLite file at `path` cannot be trusted (bad header, integrity check), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if len(head) == 0 and path.stat().st_size == 0:
        return None  # SQLite treats an empty file as a new database
    if head != SQLITE_HEADER:
        return f"not an SQLite database (header {head[:16]!r})"
    try:
        con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=10)
        try:
            result = [r[0] for r in con.execute("PRAGMA integrity_check(20)")]
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"SQLite cannot open it: {exc}"
    if result != ["ok"]:
        return "PRAGMA integrity_check: " + "; ".join(str(r) for r in result)
    return None


def set_aside_store(path: Path) -> Path:
    """Rename a bad store file (and its -wal/-shm) to `<name>.corrupt-<UTC time>`; never delete."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 0
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, dest)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, dest.with_name(dest.name + suffix))
    return dest


# ------------------------------------------------------------------ Parquet files


def check_recorded(fs: pafs.FileSystem, records: list[FileRecord], problems: StartupProblems) -> list[FileRecord]:
    """The recorded files that exist and whose footer reads; the others are reported."""
    ok = []
    for r in records:
        try:
            info = fs.get_file_info(r.path)
            if info.type == pafs.FileType.NotFound:
                problems.add("ERROR", "parquet_missing", r.path,
                             f"recorded file of table {r.table!r} ({r.rows} rows, WAL seq {r.min_seq}..{r.max_seq}) "
                             "is missing; its rows are not served (kept in the catalog in case it comes back)")
                continue
            with fs.open_input_file(r.path) as f:
                pq.read_metadata(f)
        except (OSError, pa.ArrowException) as exc:
            problems.add("ERROR", "parquet_unreadable", r.path,
                         f"recorded file of table {r.table!r} ({r.rows} rows) cannot be read: {exc}; "
                         "its rows are not served, the file is left where it is")
            continue
        ok.append(r)
    return ok


@dataclass
class Candidate:
    """A file on disk that no store row lists."""

    path: str
    meta: FileMeta | None  # None: a file written before files carried metadata
    schema: pa.Schema | None
    rows: int
    size: int
    db_id: str
    table: str
    partition: str | None
    min_seq: int
    max_seq: int

    def record(self) -> FileRecord:
        if self.meta is not None:
            return FileRecord.of(self.path, self.meta, self.size)
        return FileRecord(self.path, self.db_id, self.table, self.partition, self.rows, *UNKNOWN_RANGE,
                          self.min_seq, self.max_seq, self.size)


@dataclass
class Reconciled:
    recovered: list[Candidate] = field(default_factory=list)
    set_aside: list[tuple[str, str, str]] = field(default_factory=list)  # (path, new path, why)
    tmp_removed: list[str] = field(default_factory=list)


def _read_candidate(fs: pafs.FileSystem, root: str, path: str, problems: StartupProblems) -> Candidate | None | str:
    """A candidate, or a reason (str) it cannot be used."""
    rel = path[len(root) + 1:].split("/")
    try:
        meta = read_file_meta(fs, path)
        with fs.open_input_file(path) as f:
            md = pq.read_metadata(f)
        size = fs.get_file_info(path).size or 0
    except (OSError, pa.ArrowException, ValueError) as exc:
        return f"cannot be read: {exc}"
    if meta is not None:
        return Candidate(path, meta, None, meta.rows, size, meta.db_id, meta.table, meta.partition,
                         meta.min_seq, meta.max_seq)
    # No pe metadata: what its path and schema tell. <db id>/<table>[/<partition>]/<name>.parquet
    if len(rel) not in (3, 4):
        return "no pe metadata and not where pe puts files"
    db_id, table = rel[0], urllib.parse.unquote(rel[1])
    partition = rel[2] if len(rel) == 4 else None
    name = rel[-1]
    m, s = _LEGACY_NAME.match(name), _SEQ_NAME.match(name)
    if m:
        lo = hi = int(m.group(1))
    elif s:
        lo, hi = int(s.group(1)), int(s.group(2))
    else:
        return "no pe metadata and no WAL sequence in its name"
    try:
        schema = md.schema.to_arrow_schema()
    except (pa.ArrowException, ValueError) as exc:
        return f"no pe metadata and an unreadable schema: {exc}"
    return Candidate(path, None, schema, md.num_rows, size, db_id, table, partition, lo, hi)


def _move_aside(root: str, path: str) -> str:
    rel = path[len(root) + 1:]
    dest = f"{root}/{ORPHANED_DIR}/{rel}"
    base, n = dest, 0
    while os.path.exists(dest):
        n += 1
        dest = f"{base}.{n}"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.replace(path, dest)
    return dest


def reconcile_parquet(
    fs: pafs.FileSystem,
    root: Path,
    known: list[FileRecord],
    persisted: int,
    wal: ReplayReport,
    deleted_db_ids: set[str],
    problems: StartupProblems,
    deleted_tables: dict[tuple[str, str], int] | None = None,
) -> Reconciled:
    """Thread: recover or set aside every Parquet file the store does not list (module doc)."""
    out = Reconciled()
    root_s = str(root)
    known_paths = {r.path for r in known}
    unknown: list[str] = []
    tmp: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root_s):
        if dirpath == root_s and ORPHANED_DIR in dirnames:
            dirnames.remove(ORPHANED_DIR)
        for fn in filenames:
            p = f"{dirpath}/{fn}"
            if fn.endswith(".parquet.tmp"):
                tmp.append(p)
            elif fn.endswith(".parquet") and p not in known_paths:
                unknown.append(p)
    for p in sorted(tmp):
        try:
            os.unlink(p)
        except OSError as exc:
            problems.add("WARN", "parquet_tmp_removed", p, f"could not remove: {exc}")
            continue
        out.tmp_removed.append(p)
        problems.add("WARN", "parquet_tmp_removed", p, "half-written snapshot file (never acknowledged); removed")

    cands: list[Candidate] = []
    for p in sorted(unknown):
        c = _read_candidate(fs, root_s, p, problems)
        if isinstance(c, str):
            dest = _move_aside(root_s, p)
            out.set_aside.append((p, dest, c))
            problems.add("ERROR", "parquet_set_aside", p, f"{c}; moved to {dest}")
        elif c is not None:
            cands.append(c)
    # Legacy files know only their last seq; their first is the previous snapshot's cut + 1.
    cuts = sorted({r.max_seq for r in known} | {c.max_seq for c in cands})
    for c in cands:
        if c.meta is None and c.min_seq == c.max_seq:
            earlier = [s for s in cuts if s < c.max_seq]
            c.min_seq = (earlier[-1] if earlier else 0) + 1

    served: dict[tuple[str, str, str | None], list[tuple[int, int]]] = {}
    for r in known:
        served.setdefault((r.db_id, r.table, r.partition), []).append((r.min_seq, r.max_seq))
    # Widest ranges first: a compacted file is taken before the files it replaced.
    for c in sorted(cands, key=lambda c: (c.min_seq - c.max_seq, c.min_seq, c.path)):
        key = (c.db_id, c.table, c.partition)
        have = served.get(key, [])
        inside = [(lo, hi) for lo, hi in have if c.min_seq <= lo and hi <= c.max_seq]
        why = None
        if c.db_id in deleted_db_ids:
            why = "its database was deleted"
        elif (deleted_tables or {}).get((c.db_id, c.table), -1) >= c.max_seq:
            why = "its table was deleted after these rows were written"
        elif any(lo <= c.min_seq and c.max_seq <= hi for lo, hi in have):
            why = "its WAL range is already covered by a recorded file (left over from a compaction)"
        elif inside and min(lo for lo, _ in inside) == c.min_seq and max(hi for _, hi in inside) == c.max_seq:
            why = "it merges recorded files that are still served (a compaction interrupted before its swap)"
        elif c.min_seq > persisted and wal.covers(c.min_seq, c.max_seq):
            why = (f"its rows (WAL seq {c.min_seq}..{c.max_seq}) were replayed from the WAL "
                   "(a snapshot interrupted before it was recorded)")
        if why is not None:
            dest = _move_aside(root_s, c.path)
            out.set_aside.append((c.path, dest, why))
            problems.add("ERROR", "parquet_set_aside", c.path, f"not in the catalog and {why}; moved to {dest}")
            continue
        served.setdefault(key, []).append((c.min_seq, c.max_seq))
        out.recovered.append(c)
        overlap = c.max_seq > persisted and wal.log_first_seq is not None and c.max_seq >= wal.log_first_seq
        problems.add("ERROR", "parquet_recovered", c.path,
                     f"not in the catalog; recovered: {c.rows} rows of table {c.table!r}, WAL seq "
                     f"{c.min_seq}..{c.max_seq}"
                     + ("" if c.meta is not None else " (no pe metadata: database id, table and columns "
                        "taken from its path and schema)")
                     + ("; part of its rows were also replayed from the WAL (deduplicated in queries)"
                        if overlap else ""))
    return out


def adopt_recovered(catalog: Catalog, buffers: BufferStore, recovered: list[Candidate],
                    problems: StartupProblems) -> list[FileRecord]:
    """Loop: databases, tables and columns of recovered files into the catalog, the files into the
    buffers. Returns the records to write to the store."""
    by_id = {db.id: db for db in catalog.databases.values()}
    out = []
    for c in recovered:
        db = by_id.get(c.db_id)
        if db is None:
            name = c.meta.db_name if c.meta is not None else f"recovered_{c.db_id[:12]}"
            if name in catalog.databases:  # the name now belongs to another database
                name = f"{name}_recovered_{c.db_id[:8]}"
            db = DatabaseDef(name=name, id=c.db_id)
            catalog.restore_db(db)
            catalog.version += 1
            by_id[c.db_id] = db
            if c.meta is None:
                problems.add("WARN", "parquet_legacy", c.path,
                             f"database id {c.db_id} has no name on record; recovered as {name!r}")
        schema = c.meta.table_def().arrow_schema if c.meta is not None else c.schema
        assert schema is not None
        try:
            catalog.absorb_schema(db, c.table, schema)
        except (KeyError, ValueError) as exc:
            problems.add("ERROR", "parquet_unreadable", c.path, f"columns not understood ({exc}); not served")
            continue
        rec = c.record()
        buffers.table(db.name, c.table).add_parquet(rec)
        out.append(rec)
    return out
