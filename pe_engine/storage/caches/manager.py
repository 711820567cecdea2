"""ValueCaches: every value cache of an engine, whatever its kind (reference §7, §8).

- keeps them current: it is the writer's first flush subscriber, so a plugin that queries a
  cache in `process_writes` sees the rows that fired it;
- persists their definitions (through the `CacheDefinitions` port: the store's
  `value_caches` table) and, on start and on create, refills them from the table's data
  (memory buffers and Parquet) with the SQL each kind asks for. Nothing older than a cache
  keeps is read. Flushes that land while a refill runs are queued and applied after it;
- answers SQL through its table functions (`functions`, a QueryEngine hook) and serves one
  system table per kind (`system_tables()`);
- gives the console read access: `list`, `get`, `items`/`entries` and a `version` counter
  that moves whenever any cache changes.

It is handed the catalog, the definitions port and an SQL runner, never the whole engine.
"""
from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from ...errors import AlreadyExists, DatabaseNotFound, NotFound, QueryError, TableNotFound
from ..catalog import Catalog, DatabaseDef, TableDef
from ..flush import FlushedWrites
from ..ports import CacheDefinitions
from .base import CacheItem, CacheKind, Clock, SqlRunner, ValueCache
from .distinct import DistinctCache, DistinctCacheDef, define_distinct_cache
from .kinds import KINDS
from .last import LastCache, LastCacheDef, define_last_cache
from .table_functions import CacheFunctions

log = logging.getLogger("pe.caches")

NO_CACHE = "could not find cache for the given arguments"
_Key = tuple[CacheKind, str, str, str]  # (kind, db, table, name)


