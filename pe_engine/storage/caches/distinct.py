"""Distinct Values Cache (DVC): the distinct value combinations of an ordered list of columns.

Semantics follow InfluxDB 3 (reference §8.2):

- columns are tags or string fields, in a hierarchy (the first column is the top level); a row
  lacking any of them is not cached.
- every combination remembers the newest *data timestamp* it was seen with; combinations last seen
  more than `max_age` (default 24 h) before now are pruned, and when there are more than
  `max_cardinality` (default 100,000) combinations the oldest are pruned (like InfluxDB: every
  combination seen at or before the cut-off time goes).
- output: one Utf8 column per cache column, sorted. A query that uses only the first k columns
  (a simple `SELECT a FROM distinct_cache(...)`) gets the distinct values of that prefix, as
  InfluxDB's projection does; see sql_pushdown.py for how the SQL is read.

A WAL flush is reduced with one `group_by(...).max(time)` and merged into a dict with one
Python step per distinct combination in the batch. Reads use a sorted Arrow copy built once per
cache version.

Restart: refilled from the table with `SELECT cols, max(time) ... WHERE time > now - max_age
GROUP BY cols` (memory buffers and Parquet), so nothing older than `max_age` is read.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ...errors import BadRequest
from ...lineprotocol.types import FieldType
from ..catalog import TableDef
from .arrow_ops import arange, column_ids, composite_key, contiguous, group_ids, plain
from .base import CacheItem, CacheKind, CacheSummary, RefillQuery, ValueCache, quote_ident
from .options import NS, names_list, positive_int, seconds

DEFAULT_MAX_CARDINALITY = 100_000
DEFAULT_MAX_AGE = 24 * 60 * 60  # seconds


@dataclass
class DistinctCacheDef:
    db: str
    table: str
    name: str
    columns: list[str]
    max_cardinality: int = DEFAULT_MAX_CARDINALITY
    max_age: int = DEFAULT_MAX_AGE  # seconds
    db_id: str = ""
    kind: ClassVar[CacheKind] = CacheKind.DISTINCT

    def to_json(self) -> dict:
        return {
            "db": self.db, "db_id": self.db_id, "table": self.table, "name": self.name,
            "columns": list(self.columns), "max_cardinality": self.max_cardinality, "max_age": self.max_age,
        }

    @classmethod
    def from_json(cls, d: dict) -> "DistinctCacheDef":
        return cls(
            db=d["db"], db_id=d.get("db_id", ""), table=d["table"], name=d["name"], columns=list(d["columns"]),
            max_cardinality=int(d.get("max_cardinality", DEFAULT_MAX_CARDINALITY)),
            max_age=int(d.get("max_age", DEFAULT_MAX_AGE)),
        )

    def created_response(self, tdef: TableDef) -> dict:
        """InfluxDB 3's DistinctCacheCreatedResponse (ids are catalog positions), plus the names."""
        ids = column_ids(tdef)
        return {
            "table_id": 0, "table_name": self.table, "cache_name": self.name,
            "column_ids": [ids[c] for c in self.columns if c in ids],
            "max_cardinality": self.max_cardinality, "max_age_seconds": self.max_age,
            "column_names": list(self.columns),
        }


def default_distinct_cache_name(table: str, columns: list[str]) -> str:
    return "_".join([table, *columns, "distinct_cache"])


def define_distinct_cache(
    db: str,
    tdef: TableDef,
    *,
    name: str | None = None,
    columns: Any = None,
    max_cardinality: Any = None,
    max_age: Any = None,
    db_id: str = "",
) -> DistinctCacheDef:
    cols = names_list(columns, "columns")
    if not cols:
        raise BadRequest("columns: give at least one tag or string field column")
    for c in cols:
        col = tdef.columns.get(c)
        if col is None:
            raise BadRequest(f"column '{c}' does not exist in table '{tdef.name}'")
        if not (col.kind == "tag" or (col.kind == "field" and col.field_type == FieldType.STRING)):
            raise BadRequest(
                f"cannot use column '{c}' of type {col.iox_type} in a distinct value cache: "
                "only tags and string fields can be used"
            )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise BadRequest("cache name must be a non-empty string")
    return DistinctCacheDef(
        db=db, db_id=db_id, table=tdef.name, name=name or default_distinct_cache_name(tdef.name, cols),
        columns=cols,
        max_cardinality=positive_int(max_cardinality, "max_cardinality", DEFAULT_MAX_CARDINALITY),
        max_age=seconds(max_age, "max_age", DEFAULT_MAX_AGE),
    )


@dataclass
class DistinctEntry:
    """One combination for the console: its values and how long ago (data time) it was last seen."""

    values: tuple
    age: float


