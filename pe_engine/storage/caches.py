"""The value caches of an engine: Last Values Caches and Distinct Values Caches (reference §7, §8).

`ValueCaches` (engine.value_caches) owns every cache and

- keeps them current: `apply` is called by Engine.flush for every WAL flush, after the buffers
  and before flush listeners (WAL triggers) run, so a plugin that queries a cache in
  `process_writes` sees the rows that fired it;
- persists their definitions (store table `value_caches`) and, on start and on create, refills
  them from the table's data (memory buffers and Parquet): an LVC reads the newest `count` rows
  per key whose timestamp is within the last `ttl`; a DVC the combinations seen within
  `max_age`. Nothing older is read. Flushes that land while a refill runs are queued and applied
  after it, in order;
- answers SQL: the table functions `last_cache('<table>'[, '<name>'])` and
  `distinct_cache('<table>'[, '<name>'])` are registered in every database's DataFusion context
  (DataFusion 55's Python UDTFs). A UDTF sees only its arguments, not the query's filters, so
  QueryEngine calls `prepare(db, sql, params)` before planning: when the statement is a plain
  `SELECT ... FROM last_cache(...) [alias] [WHERE ...]`, top-level `key = literal|$param` and
  `key IN (...)` conjuncts are read from the SQL text and the cache is looked up with them (the
  WHERE clause still runs in DataFusion, so this can only narrow rows SQL would drop anyway). For
  a DVC the columns a simple query mentions also set the depth (`SELECT region FROM
  distinct_cache(...)` gives distinct regions), as InfluxDB's projection does. Any other shape
  gets the whole cache, which DataFusion filters; the table is never scanned;
- serves `system.last_caches` and `system.distinct_caches`;
- gives the console read access: `list`, `entries(db, table, name)` and a `version` counter that
  moves whenever any cache changes.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from datafusion import SessionContext, udtf
from datafusion.catalog import Table

from ..errors import AlreadyExists, DatabaseNotFound, NotFound, QueryError, TableNotFound
from ..lineprotocol.types import FieldType
from .catalog import TableDef
from .distinct_cache import DistinctCache, DistinctCacheDef, DistinctEntry, define_distinct_cache
from .last_cache import NS, CacheEntry, LastCache, LastCacheDef, column_ids, define_last_cache

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger("pe.caches")

KINDS = ("last", "distinct")
FUNCTIONS = {"last_cache": "last", "distinct_cache": "distinct"}
NO_CACHE = "could not find cache for the given arguments"
Cache = LastCache | DistinctCache
CacheDef = LastCacheDef | DistinctCacheDef


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind '{kind}': use 'last' or 'distinct'")
    return kind


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ValueCaches:
    def __init__(self, engine: "Engine", *, clock: Callable[[], int] = time.time_ns):
        self.engine = engine
        self.clock = clock  # wall clock in ns; tests inject their own
        self.version = 0
        self._caches: dict[tuple[str, str, str, str], Cache] = {}  # (kind, db, table, name)
        self._by_table: dict[tuple[str, str], list[Cache]] = {}
        self._filling: dict[int, list[pa.RecordBatch]] = {}  # id(cache) -> flushes queued during a refill
        self._dead: list[tuple[str, str, str, str]] = []  # store rows to delete (database went away)
        self._tl = threading.local()
        self._helper = SessionContext()
        engine.query_engine.hooks.append(self)
        engine.system_tables.register("last_caches", self._system_last_caches)
        engine.system_tables.register("distinct_caches", self._system_distinct_caches)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load the definitions and refill every cache (called by Engine.start after WAL replay)."""
        store = self.engine.store
        for kind, d in await store.load_value_caches():
            definition = (LastCacheDef if kind == "last" else DistinctCacheDef).from_json(d)
            cache = self._new(definition)
            if not self._alive(cache):
                await store.delete_value_cache(kind, definition.db, definition.table, definition.name)
                continue
            self._add(cache)
        await asyncio.gather(*(self._fill(c) for c in list(self._caches.values())))
        if self._caches:
            log.info("value caches: %d loaded and refilled", len(self._caches))

    def _new(self, d: CacheDef) -> Cache:
        return LastCache(d, self.clock) if isinstance(d, LastCacheDef) else DistinctCache(d, self.clock)

    def _add(self, cache: Cache) -> None:
        d = cache.d
        self._caches[(cache.kind, d.db, d.table, d.name)] = cache
        self._by_table.setdefault((d.db, d.table), []).append(cache)
        self.version += 1

    def _remove(self, cache: Cache) -> None:
        d = cache.d
        self._caches.pop((cache.kind, d.db, d.table, d.name), None)
        group = self._by_table.get((d.db, d.table), [])
        if cache in group:
            group.remove(cache)
        if not group:
            self._by_table.pop((d.db, d.table), None)
        self._filling.pop(id(cache), None)
        self.version += 1

    def _alive(self, cache: Cache) -> bool:
        db = self.engine.catalog.databases.get(cache.d.db)
        return db is not None and db.id == cache.d.db_id and cache.d.table in db.tables

    def _purge_dead(self) -> None:
        """Forget caches of deleted databases (the store rows go at the next async call)."""
        for cache in [c for c in self._caches.values() if not self._alive(c)]:
            self._remove(cache)
            self._dead.append((cache.kind, cache.d.db, cache.d.table, cache.d.name))

    async def _flush_dead(self) -> None:
        while self._dead:
            await self.engine.store.delete_value_cache(*self._dead.pop())

    # ------------------------------------------------------------------ management
    def _table(self, db: str, table: str) -> tuple[Any, TableDef]:
        dbdef = self.engine.catalog.databases.get(db)
        if dbdef is None:
            raise DatabaseNotFound(db)
        tdef = dbdef.tables.get(table)
        if tdef is None:
            raise TableNotFound(f"table '{table}' not found in database '{db}'")
        return dbdef, tdef

    async def create_last_cache(
        self,
        db: str,
        table: str,
        *,
        name: str | None = None,
        key_columns: Any = None,
        value_columns: Any = None,
        count: Any = None,
        ttl: Any = None,
    ) -> LastCacheDef:
        """404 unknown db/table, 400 bad columns or settings, 409 name taken. Filled from the
        table's recent data before it returns."""
        dbdef, tdef = self._table(db, table)
        d = define_last_cache(db, tdef, name=name, key_columns=key_columns, value_columns=value_columns,
                              count=count, ttl=ttl, db_id=dbdef.id)
        await self._create(LastCache(d, self.clock))
        return d

    async def create_distinct_cache(
        self,
        db: str,
        table: str,
        *,
        name: str | None = None,
        columns: Any = None,
        max_cardinality: Any = None,
        max_age: Any = None,
    ) -> DistinctCacheDef:
        dbdef, tdef = self._table(db, table)
        d = define_distinct_cache(db, tdef, name=name, columns=columns, max_cardinality=max_cardinality,
                                  max_age=max_age, db_id=dbdef.id)
        await self._create(DistinctCache(d, self.clock))
        return d

    async def _create(self, cache: Cache) -> None:
        self._purge_dead()
        await self._flush_dead()
        d = cache.d
        if (cache.kind, d.db, d.table, d.name) in self._caches:
            raise AlreadyExists(f"a {cache.kind} cache named '{d.name}' already exists on table '{d.table}'")
        self._add(cache)  # now, so a concurrent create of the same name gets 409
        # Queue flushes from this moment: one applied before the refill would make the
        # refill's older rows look late, and the cache would lose them.
        self._filling[id(cache)] = []
        try:
            await self.engine.store.save_value_cache(cache.kind, d.to_json())
        except BaseException:
            self._filling.pop(id(cache), None)
            self._remove(cache)
            raise
        await self._fill(cache)

    async def delete(self, kind: str, db: str, table: str, name: str) -> None:
        """404 when the database, the table or the cache does not exist."""
        _kind(kind)
        self._purge_dead()
        await self._flush_dead()
        self._table(db, table)
        cache = self._caches.get((kind, db, table, name))
        if cache is None:
            raise NotFound(f"{kind} cache not found: '{name}' on table '{table}' in database '{db}'")
        self._remove(cache)
        await self.engine.store.delete_value_cache(kind, db, table, name)

    async def delete_last_cache(self, db: str, table: str, name: str) -> None:
        await self.delete("last", db, table, name)

    async def delete_distinct_cache(self, db: str, table: str, name: str) -> None:
        await self.delete("distinct", db, table, name)

    def list(self, db: str | None = None, kind: str | None = None) -> list[CacheDef]:
        """Definitions, sorted by (kind, db, table, name). Safe from any thread."""
        return [
            c.d for k, c in sorted(self._caches.items())
            if (db is None or c.d.db == db) and (kind is None or c.kind == kind) and self._alive(c)
        ]

    def get(self, kind: str, db: str, table: str, name: str | None = None) -> Cache:
        """A cache by name, or the table's only cache of that kind when `name` is None.
        Safe from any thread (it changes nothing)."""
        _kind(kind)
        if name is not None:
            cache = self._caches.get((kind, db, table, name))
        else:
            group = [c for c in self._by_table.get((db, table), []) if c.kind == kind and self._alive(c)]
            cache = group[0] if len(group) == 1 else None
        if cache is None or not self._alive(cache):
            raise NotFound(NO_CACHE)
        return cache

    def read(self, kind: str, db: str, table: str, name: str | None = None,
             predicates: dict[str, set] | None = None) -> pa.Table:
        """A cache's current contents, as `SELECT * FROM last_cache(...)` returns them."""
        cache = self.get(kind, db, table, name)
        _, tdef = self._table(db, table)
        return cache.read(tdef, predicates)

    def entries(self, db: str, table: str, name: str | None = None,
                kind: str = "last") -> list[CacheEntry] | list[DistinctEntry]:
        """For the console: LVC -> CacheEntry(key, values, age s since insertion); DVC ->
        DistinctEntry(values, age s since the data time last seen)."""
        cache = self.get(kind, db, table, name)
        _, tdef = self._table(db, table)
        return cache.entries(tdef)

    # ------------------------------------------------------------------ write path
    def apply(self, per_db: dict[str, dict[str, pa.RecordBatch]]) -> None:
        """Merge one WAL flush into the caches. Runs on the engine loop; never raises."""
        if not self._by_table:
            return
        catalog = self.engine.catalog
        now = self.clock()
        changed = False
        for db, tables in per_db.items():
            dbdef = catalog.databases.get(db)
            if dbdef is None:
                continue
            for table, batch in tables.items():
                group = self._by_table.get((db, table))
                tdef = dbdef.tables.get(table)
                if not group or tdef is None:
                    continue
                for cache in list(group):
                    if cache.d.db_id != dbdef.id:
                        continue  # a database of the same name that was deleted: purged later
                    queued = self._filling.get(id(cache))
                    if queued is not None:
                        queued.append(batch)
                        continue
                    try:
                        changed |= cache.update(batch, tdef, now=now)
                    except Exception:
                        log.exception("%s cache %s on %s.%s: update failed", cache.kind, cache.d.name, db, table)
        if changed:
            self.version += 1

    # ------------------------------------------------------------------ refill
    async def _fill(self, cache: Cache) -> None:
        """Fill a cache from what the table holds now; flushes during the query are queued."""
        self._filling.setdefault(id(cache), [])
        now = self.clock()
        rows = None
        try:
            rows = await asyncio.get_running_loop().run_in_executor(None, self._recent_rows, cache, now)
        except Exception as e:
            log.warning("%s cache %s on %s.%s: refill failed: %s", cache.kind, cache.d.name, cache.d.db,
                        cache.d.table, e)
        queued = self._filling.pop(id(cache), None)
        if queued is None:  # deleted meanwhile
            return
        if not self._alive(cache):
            return
        _, tdef = self._table(cache.d.db, cache.d.table)
        try:
            if rows is not None and rows.num_rows:
                if isinstance(cache, LastCache):
                    t = rows.column("time").cast(pa.int64())
                    inserted = pc.max_element_wise(pc.min_element_wise(t, now), now - cache.d.ttl * NS + 1)
                    cache.update(rows, tdef, now=now, inserted=inserted)
                else:
                    cache.update(rows, tdef, now=now)
            for batch in queued:
                cache.update(batch, tdef)
        except Exception:
            log.exception("%s cache %s: refill failed", cache.kind, cache.d.name)
        self.version += 1

    def _recent_rows(self, cache: Cache, now: int) -> pa.Table | None:
        """Query thread: the rows a cache would hold had it been running (see module doc)."""
        d = cache.d
        db = self.engine.catalog.databases.get(d.db)
        if db is None or d.table not in db.tables:
            return None
        tdef = db.tables[d.table]
        table = quote_ident(d.table)
        if isinstance(d, LastCacheDef):
            cutoff = now - d.ttl * NS
            keys = [quote_ident(k) for k in d.key_columns]
            if d.value_columns is None:
                cols = "*"
            else:
                cols = ", ".join(quote_ident(c) for c in [*d.key_columns, *d.value_columns])
            where = " AND ".join([f"time > $pe_cutoff", *(f"{k} IS NOT NULL" for k in keys)])
            part = f"PARTITION BY {', '.join(keys)} " if keys else ""
            sql = (
                f"SELECT * FROM (SELECT {cols}, row_number() OVER ({part}ORDER BY time DESC) AS __pe_rn "
                f"FROM {table} WHERE {where}) WHERE __pe_rn <= {int(d.count)} ORDER BY time"
            )
        else:
            cutoff = now - d.max_age * NS
            cols = [quote_ident(c) for c in d.columns]
            where = " AND ".join([f"time > $pe_cutoff", *(f"{c} IS NOT NULL" for c in cols)])
            sql = (f"SELECT {', '.join(cols)}, max(time) AS time FROM {table} WHERE {where} "
                   f"GROUP BY {', '.join(cols)}")
        if "time" not in tdef.columns:
            return None
        result = self.engine.query_engine.execute(d.db, sql, {"pe_cutoff": pa.scalar(cutoff, pa.timestamp("ns"))})
        if "__pe_rn" in result.column_names:
            result = result.drop_columns(["__pe_rn"])
        return result

    # ------------------------------------------------------------------ SQL
    def on_session(self, db: str, ctx: SessionContext) -> None:
        """QueryEngine hook: a new DataFusion context for `db` gets the two table functions."""
        ctx.register_udtf(udtf(self._table_function("last", db), "last_cache"))
        ctx.register_udtf(udtf(self._table_function("distinct", db), "distinct_cache"))

    def _lookup(self, kind: str, db: str, table: str, name: str | None) -> tuple[Cache, TableDef]:
        dbdef = self.engine.catalog.databases.get(db)
        tdef = dbdef.tables.get(table) if dbdef is not None else None
        if tdef is None:
            raise QueryError("provided table name is invalid")
        try:
            cache = self.get(kind, db, table, name)
        except NotFound:
            raise QueryError(NO_CACHE) from None
        if cache.d.db_id != dbdef.id:
            raise QueryError(NO_CACHE)
        return cache, tdef

    def _table_function(self, kind: str, db: str):
        def call(*args: Any) -> Table:
            table, name = _literal_args(args)
            prepared = getattr(self._tl, "prepared", None)
            if prepared:
                hit = prepared.get((kind, table, name))
                if hit is not None:
                    return hit
            cache, tdef = self._lookup(kind, db, table, name)
            data = cache.read(tdef)
            # No MemTable here: building one needs DataFusion's runtime, which is busy planning.
            return Table(ds.InMemoryDataset(data.to_batches() or [_empty_batch(data.schema)], schema=data.schema))

        return call

    def prepare(self, db: str, sql: str, params: dict[str, pa.Scalar]) -> None:
        """QueryEngine hook, before planning: resolve the cache calls of `sql` and look them up
        with whatever key predicates can be read safely from the text (see the module doc)."""
        self._tl.prepared = None
        low = sql.lower()
        if "last_cache" not in low and "distinct_cache" not in low:
            return
        toks = tokenize(sql)
        if toks is None:
            return
        calls = find_calls(toks)
        if not calls:
            return
        shape = simple_shape(toks, calls[0]) if len(calls) == 1 else None
        prepared: dict[tuple[str, str, str | None], Table] = {}
        for call in calls:
            if call.table is None:
                continue  # arguments are not plain strings: the table function decides
            cache, tdef = self._lookup(call.kind, db, call.table, call.name)
            if shape is None:
                data = cache.read(tdef)
            elif isinstance(cache, LastCache):
                data = cache.read(tdef, _predicates(shape, cache.d.key_columns, tdef, params))
            else:
                data = cache.read(tdef, _predicates(shape, cache.d.columns, tdef, params),
                                  depth=_depth(shape, cache.d.columns))
            prepared[(call.kind, call.table, call.name)] = self._memtable(data)
        self._tl.prepared = prepared

    def _memtable(self, data: pa.Table) -> Table:
        name = f"c{uuid.uuid4().hex}"
        batches = data.to_batches() or [_empty_batch(data.schema)]
        self._helper.register_record_batches(name, [batches])
        try:
            return self._helper.catalog().schema().table(name)
        finally:
            self._helper.deregister_table(name)

    # ------------------------------------------------------------------ system tables
    def _defs_with_tables(self, db: str, kind: str) -> list[tuple[CacheDef, TableDef]]:
        dbdef = self.engine.catalog.databases.get(db)
        if dbdef is None:
            return []
        out = []
        for (k, cdb, table, _), cache in sorted(self._caches.items()):
            if k == kind and cdb == db and cache.d.db_id == dbdef.id and table in dbdef.tables:
                out.append((cache.d, dbdef.tables[table]))
        return out

    def _system_last_caches(self, db: str) -> pa.Table:
        rows = self._defs_with_tables(db, "last")
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

    def _system_distinct_caches(self, db: str) -> pa.Table:
        rows = self._defs_with_tables(db, "distinct")
        sv = pa.string_view()
        return pa.table({
            "table": pa.array([d.table for d, _ in rows], sv),
            "name": pa.array([d.name for d, _ in rows], sv),
            "column_ids": pa.array([[column_ids(t)[c] for c in d.columns] for d, t in rows], pa.list_(pa.uint16())),
            "column_names": pa.array([list(d.columns) for d, _ in rows], pa.list_(sv)),
            "max_cardinality": pa.array([d.max_cardinality for d, _ in rows], pa.uint64()),
            "max_age_seconds": pa.array([d.max_age for d, _ in rows], pa.uint64()),
        })


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _literal_args(args: tuple) -> tuple[str, str | None]:
    """The (table, name) a table function was called with, as InfluxDB checks them."""

    def text(arg: Any) -> str | None:
        try:
            v = arg.to_variant()
            if v.data_type() in ("Utf8", "Utf8View", "LargeUtf8"):
                return v.value_string()
        except Exception:
            pass
        return None

    if not args or len(args) > 2:
        raise QueryError("the cache functions take a table name and an optional cache name")
    table = text(args[0])
    if table is None:
        raise QueryError("first argument must be the table name as a string")
    name = None
    if len(args) == 2:
        name = text(args[1])
        if name is None:
            raise QueryError("second argument, if passed, must be the cache name as a string")
    return table, name


