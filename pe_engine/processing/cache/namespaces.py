"""Cache namespaces (trigger-local, global, test runs), TTL validation and the store's limits."""
from __future__ import annotations

from typing import Sequence

from ..py_api.cache import GLOBAL_NAMESPACE, MAX_TTL_SECONDS, Namespace, check_key, validate_ttl

__all__ = [
    "Namespace", "GLOBAL_NAMESPACE", "DEFAULT_TEST_CACHE_NAME", "TEST_DEFAULT_TTL", "SWEEP_INTERVAL",
    "MAX_TTL_SECONDS", "PREVIEW_CHARS", "trigger_namespace", "global_namespace", "namespace_for_test",
    "is_test_namespace", "norm_ns", "validate_ttl", "check_key",
]

DEFAULT_TEST_CACHE_NAME = "_shared_test"
#: entries written without a TTL in a test namespace expire after this long (InfluxDB: 30 min)
TEST_DEFAULT_TTL = 30 * 60.0
#: the store-wide sweep runs at most this often, and only when the cache is used (InfluxDB: 10 s)
SWEEP_INTERVAL = 10.0
PREVIEW_CHARS = 120


def trigger_namespace(database: str, trigger_name: str) -> Namespace:
    """Namespace of one trigger's local cache."""
    return ("trigger", database, trigger_name)


def global_namespace() -> Namespace:
    """The process-wide namespace shared by all triggers (`use_global=True`)."""
    return GLOBAL_NAMESPACE


def namespace_for_test(cache_name: str = DEFAULT_TEST_CACHE_NAME) -> Namespace:
    """Namespace of a plugin test run (`cache_name`, default `_shared_test`)."""
    return ("test", cache_name)


def is_test_namespace(namespace: Namespace) -> bool:
    """Test namespaces get the 30-minute default TTL and are not snapshotted by default."""
    return bool(namespace) and namespace[0] == "test"


def norm_ns(namespace: Sequence[str]) -> Namespace:
    """Accept lists (from JSON/HTTP) as well as tuples."""
    return namespace if isinstance(namespace, tuple) else tuple(namespace)