@dataclass
class _Output:
    version: int
    table: pa.Table  # every combination, sorted
    last_seen: pa.Array  # int64 ns per row


class DistinctCache(ValueCache):
    """One DVC. `update` runs on the engine loop (WAL flush); reads may come from any thread.

    State: one Arrow table of every combination (the cache columns as Utf8, a composite key used
    with index_in, and the newest data time seen), so merging a flush and pruning are vectorised.
    """

    kind = CacheKind.DISTINCT
    d: DistinctCacheDef

    def __init__(self, definition: DistinctCacheDef, clock=time.time_ns):
        self.d = definition
        self.clock = clock
        self.version = 0
        self._lock = threading.Lock()
        self.schema = pa.schema([pa.field(c, pa.string(), nullable=False) for c in definition.columns])
        self._key = pa.array([], pa.string())  # composite key per combination
        self._values = self.schema.empty_table()
        self._seen = pa.array([], pa.int64())  # newest data time per combination
        self._out: _Output | None = None

    @property
    def cardinality(self) -> int:
        return len(self._seen)

    def _cutoff(self, now: int) -> int:
        return now - self.d.max_age * NS

    def update(self, batch: pa.RecordBatch | pa.Table, tdef: TableDef | None = None, *,
               now: int | None = None) -> bool:
        now = self.clock() if now is None else now
        names = batch.schema.names
        cols = self.d.columns
        if batch.num_rows == 0 or "time" not in names or any(c not in names for c in cols):
            return self.prune(now)
        arrays = [contiguous(batch.column(names.index(c))) for c in cols]
        times = contiguous(batch.column(names.index("time"))).cast(pa.int64())
        keep = pc.greater(times, self._cutoff(now))  # older than max_age: would be pruned at once
        for a in arrays:
            if a.null_count:
                keep = pc.and_(keep, pc.is_valid(a))
        rows = pc.indices_nonzero(keep)
        if len(rows) == 0:
            return self.prune(now)
        if len(rows) < batch.num_rows:
            arrays = [a.take(rows) for a in arrays]
            times = times.take(rows)
        # group on integer codes (tags are coded through their dictionary), decode one row per group
        g = group_ids(arrays, len(times))
        agg = pa.table({"g": g, "t": times, "i": arange(len(times))}).group_by("g", use_threads=False) \
            .aggregate([("t", "max"), ("i", "min")])
        firsts = plain(agg["i_min"])
        values = [plain(a.take(firsts)).cast(pa.string()) for a in arrays]
        newest = plain(agg["t_max"])
        key = composite_key(values, len(newest)).cast(pa.string())
        with self._lock:
            at = pc.index_in(key, value_set=self._key) if len(self._key) else pa.nulls(len(key), pa.int32())
            known = pc.is_valid(at)
            positions = at.filter(known).cast(pa.int64())
            seen = self._seen
            if len(positions):
                order = pc.sort_indices(positions)
                positions = positions.take(order)
                later = pc.max_element_wise(seen.take(positions), newest.filter(known).take(order))
                seen = pc.replace_with_mask(seen, pc.is_in(arange(len(seen)), value_set=positions), later)
            fresh = pc.invert(known)
            if pc.any(fresh).as_py():
                self._key = pa.concat_arrays([self._key, key.filter(fresh)])
                added = pa.Table.from_arrays([v.filter(fresh) for v in values], schema=self.schema)
                self._values = pa.concat_tables([self._values, added]).combine_chunks()
                seen = pa.concat_arrays([seen, newest.filter(fresh)])
            self._seen = seen
            self._prune_locked(now)
            self.version += 1
        return True

    def prune(self, now: int | None = None) -> bool:
        with self._lock:
            return self._prune_locked(self.clock() if now is None else now)

    def _keep_locked(self, mask: pa.Array) -> None:
        self._key = self._key.filter(mask)
        self._values = self._values.filter(mask)
        self._seen = self._seen.filter(mask)

    def _prune_locked(self, now: int) -> bool:
        if not len(self._seen):
            return False
        changed = False
        cutoff = self._cutoff(now)
        if pc.min(self._seen).as_py() <= cutoff:
            self._keep_locked(pc.greater(self._seen, cutoff))
            changed = True
        over = len(self._seen) - self.d.max_cardinality
        if over > 0:
            # Like InfluxDB: everything seen at or before the over-th oldest time goes.
            limit = self._seen.take(pc.sort_indices(self._seen))[over - 1].as_py()
            self._keep_locked(pc.greater(self._seen, limit))
            changed = True
        if changed:
            self.version += 1
        return changed

    def _output(self) -> _Output:
        with self._lock:
            out = self._out
            if out is not None and out.version == self.version:
                return out
            version, values, seen = self.version, self._values, self._seen
        order = pc.sort_indices(values, sort_keys=[(c, "ascending") for c in self.d.columns])
        out = _Output(version, values.take(order), seen.take(order))
        with self._lock:
            if self.version == version:
                self._out = out
        return out

    def read(
        self,
        tdef: TableDef | None = None,
        predicates: dict[str, set] | None = None,
        *,
        depth: int | None = None,
        now: int | None = None,
    ) -> pa.Table:
        """The combinations seen within `max_age`, sorted.

        `predicates` maps columns to allowed values (an IN list). `depth` < number of columns
        returns the distinct values of the first `depth` columns only.
        """
        now = self.clock() if now is None else now
        out = self._output()
        table = out.table
        mask = None
        if len(out.last_seen) and pc.min(out.last_seen).as_py() <= self._cutoff(now):
            mask = pc.greater(out.last_seen, self._cutoff(now))
        for col, values in (predicates or {}).items():
            if col not in table.column_names:
                continue
            vs = [v for v in values if isinstance(v, str)]
            m = pc.is_in(table[col], value_set=pa.array(vs, pa.string()))
            mask = m if mask is None else pc.and_(mask, m)
        if mask is not None:
            table = table.filter(mask)
        if depth is not None and 0 < depth < len(self.d.columns):
            prefix = self.d.columns[:depth]
            table = table.select(prefix).group_by(prefix, use_threads=False).aggregate([])
            table = table.select(prefix).sort_by([(c, "ascending") for c in prefix])
            table = table.cast(pa.schema([self.schema.field(c) for c in prefix]))
        return table

    def entries(self, tdef: TableDef | None = None, *, now: int | None = None) -> list[DistinctEntry]:
        now = self.clock() if now is None else now
        out = self._output()
        alive = pc.greater(out.last_seen, self._cutoff(now))
        table = out.table.filter(alive)
        seen = out.last_seen.filter(alive).to_pylist()
        rows = zip(*(table[c].to_pylist() for c in self.d.columns))
        return [DistinctEntry(tuple(r), (now - t) / NS) for r, t in zip(rows, seen)]

    def items(self, tdef: TableDef | None = None, *, now: int | None = None) -> list[CacheItem]:
        return [CacheItem(e.values, None, e.age) for e in self.entries(tdef, now=now)]

    # -- the interface ---------------------------------------------------
    @classmethod
    def from_json(cls, data: dict) -> DistinctCacheDef:
        return DistinctCacheDef.from_json(data)

    @property
    def filter_columns(self) -> list[str]:
        return list(self.d.columns)

    @property
    def hierarchy(self) -> list[str] | None:
        return list(self.d.columns)

    @property
    def expires_after(self) -> int:
        return self.d.max_age

    def describe(self) -> CacheSummary:
        d = self.d
        return CacheSummary(
            kind=self.kind, db=d.db, table=d.table, name=d.name, columns=list(d.columns), value_columns=None,
            count=0, ttl=0, max_cardinality=d.max_cardinality, max_age=d.max_age, keys=self.cardinality, rows=0,
        )

    def refill_query(self, tdef: TableDef, now: int) -> RefillQuery | None:
        """Every combination seen within `max_age`, with the newest time it was seen at."""
        if "time" not in tdef.columns:
            return None
        d = self.d
        cols = [quote_ident(c) for c in d.columns]
        where = " AND ".join(["time > $pe_cutoff", *(f"{c} IS NOT NULL" for c in cols)])
        sql = (f"SELECT {', '.join(cols)}, max(time) AS time FROM {quote_ident(d.table)} WHERE {where} "
               f"GROUP BY {', '.join(cols)}")
        return RefillQuery(sql, {"pe_cutoff": pa.scalar(now - d.max_age * NS, pa.timestamp("ns"))})

    def refill(self, rows: pa.Table, tdef: TableDef, now: int) -> None:
        if rows.num_rows:
            self.update(rows, tdef, now=now)

    @staticmethod
    def system_rows(rows: list[tuple[Any, TableDef]]) -> pa.Table:
        """`system.distinct_caches`, as InfluxDB 3 lays it out."""
        sv = pa.string_view()
        return pa.table({
            "table": pa.array([d.table for d, _ in rows], sv),
            "name": pa.array([d.name for d, _ in rows], sv),
            "column_ids": pa.array([[column_ids(t)[c] for c in d.columns] for d, t in rows], pa.list_(pa.uint16())),
            "column_names": pa.array([list(d.columns) for d, _ in rows], pa.list_(sv)),
            "max_cardinality": pa.array([d.max_cardinality for d, _ in rows], pa.uint64()),
            "max_age_seconds": pa.array([d.max_age for d, _ in rows], pa.uint64()),
        })