# --------------------------------------------------------------------- reading the SQL text
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<str>'(?:[^']|'')*')
      | (?P<qid>"(?:[^"]|"")*")
      | (?P<param>\$[A-Za-z0-9_]+)
      | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><>|!=|<=|>=|::|\|\||[=<>(),.;*+\-/%\[\]])
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_CLAUSES = {"where", "group", "order", "limit", "offset", "having", "window", "qualify"}
_SET_WORDS = {"join", "union", "intersect", "except", "with", "lateral", "values", "unnest"}


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # id | qid | str | param | num | op
    text: str
    value: str  # id: lower-cased; qid/str: unquoted; param: name without `$`; else the text


@dataclass(frozen=True, slots=True)
class Call:
    kind: str  # "last" | "distinct"
    table: str | None  # None when the arguments are not plain string literals
    name: str | None
    start: int  # token index of the function name
    end: int  # token index of the closing parenthesis


@dataclass
class Shape:
    """A plain `SELECT ... FROM <call> [alias] [WHERE conjuncts] ...` statement."""

    conjuncts: list[tuple[Tok, list[Tok]]]  # (column, values) of `col = v` / `col IN (v, ...)`
    mentioned: set[tuple[bool, str]]  # every (quoted?, identifier) in the statement
    star: bool


