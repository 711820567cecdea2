"""Value caches: last values (LVC) and distinct values (DVC) behind one interface (base.py)."""
from .base import CacheDefinition, CacheItem, CacheKind, ValueCache
from .distinct import DistinctCache, DistinctCacheDef, DistinctEntry
from .kinds import KINDS
from .last import CacheEntry, LastCache, LastCacheDef
from .manager import ValueCaches

__all__ = [
    "KINDS", "CacheDefinition", "CacheEntry", "CacheItem", "CacheKind", "DistinctCache", "DistinctCacheDef",
    "DistinctEntry", "LastCache", "LastCacheDef", "ValueCache", "ValueCaches",
]
