"""The bounded in-memory Parquet cache (`--parquet-mem-cache-size`).

Decoded files, least recently used out first, never more than the budget. Only files the caller
calls hot (a table's newest day) are admitted; every other file is streamed from disk by
DataFusion through a `pyarrow.dataset` (projection and predicate pushdown, files that cannot
match never opened). A file that cannot be read is not cached: the query that needs it reports
it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

DEFAULT_PARQUET_MEM_CACHE_BYTES = 256 * 1024 * 1024


class DecodedFiles:
    def __init__(self, max_bytes: int, fs: pafs.FileSystem | None = None) -> None:
        self.max_bytes = max_bytes
        self.fs = fs or pafs.LocalFileSystem()
        self.bytes = 0
        self._lock = threading.Lock()
        self._tables: OrderedDict[str, pa.Table] = OrderedDict()
        self._too_big: set[str] = set()

    def get(self, path: str, *, admit: bool) -> pa.Table | None:
        """The decoded file, or None: stream it from disk instead."""
        with self._lock:
            t = self._tables.get(path)
            if t is not None:
                self._tables.move_to_end(path)
                return t
        if not admit or self.max_bytes <= 0 or path in self._too_big:
            return None
        try:
            with self.fs.open_input_file(path) as f:
                if f.size() > self.max_bytes:  # compressed size already over: decoded is too
                    self._too_big.add(path)
                    return None
                t = pq.read_table(f)
        except (OSError, pa.ArrowException):
            return None
        t = t.replace_schema_metadata(None)
        if t.nbytes > self.max_bytes:
            self._too_big.add(path)
            return None
        with self._lock:
            if path in self._tables:
                return self._tables[path]
            self._tables[path] = t
            self.bytes += t.nbytes
            while self.bytes > self.max_bytes and len(self._tables) > 1:
                _, old = self._tables.popitem(last=False)
                self.bytes -= old.nbytes
        return t

    def evict(self, paths: set[str] | list[str] | tuple[str, ...]) -> None:
        with self._lock:
            for p in paths:
                t = self._tables.pop(p, None)
                if t is not None:
                    self.bytes -= t.nbytes
                self._too_big.discard(p)

    def __contains__(self, path: str) -> bool:
        return path in self._tables