def tokenize(sql: str) -> list[Tok] | None:
    """Tokens without whitespace/comments; None when the text has something we do not read
    (an unterminated quote, say), in which case nothing is derived from it."""
    out: list[Tok] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        text = m.group()
        if kind in ("ws", "comment"):
            continue
        if kind == "other":
            return None
        if kind == "id":
            value = text.lower()
        elif kind == "qid":
            value = text[1:-1].replace('""', '"')
        elif kind == "str":
            value = text[1:-1].replace("''", "'")
        elif kind == "param":
            value = text[1:]
        else:
            value = text
        out.append(Tok(kind, text, value))  # type: ignore[arg-type]
    return out


def find_calls(toks: list[Tok]) -> list[Call]:
    calls = []
    for i, t in enumerate(toks):
        if t.kind != "id" or t.value not in FUNCTIONS or i + 1 >= len(toks) or toks[i + 1].text != "(":
            continue
        j = i + 2
        depth = 1
        args: list[list[Tok]] = [[]]
        while j < len(toks):
            x = toks[j]
            if x.text == "(":
                depth += 1
            elif x.text == ")":
                depth -= 1
                if depth == 0:
                    break
            if x.text == "," and depth == 1:
                args.append([])
            else:
                args[-1].append(x)
            j += 1
        if j >= len(toks):
            continue
        literal = 1 <= len(args) <= 2 and all(len(a) == 1 and a[0].kind == "str" for a in args)
        table = args[0][0].value if literal else None
        name = args[1][0].value if literal and len(args) == 2 else None
        calls.append(Call(FUNCTIONS[t.value], table, name, i, j))
    return calls


