"""Last Values Cache (LVC): the newest `count` rows of every key, answered without a table scan.

Semantics follow InfluxDB 3 (reference §8.1):

- key columns default to the table's tags in catalog order (its series key); keys may be tags,
  string, integer, unsigned or boolean fields (never float, never `time`). A row that lacks any
  key column is not cached. Tag keys come out as Utf8, not null.
- value columns default to every non-key column, including columns added to the table later;
  an explicit list is fixed, and `time` is always part of it (last).
- `count` (>= 1, default 1) rows are kept per key combination; `ttl` (default 4 h) is measured
  from when a row entered the cache (wall clock), not from its timestamp.
- a row whose `time` is <= the newest time already cached for its key is ignored (late data),
  also within one batch, in arrival order. Nulls are cached as nulls.

Layout: the cached rows live in one Arrow table (key columns, value columns, `time`, plus a key id
and the insertion time), so a WAL flush is merged with a handful of vectorised kernels (group ids
by dictionary encoding, a stable sort, a grouped running maximum for the late-row rule, `is_in`
to replace a key's old rows) and one Python step per distinct key in the batch, never per row.
Reads reuse a sorted, typed copy built once per cache version and only filter it (TTL, key
predicates).

Restart: the cache is refilled from the table (memory buffers and Parquet) by
`manager.ValueCaches`: the newest `count` rows per key whose *timestamp* lies within the last `ttl`
of wall-clock time. Their insertion time is taken to be their timestamp (clamped to
[now - ttl, now]), so a refilled row never outlives the TTL it would have had.
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
from ..catalog import TAG_TYPE, TableDef
from .arrow_ops import (
    arange, column_ids, composite_key, contiguous, group_ids, plain, run_ends, run_ordinals, run_starts, state_type,
)
from .base import CacheItem, CacheKind, CacheSummary, RefillQuery, ValueCache, quote_ident
from .options import NS, names_list, positive_int, seconds

DEFAULT_COUNT = 1
DEFAULT_TTL = 4 * 60 * 60  # seconds
KEY_FIELD_TYPES = (FieldType.INT, FieldType.UINT, FieldType.STRING, FieldType.BOOL)
_KID = "__pe_key_id"  # internal columns of the state table
_INS = "__pe_inserted_ns"
_INT64_MIN = -(2**63)
_BIG = 2**62


# --------------------------------------------------------------------- definition
@dataclass
class LastCacheDef:
    db: str
    table: str
    name: str
    key_columns: list[str]
    value_columns: list[str] | None = None  # None: every non-key column, new ones included
    count: int = DEFAULT_COUNT
    ttl: int = DEFAULT_TTL  # seconds
    db_id: str = ""
    kind: ClassVar[CacheKind] = CacheKind.LAST

    def to_json(self) -> dict:
        return {
            "db": self.db, "db_id": self.db_id, "table": self.table, "name": self.name,
            "key_columns": list(self.key_columns),
            "value_columns": None if self.value_columns is None else list(self.value_columns),
            "count": self.count, "ttl": self.ttl,
        }

    @classmethod
    def from_json(cls, d: dict) -> "LastCacheDef":
        return cls(
            db=d["db"], db_id=d.get("db_id", ""), table=d["table"], name=d["name"],
            key_columns=list(d["key_columns"]),
            value_columns=None if d.get("value_columns") is None else list(d["value_columns"]),
            count=int(d.get("count", DEFAULT_COUNT)), ttl=int(d.get("ttl", DEFAULT_TTL)),
        )

    def created_response(self, tdef: TableDef) -> dict:
        """InfluxDB 3's LastCacheCreatedResponse (ids are catalog positions), plus the names."""
        ids = column_ids(tdef)
        if self.value_columns is None:
            values: Any = "all_non_key_columns"
        else:
            values = {"explicit": {"columns": [ids[c] for c in self.value_columns if c in ids]}}
        return {
            "table": self.table, "name": self.name,
            "key_columns": [ids[c] for c in self.key_columns if c in ids],
            "value_columns": values, "count": self.count, "ttl": self.ttl,
            "key_column_names": list(self.key_columns),
            "value_column_names": None if self.value_columns is None else list(self.value_columns),
        }


