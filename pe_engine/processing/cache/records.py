"""Plain records the cache store hands out: entry listings, stats, snapshot rows and reports."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .namespaces import Namespace

__all__ = ["CacheEntryInfo", "CacheStats", "CacheRow", "SnapshotReport", "MAX_SKIPPED_EXAMPLES"]

@dataclass(slots=True, frozen=True)
class CacheEntryInfo:
    """What the console and HTTP API show for one key (values are fetched separately)."""

    key: str
    type_name: str
    size_bytes: int
    ttl_remaining: float | None
    preview: str
    expires_at: float | None = None  # wall-clock epoch seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.type_name,
            "size_bytes": self.size_bytes,
            "ttl_remaining": self.ttl_remaining,
            "preview": self.preview,
            "expires_at": self.expires_at,
        }


@dataclass(slots=True, frozen=True)
class CacheStats:
    namespaces: int
    keys: int
    approx_bytes: int
    version: int
    keys_by_namespace: dict[Namespace, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "namespaces": self.namespaces,
            "keys": self.keys,
            "approx_bytes": self.approx_bytes,
            "version": self.version,
            "keys_by_namespace": [
                {"namespace": list(ns), "keys": n} for ns, n in self.keys_by_namespace.items()
            ],
        }


class CacheRow(NamedTuple):
    """One persisted cache entry. A NamedTuple (not a dataclass) so the store can hand
    a list of them straight to `executemany`."""

    namespace_json: str
    key: str
    value_blob: bytes
    codec: str  # "json" | "pickle"
    expires_at_wall: float | None


@dataclass(slots=True)
class SnapshotReport:
    rows: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    json_rows: int = 0
    pickle_rows: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "skipped": self.skipped,
            "skipped_examples": list(self.skipped_examples),
            "json_rows": self.json_rows,
            "pickle_rows": self.pickle_rows,
            "bytes": self.bytes,
        }


MAX_SKIPPED_EXAMPLES = 5