def _is_word(t: Tok, *words: str) -> bool:
    return t.kind == "id" and t.value in words


def simple_shape(toks: list[Tok], call: Call) -> Shape | None:
    """The statement's shape when it is simple enough to read predicates from, else None."""
    toks = list(toks)
    while toks and toks[-1].text == ";":
        toks.pop()
    if any(t.text == ";" for t in toks):
        return None
    lead = 0  # EXPLAIN [ANALYZE] [VERBOSE] SELECT ...: the same statement underneath
    while lead < len(toks) and _is_word(toks[lead], "explain", "analyze", "verbose"):
        lead += 1
    if lead:
        toks = toks[lead:]
        call = Call(call.kind, call.table, call.name, call.start - lead, call.end - lead)
    words = [t.value for t in toks if t.kind == "id"]
    if not toks or not _is_word(toks[0], "select") or words.count("select") != 1 or words.count("from") != 1:
        return None
    if any(w in _SET_WORDS for w in words):
        return None
    from_at = next(i for i, t in enumerate(toks) if _is_word(t, "from"))
    depth = 0
    for t in toks[:from_at]:
        depth += (t.text == "(") - (t.text == ")")
    if depth != 0 or call.start != from_at + 1:
        return None
    j = call.end + 1
    alias: Tok | None = None
    if j < len(toks) and _is_word(toks[j], "as"):
        j += 1
        if j >= len(toks) or toks[j].kind not in ("id", "qid"):
            return None
        alias, j = toks[j], j + 1
    elif j < len(toks) and toks[j].kind == "qid" or (j < len(toks) and toks[j].kind == "id" and toks[j].value not in _CLAUSES):
        alias, j = toks[j], j + 1
    if j < len(toks) and not (toks[j].kind == "id" and toks[j].value in _CLAUSES):
        return None  # a comma (cross join) or anything else after the FROM item
    conjuncts: list[tuple[Tok, list[Tok]]] = []
    if j < len(toks) and _is_word(toks[j], "where"):
        k = j + 1
        depth = 0
        parts: list[list[Tok]] = [[]]
        ok = True
        while k < len(toks):
            t = toks[k]
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
            if depth == 0 and t.kind == "id" and t.value in _CLAUSES:
                break
            if _is_word(t, "case", "between") or (depth == 0 and _is_word(t, "or")):
                ok = False  # AND inside these is not a conjunction of the WHERE clause
            if depth == 0 and _is_word(t, "and"):
                parts.append([])
            else:
                parts[-1].append(t)
            k += 1
        if ok:
            for part in parts:
                found = _conjunct(part, alias)
                if found is not None:
                    conjuncts.append(found)
    mentioned = {(t.kind == "qid", t.value) for t in toks if t.kind in ("id", "qid")}
    return Shape(conjuncts, mentioned, any(t.text == "*" for t in toks))