class ValueCaches:
    def __init__(self, catalog: Catalog, definitions: CacheDefinitions, rows: SqlRunner, *,
                 clock: Clock = time.time_ns) -> None:
        self.catalog = catalog
        self.definitions = definitions
        self.rows = rows
        self.clock = clock  # wall clock in ns; tests inject their own before start()
        self.version = 0
        self.functions = CacheFunctions(self._resolve)  # the QueryEngine hook for SQL
        self._caches: dict[_Key, ValueCache] = {}
        self._by_table: dict[tuple[str, str], list[ValueCache]] = {}
        self._filling: dict[int, list[pa.RecordBatch]] = {}  # id(cache) -> flushes queued during a refill
        self._dead: list[_Key] = []  # store rows to delete (database went away)

    def system_tables(self) -> dict[str, Callable[[str], pa.Table]]:
        """One system table per kind (`last_caches`, `distinct_caches`): name -> provider(db)."""
        return {kind.system_table: self._system_table(kind) for kind in KINDS}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load the definitions and refill every cache (called by Engine.start after WAL replay)."""
        for kind_text, data in await self.definitions.load_value_caches():
            try:
                kind = CacheKind.parse(kind_text)
            except ValueError:
                log.warning("value cache of unknown kind %r in the store: skipped", kind_text)
                continue
            definition = KINDS[kind].from_json(data)
            cache = self._new(definition)
            if not self._alive(cache):
                await self.definitions.delete_value_cache(kind.value, definition.db, definition.table, definition.name)
                continue
            self._add(cache)
        await asyncio.gather(*(self._fill(c) for c in list(self._caches.values())))
        if self._caches:
            log.info("value caches: %d loaded and refilled", len(self._caches))

    def _new(self, d: Any) -> ValueCache:
        return KINDS[d.kind](d, self.clock)

    @staticmethod
    def _key(cache: ValueCache) -> _Key:
        d = cache.d
        return (cache.kind, d.db, d.table, d.name)

    def _add(self, cache: ValueCache) -> None:
        d = cache.d
        self._caches[self._key(cache)] = cache
        self._by_table.setdefault((d.db, d.table), []).append(cache)
        self.version += 1

    def _remove(self, cache: ValueCache) -> None:
        d = cache.d
        self._caches.pop(self._key(cache), None)
        group = self._by_table.get((d.db, d.table), [])
        if cache in group:
            group.remove(cache)
        if not group:
            self._by_table.pop((d.db, d.table), None)
        self._filling.pop(id(cache), None)
        self.version += 1

    def _alive(self, cache: ValueCache) -> bool:
        db = self.catalog.databases.get(cache.d.db)
        return db is not None and db.id == cache.d.db_id and cache.d.table in db.tables

    def _purge_dead(self) -> None:
        """Forget caches of deleted databases (the store rows go at the next async call)."""
        for cache in [c for c in self._caches.values() if not self._alive(c)]:
            self._remove(cache)
            self._dead.append(self._key(cache))

    async def _flush_dead(self) -> None:
        while self._dead:
            kind, db, table, name = self._dead.pop()
            await self.definitions.delete_value_cache(kind.value, db, table, name)

    # ------------------------------------------------------------------ management
    def _table(self, db: str, table: str) -> tuple[DatabaseDef, TableDef]:
        dbdef = self.catalog.databases.get(db)
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

    async def _create(self, cache: ValueCache) -> None:
        self._purge_dead()
        await self._flush_dead()
        d = cache.d
        if self._key(cache) in self._caches:
            raise AlreadyExists(f"a {cache.kind} cache named '{d.name}' already exists on table '{d.table}'")
        self._add(cache)  # now, so a concurrent create of the same name gets 409
        # Queue flushes from this moment: one applied before the refill would make the
        # refill's older rows look late, and the cache would lose them.
        self._filling[id(cache)] = []
        try:
            await self.definitions.save_value_cache(cache.kind.value, d.to_json())
        except BaseException:
            self._filling.pop(id(cache), None)
            self._remove(cache)
            raise
        await self._fill(cache)

    async def delete(self, kind: str, db: str, table: str, name: str) -> None:
        """404 when the database, the table or the cache does not exist."""
        k = CacheKind.parse(kind)
        self._purge_dead()
        await self._flush_dead()
        self._table(db, table)
        cache = self._caches.get((k, db, table, name))
        if cache is None:
            raise NotFound(f"{k} cache not found: '{name}' on table '{table}' in database '{db}'")
        self._remove(cache)
        await self.definitions.delete_value_cache(k.value, db, table, name)

    async def drop_table(self, db: str, table: str) -> None:
        """Forget every cache of a deleted table, and their stored definitions."""
        for cache in list(self._by_table.get((db, table), [])):
            self._remove(cache)
            await self.definitions.delete_value_cache(cache.kind.value, db, table, cache.d.name)

    async def delete_last_cache(self, db: str, table: str, name: str) -> None:
        await self.delete(CacheKind.LAST, db, table, name)

    async def delete_distinct_cache(self, db: str, table: str, name: str) -> None:
        await self.delete(CacheKind.DISTINCT, db, table, name)

    def list(self, db: str | None = None, kind: str | None = None) -> builtins.list[Any]:
        """Definitions, sorted by (kind, db, table, name). Safe from any thread."""
        return [c.d for c in self.caches(db, kind)]

    def caches(self, db: str | None = None, kind: str | None = None) -> builtins.list[ValueCache]:
        """The caches themselves, in the order of `list`. Safe from any thread."""
        return [
            c for _, c in sorted(self._caches.items())
            if (db is None or c.d.db == db) and (kind is None or c.kind == kind) and self._alive(c)
        ]

    def get(self, kind: str, db: str, table: str, name: str | None = None) -> ValueCache:
        """A cache by name, or the table's only cache of that kind when `name` is None.
        Safe from any thread (it changes nothing)."""
        k = CacheKind.parse(kind)
        cache: ValueCache | None
        if name is not None:
            cache = self._caches.get((k, db, table, name))
        else:
            group = [c for c in self._by_table.get((db, table), []) if c.kind == k and self._alive(c)]
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

    def entries(self, db: str, table: str, name: str | None = None, kind: str = CacheKind.LAST) -> builtins.list:
        """For the console: LVC -> CacheEntry(key, values, age s since insertion); DVC ->
        DistinctEntry(values, age s since the data time last seen)."""
        cache = self.get(kind, db, table, name)
        _, tdef = self._table(db, table)
        return cache.entries(tdef)

    def items(self, kind: str, db: str, table: str, name: str | None = None) -> builtins.list[CacheItem]:
        """For the console: the contents as uniform CacheItems, whatever the kind."""
        cache = self.get(kind, db, table, name)
        _, tdef = self._table(db, table)
        return cache.items(tdef)

    # ------------------------------------------------------------------ write path
    def on_flush(self, flushed: Sequence[FlushedWrites]) -> None:
        """FlushSubscriber: the writer's first, so caches hold a flush before triggers run."""
        self.apply({fw.database: fw.tables for fw in flushed})

    def apply(self, per_db: dict[str, dict[str, pa.RecordBatch]]) -> None:
        """Merge one WAL flush into the caches. Runs on the engine loop; never raises."""
        if not self._by_table:
            return
        now = self.clock()
        changed = False
        for db, tables in per_db.items():
            dbdef = self.catalog.databases.get(db)
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
    async def _fill(self, cache: ValueCache) -> None:
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
            if rows is not None:
                cache.refill(rows, tdef, now)
            for batch in queued:
                cache.update(batch, tdef)
        except Exception:
            log.exception("%s cache %s: refill failed", cache.kind, cache.d.name)
        self.version += 1

    def _recent_rows(self, cache: ValueCache, now: int) -> pa.Table | None:
        """Query thread: the rows a cache would hold had it been running."""
        d = cache.d
        db = self.catalog.databases.get(d.db)
        if db is None or d.table not in db.tables:
            return None
        query = cache.refill_query(db.tables[d.table], now)
        if query is None:
            return None
        return self.rows.execute(d.db, query.sql, query.params)

    # ------------------------------------------------------------------ SQL
    def _resolve(self, kind: CacheKind, db: str, table: str, name: str | None) -> tuple[ValueCache, TableDef]:
        """For the table functions: the cache and its table, or the QueryError InfluxDB gives."""
        dbdef = self.catalog.databases.get(db)
        tdef = dbdef.tables.get(table) if dbdef is not None else None
        if dbdef is None or tdef is None:
            raise QueryError("provided table name is invalid")
        try:
            cache = self.get(kind, db, table, name)
        except NotFound:
            raise QueryError(NO_CACHE) from None
        if cache.d.db_id != dbdef.id:
            raise QueryError(NO_CACHE)
        return cache, tdef

    # ------------------------------------------------------------------ system tables
    def _system_table(self, kind: CacheKind) -> Callable[[str], pa.Table]:
        def provider(db: str) -> pa.Table:
            return KINDS[kind].system_rows(self._defs_with_tables(db, kind))

        return provider

    def _defs_with_tables(self, db: str, kind: CacheKind) -> builtins.list[tuple[Any, TableDef]]:
        dbdef = self.catalog.databases.get(db)
        if dbdef is None:
            return []
        out = []
        for (k, cdb, table, _), cache in sorted(self._caches.items()):
            if k == kind and cdb == db and cache.d.db_id == dbdef.id and table in dbdef.tables:
                out.append((cache.d, dbdef.tables[table]))
        return out
