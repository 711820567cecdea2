"""`system.tokens` in `_internal`, as InfluxDB 3: what each token is and may do, never the
token or its hash. `last_used_at` is kept in memory, so it counts from this start."""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pyarrow as pa

from .token_store import INTERNAL_DB, TokenStore

TABLE_NAME = "tokens"

_MS = pa.timestamp("ms")
SCHEMA = pa.schema([
    pa.field("token_id", pa.uint64(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("created_at", _MS, nullable=False),
    pa.field("created_by_token_id", pa.uint64()),
    pa.field("updated_at", _MS),
    pa.field("expiry", _MS),
    pa.field("permissions", pa.string(), nullable=False),
    pa.field("last_used_at", _MS),
])


class TableRegistry(Protocol):
    def register(self, name: str, provider: Callable[[str], pa.Table | None]) -> None: ...


def _ms(epoch: float | None) -> int | None:
    return None if epoch is None else int(epoch * 1000)


def tokens_table(store: TokenStore | None) -> pa.Table:
    if store is None:  # auth is off: no tokens
        return SCHEMA.empty_table()
    records = store.tokens
    return pa.table({
        "token_id": [r.id for r in records],
        "name": [r.name for r in records],
        "created_at": [_ms(r.created_at) for r in records],
        "created_by_token_id": [r.created_by for r in records],
        "updated_at": [_ms(r.updated_at) for r in records],
        "expiry": [_ms(r.expiry) for r in records],
        "permissions": [r.permissions_text() for r in records],
        "last_used_at": [_ms(store.last_used(r)) for r in records],
    }, schema=SCHEMA)


def register_tokens_table(registry: TableRegistry, store: TokenStore | None) -> None:
    """Serve the store's tokens as `system.tokens`, in `_internal` only."""

    def provide(db: str) -> pa.Table | None:
        return tokens_table(store) if db == INTERNAL_DB else None

    registry.register(TABLE_NAME, provide)