def _column(part: list[Tok], k: int, alias: Tok | None) -> tuple[Tok, int] | None:
    if k >= len(part) or part[k].kind not in ("id", "qid"):
        return None
    if k + 2 < len(part) and part[k + 1].text == "." and part[k + 2].kind in ("id", "qid"):
        q = part[k]
        if alias is None or (q.kind == "qid") != (alias.kind == "qid") or q.value != alias.value:
            return None
        return part[k + 2], k + 3
    if part[k].kind == "id" and part[k].value in ("true", "false", "null", "not"):
        return None
    return part[k], k + 1


def _value(part: list[Tok], k: int) -> tuple[Tok, int] | None:
    if k >= len(part):
        return None
    t = part[k]
    if t.kind in ("str", "num", "param") or _is_word(t, "true", "false"):
        return t, k + 1
    if t.text == "-" and k + 1 < len(part) and part[k + 1].kind == "num":
        n = part[k + 1]
        return Tok("num", "-" + n.text, "-" + n.value), k + 2
    return None


def _conjunct(part: list[Tok], alias: Tok | None) -> tuple[Tok, list[Tok]] | None:
    col = _column(part, 0, alias)
    if col is not None:
        c, k = col
        if k < len(part) and part[k].text == "=":
            v = _value(part, k + 1)
            if v is not None and v[1] == len(part):
                return c, [v[0]]
        if k + 1 < len(part) and _is_word(part[k], "in") and part[k + 1].text == "(":
            values, k = [], k + 2
            while True:
                v = _value(part, k)
                if v is None:
                    return None
                values.append(v[0])
                k = v[1]
                if k < len(part) and part[k].text == ",":
                    k += 1
                    continue
                break
            if k < len(part) and part[k].text == ")" and k + 1 == len(part):
                return c, values
            return None
    v = _value(part, 0)
    if v is not None and v[1] < len(part) and part[v[1]].text == "=":
        col = _column(part, v[1] + 1, alias)
        if col is not None and col[1] == len(part):
            return col[0], [v[0]]
    return None


