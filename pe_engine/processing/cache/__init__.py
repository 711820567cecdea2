"""Plugin caches: the store behind `influxdb3_local.cache`, split by job (namespaces and
TTLs, sizing and previews, snapshot codec, records, the store). The face re-exports the
public names; the per-trigger facade lives in `py_api.cache`."""
from __future__ import annotations

from ..py_api.cache import TriggerCache
from .codec import decode_value, encode_value
from .namespaces import (
    DEFAULT_TEST_CACHE_NAME,
    GLOBAL_NAMESPACE,
    MAX_TTL_SECONDS,
    Namespace,
    global_namespace,
    is_test_namespace,
    namespace_for_test,
    trigger_namespace,
    validate_ttl,
)
from .records import CacheEntryInfo, CacheRow, CacheStats, SnapshotReport
from .sizing import estimate_size
from .store import PluginCacheStore

__all__ = [
    "CacheEntryInfo",
    "CacheRow",
    "CacheStats",
    "DEFAULT_TEST_CACHE_NAME",
    "GLOBAL_NAMESPACE",
    "MAX_TTL_SECONDS",
    "Namespace",
    "PluginCacheStore",
    "SnapshotReport",
    "TriggerCache",
    "decode_value",
    "encode_value",
    "estimate_size",
    "global_namespace",
    "is_test_namespace",
    "namespace_for_test",
    "trigger_namespace",
    "validate_ttl",
]
