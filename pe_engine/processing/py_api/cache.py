"""`influxdb3_local.cache`: one trigger's (or test run's) view of the plugin cache store.

Semantics follow InfluxDB 3 (reference §3.4): values by reference, a trigger-local
namespace plus one process-wide global namespace, float-second TTLs validated up front.
"""
from __future__ import annotations

import math
from typing import Any, Protocol

__all__ = ["Namespace", "GLOBAL_NAMESPACE", "MAX_TTL_SECONDS", "validate_ttl", "check_key", "CacheBackend", "TriggerCache"]

Namespace = tuple[str, ...]

GLOBAL_NAMESPACE: Namespace = ("global",)
#: TTLs above this are rejected as "huge" (10 years), like InfluxDB's Duration conversion failure
MAX_TTL_SECONDS = 10 * 365.25 * 86400.0


def validate_ttl(ttl: object) -> float | None:
    """Turn a plugin-supplied TTL into seconds, rejecting what InfluxDB rejects.

    Raises ValueError for negative, NaN, infinite or huge (> 10 years) values and
    TypeError for non-numbers, so mistakes surface at `put` instead of as
    entries that never (or instantly) expire.
    """
    if ttl is None:
        return None
    if isinstance(ttl, (str, bytes, bytearray)):
        raise TypeError(f"cache ttl must be a number of seconds, got {type(ttl).__name__}")
    try:
        seconds = float(ttl)  # type: ignore[arg-type]  # int, float, Fraction, Decimal, numpy scalars
    except OverflowError:
        raise ValueError("cache ttl is too large (maximum is 10 years)") from None
    except (TypeError, ValueError):
        raise TypeError(f"cache ttl must be a number of seconds, got {type(ttl).__name__}") from None
    if math.isnan(seconds):
        raise ValueError("cache ttl must be a number of seconds, got NaN")
    if seconds < 0:
        raise ValueError(f"cache ttl must not be negative, got {seconds!r}")
    if math.isinf(seconds) or seconds > MAX_TTL_SECONDS:
        raise ValueError(
            f"cache ttl is too large: {seconds!r} s (maximum is 10 years); omit ttl for no expiry"
        )
    return seconds


def check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"cache key must be a str, got {type(key).__name__}")
    return key


class CacheBackend(Protocol):
    """The store operations a plugin's cache facade uses (PluginCacheStore)."""

    def _put(self, ns: Namespace, key: str, value: Any, ttl: float | None) -> None: ...

    def _get(self, ns: Namespace, key: str, default: Any) -> Any: ...

    def _delete(self, ns: Namespace, key: str) -> bool: ...

    def maybe_sweep(self) -> None: ...


class TriggerCache:
    """`influxdb3_local.cache` for one trigger (or one test run).

    Local operations go to the trigger's namespace, `use_global=True` to the
    shared one. Every call may trigger the store-wide sweep (at most every 10 s).
    """

    __slots__ = ("_store", "_local", "_global")

    def __init__(self, store: CacheBackend, local: Namespace, global_: Namespace = GLOBAL_NAMESPACE):
        self._store = store
        self._local = local
        self._global = global_

    @property
    def namespace(self) -> Namespace:
        return self._local

    @property
    def global_namespace(self) -> Namespace:
        return self._global

    def _ns(self, use_global: bool | None) -> Namespace:
        return self._global if use_global else self._local

    def put(self, key: str, value: Any, ttl: float | None = None, use_global: bool | None = None) -> None:
        """Store `value` by reference; `ttl` in seconds (None = no expiry outside tests)."""
        check_key(key)
        seconds = validate_ttl(ttl)
        self._store._put(self._ns(use_global), key, value, seconds)

    def get(self, key: str, default: Any = None, use_global: bool | None = None) -> Any:
        """The stored object, or `default` when absent or expired."""
        check_key(key)
        return self._store._get(self._ns(use_global), key, default)

    def delete(self, key: str, use_global: bool | None = None) -> bool:
        """Remove a key; True when it existed (and had not expired)."""
        check_key(key)
        return self._store._delete(self._ns(use_global), key)

    def __repr__(self) -> str:
        return f"<TriggerCache {'/'.join(self._local)}>"