def _names(tok: Tok, candidates: list[str]) -> str | None:
    """Which column an identifier names: quoted ones exactly, bare ones lower-cased (DataFusion)."""
    for c in candidates:
        if (tok.kind == "qid" and tok.value == c) or (tok.kind == "id" and tok.value == c):
            return c
    return None


def _typed(tok: Tok, col_type: str, params: dict[str, pa.Scalar]) -> Any:
    """A literal or parameter as the Python value the column holds; _SKIP when unsure."""
    if tok.kind == "param":
        scalar = params.get(tok.value)
        if scalar is None or not scalar.is_valid:
            return _SKIP
        v = scalar.as_py()
    elif tok.kind == "str":
        v = tok.value
    elif tok.kind == "num":
        if not re.fullmatch(r"-?\d+", tok.value):
            return _SKIP
        v = int(tok.value)
    else:
        v = tok.value == "true"
    if col_type == "str":
        return v if isinstance(v, str) else _SKIP
    if col_type == "bool":
        return v if isinstance(v, bool) else _SKIP
    if isinstance(v, bool) or not isinstance(v, int):
        return _SKIP
    if col_type == "uint" and v < 0:
        return _SKIP
    return v


_SKIP = object()


def _col_type(tdef: TableDef, name: str) -> str | None:
    col = tdef.columns.get(name)
    if col is None:
        return None
    if col.kind == "tag" or col.field_type == FieldType.STRING:
        return "str"
    return {FieldType.INT: "int", FieldType.UINT: "uint", FieldType.BOOL: "bool"}.get(col.field_type)  # type: ignore[arg-type]


def _predicates(shape: Shape, columns: list[str], tdef: TableDef, params: dict[str, pa.Scalar]) -> dict[str, set]:
    """Key column -> allowed values, from `col = v` and `col IN (...)` conjuncts (intersected)."""
    out: dict[str, set] = {}
    for tok, values in shape.conjuncts:
        col = _names(tok, columns)
        if col is None:
            continue
        typ = _col_type(tdef, col)
        if typ is None:
            continue
        vs = [_typed(v, typ, params) for v in values]
        if any(v is _SKIP for v in vs):
            continue
        out[col] = set(vs) if col not in out else out[col] & set(vs)
    return out


def _depth(shape: Shape, columns: list[str]) -> int | None:
    """How many leading DVC columns the statement uses (None: all)."""
    if shape.star:
        return None
    used = [i for i, c in enumerate(columns) if (True, c) in shape.mentioned or (False, c) in shape.mentioned]
    return max(used) + 1 if used else None