def default_last_cache_name(table: str, key_columns: list[str]) -> str:
    return "_".join([table, *key_columns, "last_cache"])


def define_last_cache(
    db: str,
    tdef: TableDef,
    *,
    name: str | None = None,
    key_columns: Any = None,
    value_columns: Any = None,
    count: Any = None,
    ttl: Any = None,
    db_id: str = "",
) -> LastCacheDef:
    """Validate a create request against the table; BadRequest (400) says what is wrong."""
    keys = names_list(key_columns, "key_columns")
    if keys is None:
        keys = tdef.tag_names  # the series key, in catalog order
    for k in keys:
        col = tdef.columns.get(k)
        if col is None:
            raise BadRequest(f"key column '{k}' does not exist in table '{tdef.name}'")
        if col.kind == "time":
            raise BadRequest("the 'time' column cannot be a key column")
        if col.kind == "field" and col.field_type not in KEY_FIELD_TYPES:
            raise BadRequest(
                f"cannot use column '{k}' of type {col.iox_type} as a key column: "
                "use a tag, or a string, integer, unsigned integer or boolean field"
            )
    values = names_list(value_columns, "value_columns")
    if values is not None:
        for v in values:
            if v not in tdef.columns:
                raise BadRequest(f"value column '{v}' does not exist in table '{tdef.name}'")
            if v in keys:
                raise BadRequest(f"column '{v}' is a key column; it cannot also be a value column")
        values = [v for v in values if v != "time"] + ["time"]
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise BadRequest("cache name must be a non-empty string")
    return LastCacheDef(
        db=db, db_id=db_id, table=tdef.name,
        name=name or default_last_cache_name(tdef.name, keys),
        key_columns=list(keys), value_columns=values,
        count=positive_int(count, "count", DEFAULT_COUNT),
        ttl=seconds(ttl, "ttl", DEFAULT_TTL),
    )


@dataclass
class CacheEntry:
    """One cached row for the console: its key, its values (`time` as int ns) and its age in
    seconds since it entered the cache."""

    key: tuple
    values: dict[str, Any]
    age: float


# --------------------------------------------------------------------- the cache
@dataclass
class _Output:
    version: int
    schema: pa.Schema
    table: pa.Table  # sorted by key, newest first
    inserted: pa.Array  # insertion ns of each row of `table`


