"""Cache providers: what the live bridge reads for the Caches pane.

- `PluginCacheProvider`: the plugin cache store (`influxdb3_local.cache`), key/value scopes
  (a global one, one per trigger), listed with their keys, values read, keys deleted, scopes cleared;
- `ValueCacheProvider`: the engine's system caches (last-value and distinct-value caches),
  read-only: their listing and the contents of the one on screen.
"""
from __future__ import annotations

from typing import Any, Protocol

from ..model import CacheKey, CacheScope, ValueCacheContents, ValueCacheItem, ValueCacheRow, value_cache_id

VALUE_CACHE_KEYS = 500  # keys (LVC) / combinations (DVC) of the shown system cache sent per tick
VALUE_CACHE_ROWS = 2000  # LVC rows sent per tick (count > 1 keeps several rows per key)


class CacheProvider(Protocol):
    """One family of key/value cache scopes in the Caches pane (the plugin cache store).

    The engine's last-value and distinct-value caches are not key/value scopes (they
    are definitions over a table, shown as trees, read for the one cache on screen
    only): they come through `ValueCacheProvider` below.
    """

    name: str

    def version(self) -> int: ...

    def scopes(self, key_limit: int) -> list[CacheScope]: ...

    def value(self, namespace: tuple[str, ...], key: str) -> Any: ...

    def delete(self, namespace: tuple[str, ...], key: str) -> bool: ...

    def clear(self, namespace: tuple[str, ...]) -> int: ...


class PluginCacheProvider:
    """The `influxdb3_local.cache` store: a global scope and one scope per trigger."""

    name = "plugin"

    def __init__(self, store: Any) -> None:
        self.store = store

    def version(self) -> int:
        return self.store.version

    def scopes(self, key_limit: int) -> list[CacheScope]:
        from pe_engine.processing.cache import GLOBAL_NAMESPACE

        store = self.store
        namespaces = store.namespaces()
        if GLOBAL_NAMESPACE not in namespaces:
            namespaces = [GLOBAL_NAMESPACE, *namespaces]
        big = store.key_count > 20 * key_limit
        totals = store.stats().keys_by_namespace if big else {}
        out: list[CacheScope] = []
        for ns in namespaces:
            entries = store.entries(ns, limit=key_limit if big else None)
            total = totals.get(ns, len(entries)) if big else len(entries)
            keys = [
                CacheKey(e.key, e.type_name, e.size_bytes, e.ttl_remaining, e.preview, e.expires_at)
                for e in entries[:key_limit]
            ]
            approx = sum(k.size_bytes for k in keys)
            if keys and total > len(keys):
                approx = approx * total // len(keys)
            label, kind = scope_label(ns)
            out.append(CacheScope(
                id=f"{self.name}:{'/'.join(ns)}", label=label, kind=kind, provider=self.name,
                namespace=tuple(ns), total_keys=total, approx_bytes=approx, keys=keys,
            ))
        return out

    def value(self, namespace: tuple[str, ...], key: str) -> Any:
        return self.store.get_value(namespace, key)

    def delete(self, namespace: tuple[str, ...], key: str) -> bool:
        return self.store.delete_key(namespace, key)

    def clear(self, namespace: tuple[str, ...]) -> int:
        return self.store.clear(namespace)


class ValueCacheProvider:
    """The engine's system caches (`engine.value_caches`): last-value caches (LVC) and
    distinct-value caches (DVC). Read-only here: they are created and deleted with the CLI or the
    HTTP API. Every kind is read through the one ValueCache interface (storage/caches/base.py):
    `describe()` gives the listing row, `items()` the contents, so nothing here depends on the
    kind. Reads are safe from the collecting thread."""

    name = "system"

    def __init__(self, caches: Any) -> None:
        self.caches = caches

    def version(self) -> int:
        return self.caches.version

    def listing(self) -> list[ValueCacheRow]:
        rows: list[ValueCacheRow] = []
        for cache in self.caches.caches():
            s = cache.describe()
            rows.append(ValueCacheRow(
                id=value_cache_id(str(s.kind), s.db, s.table, s.name), kind=str(s.kind), db=s.db, table=s.table,
                name=s.name, columns=list(s.columns),
                value_columns=None if s.value_columns is None else list(s.value_columns),
                count=s.count, ttl=s.ttl, max_cardinality=s.max_cardinality, max_age=s.max_age,
                keys=int(s.keys), rows=int(s.rows),
            ))
        return rows

    def cache_version(self, row: ValueCacheRow) -> int | None:
        try:
            return int(self.caches.get(row.kind, row.db, row.table, row.name).version)
        except Exception:  # noqa: BLE001 -- deleted meanwhile
            return None

    def contents(self, row: ValueCacheRow, now: float, key_limit: int = VALUE_CACHE_KEYS,
                 row_limit: int = VALUE_CACHE_ROWS) -> ValueCacheContents:
        """The cache's items, sorted as the cache keeps them: the first `key_limit` keys (an LVC
        keeps up to `count` rows per key, a DVC one item per combination), `row_limit` items."""
        version = self.cache_version(row) or 0
        items: list[ValueCacheItem] = []
        keys = 0
        last: Any = object()
        for it in self.caches.items(row.kind, row.db, row.table, row.name):
            key = tuple(it.key)
            if key != last:
                keys += 1
                last = key
            if keys <= key_limit and len(items) < row_limit:
                items.append(ValueCacheItem(key, None if it.values is None else dict(it.values), float(it.age)))
        return ValueCacheContents(id=row.id, at=now, total=keys, items=items, version=version)


def scope_label(ns: tuple[str, ...]) -> tuple[str, str]:
    if ns == ("global",):
        return "global", "global"
    if len(ns) == 3 and ns[0] == "trigger":
        return f"{ns[1]}/{ns[2]}", "trigger"
    if ns and ns[0] == "test":
        return "test:" + "/".join(ns[1:]), "test"
    return "/".join(ns), "other"


