"""Value caches: last values (LVC) and distinct values (DVC) behind one interface (base.py)."""
from .base import CacheDefinition, CacheItem, CacheKind, CacheSummary, ValueCache
from .distinct import DistinctCache, DistinctCacheDef, DistinctEntry
from .kinds import KINDS
from .last import CacheEntry, LastCache, LastCacheDef
from .manager import ValueCaches

__all__ = [
    "KINDS", "CacheDefinition", "CacheEntry", "CacheItem", "CacheKind", "CacheSummary", "DistinctCache", "DistinctCacheDef",
    "DistinctEntry", "LastCache", "LastCacheDef", "ValueCache", "ValueCaches",
]