class LastCache(ValueCache):
    """One LVC. `update` runs on the engine loop (WAL flush); reads may come from any thread."""

    kind = CacheKind.LAST
    d: LastCacheDef

    def __init__(self, definition: LastCacheDef, clock=time.time_ns):
        self.d = definition
        self.clock = clock
        self.version = 0
        self._lock = threading.Lock()
        self._rows: pa.Table | None = None
        # The key index, one entry per cached key, as parallel arrays (looked up with index_in):
        # the key (see `composite_key`), the newest time cached for it, and its id (`_KID`).
        self._ikey: pa.Array | None = None
        self._inewest = pa.array([], pa.int64())
        self._ikid = pa.array([], pa.int64())
        self._next_kid = 0
        self._out: _Output | None = None

    @property
    def rows(self) -> int:
        rows = self._rows
        return 0 if rows is None else rows.num_rows

    @property
    def keys(self) -> int:
        return len(self._ikid)

    # -- writes ----------------------------------------------------------
    def update(
        self,
        batch: pa.RecordBatch | pa.Table,
        tdef: TableDef,
        *,
        now: int | None = None,
        inserted: pa.Array | None = None,
    ) -> bool:
        """Merge one batch (rows in arrival order). Returns True when the cache changed.

        `inserted` (int64 ns per row) overrides the insertion time; the refill uses it.
        """
        now = self.clock() if now is None else now
        with self._lock:
            changed = self._evict_locked(now)
        n = batch.num_rows
        names = batch.schema.names
        d = self.d
        if n == 0 or "time" not in names or any(k not in names for k in d.key_columns):
            return changed  # rows without every key column are not cached
        keys = [contiguous(batch.column(names.index(k))) for k in d.key_columns]
        times = contiguous(batch.column(names.index("time")))
        picked: pa.Array | None = None  # rows of `batch` that have every key
        valid = None
        for a in keys:
            if a.null_count:
                m = pc.is_valid(a)
                valid = m if valid is None else pc.and_(valid, m)
        if valid is not None:
            picked = pc.indices_nonzero(valid)
            if len(picked) == 0:
                return changed
            keys = [a.take(picked) for a in keys]
            times = times.take(picked)
            n = len(times)
        g = group_ids(keys, n)
        order = pc.sort_indices(g)  # stable: arrival order within a key
        gs = g.take(order)
        ts = times.take(order).cast(pa.int64())
        starts = run_starts(gs)
        ords = run_ordinals(starts)  # key number of each sorted row, 0..u-1
        first_rows = order.filter(starts)
        u = len(first_rows)
        ukeys = composite_key([plain(a.take(first_rows)) for a in keys], u)
        if self._ikey is None or len(self._ikey) == 0:
            at = pa.nulls(u, pa.int32())  # where each key of the batch is in the index (null: new)
        else:
            at = pc.index_in(ukeys.cast(self._ikey.type), value_set=self._ikey)
        base_u = self._inewest.take(at).fill_null(_INT64_MIN)
        base = base_u.take(ords)
        newer = pc.greater(ts, base)
        if n > 1:
            same = pc.equal(gs[1:], gs[:-1])
            in_order = pc.all(pc.or_(pc.invert(same), pc.greater(ts[1:], ts[:-1]))).as_py()
        else:
            in_order = True
        if in_order:  # the usual case: within each key times only grow, every row is a new maximum
            accepted = newer
        else:
            # A row is accepted when it is newer than the cached newest of its key and than every
            # earlier row of its key in this batch: a grouped running maximum. Ranks keep the
            # encoded value small: enc = key number * (n + 1) + dense rank of time.
            rank = pc.rank(ts, sort_keys="ascending", tiebreaker="dense").cast(pa.int64())
            enc = pc.add(pc.multiply(ords, n + 1), rank)
            running = pc.cumulative_max(enc)
            before = pa.concat_arrays([pa.array([-1], pa.int64()), running[:-1]])
            before = pc.if_else(starts, -1, before)
            accepted = pc.and_(pc.greater(enc, before), newer)
        pos = pc.indices_nonzero(accepted)
        if len(pos) == 0:
            return changed
        acc_g = gs.take(pos)
        ends = run_ends(acc_g)
        if d.count == 1:
            keep = ends
        else:  # the last `count` accepted rows of each key
            m = len(pos)
            ar = arange(m)
            end_at = pc.if_else(ends, ar, _BIG)
            rev = pc.subtract(m - 1, ar)
            end_at = pc.cumulative_min(end_at.take(rev)).take(rev)
            keep = pc.less(pc.subtract(end_at, ar), d.count)
        chosen = pos.filter(keep)
        rows = order.take(chosen)  # rows of the (key-complete) batch to cache
        src = rows if picked is None else picked.take(rows)
        last = pos.filter(ends)
        upd = ords.take(last)  # key numbers that got rows, ascending
        upd_time = ts.take(last)
        # key ids: known keys keep theirs, new keys (all of them got rows) get the next ones
        is_new = pc.is_null(at)
        n_new = len(at) - pc.sum(pc.is_valid(at).cast(pa.int64())).as_py()
        kid_u = self._ikid.take(at)
        if n_new:
            kid_u = pc.replace_with_mask(kid_u, is_new, pc.add(arange(n_new), self._next_kid))
            self._next_kid += n_new
        newest_u = pc.replace_with_mask(base_u, pc.is_in(arange(u), value_set=upd), upd_time)
        self._update_index(ukeys, at, is_new, newest_u, kid_u)
        k = len(rows)
        cols: dict[str, pa.Array] = {}
        for name, a in zip(d.key_columns, keys):
            cols[name] = plain(a.take(rows)).cast(state_type(tdef.columns[name]))
        for v in self._value_names(names):
            if v in names:
                arr = plain(contiguous(batch.column(names.index(v))).take(src))
                col = tdef.columns.get(v)
                cols[v] = arr.cast(state_type(col)) if col is not None else arr
            else:  # explicit column absent from this batch
                cols[v] = pa.nulls(k, state_type(tdef.columns[v]))
        cols["time"] = times.take(rows)
        cols[_KID] = kid_u.take(ords.take(chosen))
        if inserted is not None:
            ins = inserted if picked is None else inserted.take(picked)
            cols[_INS] = ins.take(rows).cast(pa.int64())
        else:
            cols[_INS] = pa.repeat(pa.scalar(now, pa.int64()), k)
        new = pa.table(cols)
        updated = kid_u.take(upd)
        with self._lock:
            self._rows = self._merge_locked(new, updated)
            self.version += 1
        return True

    def _update_index(self, ukeys: pa.Array, at: pa.Array, is_new: pa.Array, newest_u: pa.Array,
                      kid_u: pa.Array) -> None:
        """Newest times of the batch's known keys written in place; new keys appended."""
        known = pc.invert(is_new)
        positions = at.filter(known).cast(pa.int64())
        if len(positions):
            order = pc.sort_indices(positions)
            values = newest_u.filter(known).take(order)
            mask = pc.is_in(arange(len(self._inewest)), value_set=positions)
            self._inewest = pc.replace_with_mask(self._inewest, mask, values)
        if pc.any(is_new).as_py():
            added = ukeys.filter(is_new)
            self._ikey = added if self._ikey is None or len(self._ikey) == 0 else \
                pa.concat_arrays([self._ikey, added.cast(self._ikey.type)])
            self._inewest = pa.concat_arrays([self._inewest, newest_u.filter(is_new)])
            self._ikid = pa.concat_arrays([self._ikid, kid_u.filter(is_new)])

    def _value_names(self, batch_names: list[str]) -> list[str]:
        if self.d.value_columns is None:
            keys = set(self.d.key_columns)
            return [c for c in batch_names if c != "time" and c not in keys]
        return [c for c in self.d.value_columns if c != "time"]

    def _merge_locked(self, new: pa.Table, updated: pa.Array) -> pa.Table:
        state = self._rows
        if state is None or state.num_rows == 0:
            return new.combine_chunks()
        hit = pc.is_in(state[_KID], value_set=updated)
        rest = state.filter(pc.invert(hit))
        if self.d.count == 1:
            merged = pa.concat_tables([rest, new], promote_options="default")
            return merged.combine_chunks()
        both = pa.concat_tables([state.filter(hit), new], promote_options="default").combine_chunks()
        order = pc.sort_indices(both, sort_keys=[(_KID, "ascending"), ("time", "descending")])
        ids = plain(both[_KID]).take(order)
        starts = run_starts(ids)
        ar = arange(len(ids))
        first = pc.cumulative_max(pc.if_else(starts, ar, 0))
        keep = pc.less(pc.subtract(ar, first), self.d.count)
        merged = pa.concat_tables([rest, both.take(order.filter(keep))], promote_options="default")
        return merged.combine_chunks()

    def evict(self, now: int | None = None) -> bool:
        """Drop rows older than the TTL (also done on every update)."""
        with self._lock:
            return self._evict_locked(self.clock() if now is None else now)

    def _evict_locked(self, now: int) -> bool:
        state = self._rows
        if state is None or state.num_rows == 0:
            return False
        cutoff = now - self.d.ttl * NS
        ins = state[_INS]
        if pc.min(ins).as_py() > cutoff:
            return False
        alive = pc.greater(ins, cutoff)
        kept = state.filter(alive)
        gone = set(pc.unique(state.filter(pc.invert(alive))[_KID]).to_pylist())
        gone -= set(pc.unique(kept[_KID]).to_pylist())
        if gone:  # a key with nothing left starts afresh (any time is accepted again)
            stay = pc.invert(pc.is_in(self._ikid, value_set=pa.array(sorted(gone), pa.int64())))
            assert self._ikey is not None
            self._ikey, self._inewest, self._ikid = (
                self._ikey.filter(stay), self._inewest.filter(stay), self._ikid.filter(stay))
        self._rows = kept.combine_chunks()
        self.version += 1
        return True

    # -- reads -----------------------------------------------------------
    def value_names(self, tdef: TableDef) -> list[str]:
        """Value columns as output: explicit list, or every non-key column in table order."""
        if self.d.value_columns is not None:
            return list(self.d.value_columns)
        keys = set(self.d.key_columns)
        return [f.name for f in tdef.arrow_schema if f.name not in keys]

    def output_schema(self, tdef: TableDef) -> pa.Schema:
        fields = []
        for k in self.d.key_columns:
            col = tdef.columns[k]
            fields.append(pa.field(k, state_type(col), nullable=col.kind != "tag"))
        for v in self.value_names(tdef):
            vcol = tdef.columns.get(v)
            if vcol is None:
                continue
            typ = TAG_TYPE if vcol.kind == "tag" else state_type(vcol)
            fields.append(pa.field(v, typ, nullable=v != "time"))
        return pa.schema(fields)

    def _output(self, tdef: TableDef) -> _Output:
        schema = self.output_schema(tdef)
        with self._lock:
            out = self._out
            if out is not None and out.version == self.version and out.schema.equals(schema):
                return out
            state, version = self._rows, self.version
        if state is None or state.num_rows == 0:
            out = _Output(version, schema, schema.empty_table(), pa.array([], pa.int64()))
        else:
            sort = [(k, "ascending") for k in self.d.key_columns] + [("time", "descending")]
            order = pc.sort_indices(state, sort_keys=sort)
            cols = []
            for f in schema:
                if f.name in state.column_names:
                    arr = plain(state[f.name]).take(order)
                    if f.type == TAG_TYPE:
                        arr = pc.dictionary_encode(arr)
                    elif arr.type != f.type:
                        arr = arr.cast(f.type)
                else:
                    arr = pa.nulls(state.num_rows, f.type)
                cols.append(arr)
            out = _Output(version, schema, pa.Table.from_arrays(cols, schema=schema), plain(state[_INS]).take(order))
        with self._lock:
            if self.version == version:
                self._out = out
        return out

    def read(
        self,
        tdef: TableDef,
        predicates: dict[str, set] | None = None,
        *,
        depth: int | None = None,
        now: int | None = None,
    ) -> pa.Table:
        """The cached rows (key columns, then value columns), sorted by key, newest first.

        `predicates` maps key columns to the values they may take (an IN list): the lookup the
        SQL function does for `WHERE key = ...`. Rows past the TTL are never returned. An LVC has
        no hierarchy: `depth` is ignored.
        """
        out = self._output(tdef)
        table, ins = out.table, out.inserted
        now = self.clock() if now is None else now
        mask = None
        if len(ins) and pc.min(ins).as_py() <= now - self.d.ttl * NS:
            mask = pc.greater(ins, now - self.d.ttl * NS)
        for col, values in (predicates or {}).items():
            if col not in table.column_names:
                continue
            typ = table.schema.field(col).type
            try:
                vs = pa.array(list(values), typ.value_type if pa.types.is_dictionary(typ) else typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                continue  # a value that cannot be of this type: let SQL decide
            m = pc.is_in(table[col], value_set=vs)
            mask = m if mask is None else pc.and_(mask, m)
        return table if mask is None else table.filter(mask)

    def entries(self, tdef: TableDef, *, now: int | None = None) -> list[CacheEntry]:
        now = self.clock() if now is None else now
        out = self._output(tdef)
        alive = pc.greater(out.inserted, now - self.d.ttl * NS)
        table = out.table.filter(alive)
        ins = out.inserted.filter(alive).to_pylist()
        keys = self.d.key_columns
        values = [n for n in table.column_names if n not in keys]
        key_rows = list(zip(*(table[k].to_pylist() for k in keys))) if keys else [()] * table.num_rows
        vt = table.select(values)
        for i, f in enumerate(vt.schema):  # ns timestamps as int ns: datetime cannot hold them
            if pa.types.is_timestamp(f.type):
                vt = vt.set_column(i, f.name, vt.column(i).cast(pa.int64()))
        value_rows = vt.to_pylist()
        return [CacheEntry(k, v, (now - i) / NS) for k, v, i in zip(key_rows, value_rows, ins)]

    def items(self, tdef: TableDef, *, now: int | None = None) -> list[CacheItem]:
        return [CacheItem(e.key, e.values, e.age) for e in self.entries(tdef, now=now)]

    # -- the interface ---------------------------------------------------
    @classmethod
    def from_json(cls, data: dict) -> LastCacheDef:
        return LastCacheDef.from_json(data)

    @property
    def filter_columns(self) -> list[str]:
        return list(self.d.key_columns)

    @property
    def expires_after(self) -> int:
        return self.d.ttl

    def describe(self) -> CacheSummary:
        d = self.d
        return CacheSummary(
            kind=self.kind, db=d.db, table=d.table, name=d.name, columns=list(d.key_columns),
            value_columns=None if d.value_columns is None else list(d.value_columns),
            count=d.count, ttl=d.ttl, max_cardinality=0, max_age=0, keys=self.keys, rows=self.rows,
        )

    def refill_query(self, tdef: TableDef, now: int) -> RefillQuery | None:
        """The newest `count` rows per key whose timestamp is within the last `ttl`."""
        if "time" not in tdef.columns:
            return None
        d = self.d
        keys = [quote_ident(k) for k in d.key_columns]
        if d.value_columns is None:
            cols = "*"
        else:
            cols = ", ".join(quote_ident(c) for c in [*d.key_columns, *d.value_columns])
        where = " AND ".join(["time > $pe_cutoff", *(f"{k} IS NOT NULL" for k in keys)])
        part = f"PARTITION BY {', '.join(keys)} " if keys else ""
        sql = (
            f"SELECT * FROM (SELECT {cols}, row_number() OVER ({part}ORDER BY time DESC) AS __pe_rn "
            f"FROM {quote_ident(d.table)} WHERE {where}) WHERE __pe_rn <= {int(d.count)} ORDER BY time"
        )
        return RefillQuery(sql, {"pe_cutoff": pa.scalar(now - d.ttl * NS, pa.timestamp("ns"))})

    def refill(self, rows: pa.Table, tdef: TableDef, now: int) -> None:
        """A refilled row's insertion time is its timestamp, clamped to [now - ttl, now]."""
        if "__pe_rn" in rows.column_names:
            rows = rows.drop_columns(["__pe_rn"])
        if not rows.num_rows:
            return
        t = rows.column("time").cast(pa.int64())
        inserted = pc.max_element_wise(pc.min_element_wise(t, now), now - self.d.ttl * NS + 1)
        self.update(rows, tdef, now=now, inserted=inserted)

    @staticmethod
    def system_rows(rows: list[tuple[Any, TableDef]]) -> pa.Table:
        """`system.last_caches`, as InfluxDB 3 lays it out."""
        sv, ids_t, names_t = pa.string_view(), pa.list_(pa.uint16()), pa.list_(pa.string_view())
        ids = [column_ids(t) for _, t in rows]
        return pa.table({
            "table": pa.array([d.table for d, _ in rows], sv),
            "name": pa.array([d.name for d, _ in rows], sv),
            "key_column_ids": pa.array([[i[c] for c in d.key_columns] for (d, _), i in zip(rows, ids)], ids_t),
            "key_column_names": pa.array([list(d.key_columns) for d, _ in rows], names_t),
            "value_column_ids": pa.array(
                [None if d.value_columns is None else [i[c] for c in d.value_columns] for (d, _), i in zip(rows, ids)],
                ids_t),
            "value_column_names": pa.array(
                [None if d.value_columns is None else list(d.value_columns) for d, _ in rows], names_t),
            "count": pa.array([d.count for d, _ in rows], pa.uint64()),
            "ttl": pa.array([d.ttl for d, _ in rows], pa.uint64()),
        })
