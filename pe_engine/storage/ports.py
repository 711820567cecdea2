"""What storage needs from the control-plane store, as small interfaces.

The store (pe_engine.store) sits above storage in the layers, so storage never imports it:
the engine hands its Store in, and it fits these shapes.
"""
from __future__ import annotations

from typing import Protocol

from .catalog import Catalog
from .parquet_meta import FileRecord


class CatalogSaver(Protocol):
    """Makes catalog changes durable (the writer saves after a flush that changed schemas)."""

    @property
    def saved_catalog_version(self) -> int: ...

    async def save_catalog(self, catalog: Catalog) -> None: ...


class SnapshotRecorder(Protocol):
    """Records persisted Parquet files and the WAL sequence they cover, in one transaction."""

    async def record_snapshot(self, through_seq: int, files: list[FileRecord]) -> None: ...


class FileSwapper(Protocol):
    """Replaces files by the file they were merged into, in one transaction (compaction)."""

    async def replace_files(self, old: list[str], new: list[FileRecord]) -> None: ...


class CacheDefinitions(Protocol):
    """Where value-cache definitions live between restarts."""

    async def load_value_caches(self) -> list[tuple[str, dict]]: ...

    async def save_value_cache(self, kind: str, definition: dict) -> None: ...

    async def delete_value_cache(self, kind: str, database: str, table: str, name: str) -> None: ...
