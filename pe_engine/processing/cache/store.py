"""The plugin cache store: every namespace of the process behind one lock.

Semantics follow InfluxDB 3 (reference §3.4): values are kept by reference, a
trigger-local namespace per (database, trigger) plus one process-wide global
namespace, float-second TTLs validated up front, expired entries dropped on
`get`, a store-wide sweep at most every 10 s while the cache is in use. Test
runs get their own namespaces where entries without a TTL live 30 minutes.

Beyond InfluxDB (which loses caches on restart) the store can `snapshot()` to
plain rows and `restore()` them with their remaining TTL; the engine persists
the rows in its SQLite store. Unpickling is only ever done on rows this engine
wrote to its own data directory.

Expiry uses a monotonic clock so wall-clock jumps never expire or resurrect
entries; wall-clock expiry times are kept alongside for snapshots.

"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ..py_api.cache import TriggerCache
from .codec import Unserialisable, decode_value, encode_value, json_encoder
from .namespaces import (
    DEFAULT_TEST_CACHE_NAME,
    GLOBAL_NAMESPACE,
    SWEEP_INTERVAL,
    TEST_DEFAULT_TTL,
    Namespace,
    is_test_namespace,
    namespace_for_test,
    norm_ns,
    trigger_namespace,
)
from .records import MAX_SKIPPED_EXAMPLES, CacheEntryInfo, CacheRow, CacheStats, SnapshotReport
from .sizing import estimate_size, preview, type_name

__all__ = ["PluginCacheStore"]

_log = logging.getLogger("pe_engine.processing.cache")
#: heap compaction kicks in when stale expiry records outnumber live keys by this factor
_HEAP_SLACK = 2
_HEAP_MIN_COMPACT = 4096


@dataclass(slots=True, eq=False)
class _Entry:
    value: Any
    expires_mono: float | None
    expires_wall: float | None


class PluginCacheStore:
    """Every plugin cache namespace of the process, behind one lock.

    Plugins call in from worker threads, the console and HTTP from theirs; the
    lock is held only for dict operations, never while sizing, printing or
    serialising values (which run plugin code: `__repr__`, `__reduce__`...).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sweep_interval: float = SWEEP_INTERVAL,
        test_default_ttl: float = TEST_DEFAULT_TTL,
    ) -> None:
        self._clock = clock
        self._wall = wall_clock
        self._sweep_interval = sweep_interval
        self._test_ttl = test_default_ttl
        self._lock = threading.Lock()
        self._data: dict[Namespace, dict[str, _Entry]] = {}
        self._count = 0
        # (expires_mono, seq, namespace, key, entry); stale records are skipped by identity
        self._heap: list[tuple[float, int, Namespace, str, _Entry]] = []
        self._seq = itertools.count()
        self._version = 0
        self._last_sweep = clock()
        self._sweeps = 0

    # ---- handles for plugins

    def trigger_cache(self, database: str, trigger_name: str) -> TriggerCache:
        """The `influxdb3_local.cache` object for one trigger."""
        return TriggerCache(self, trigger_namespace(database, trigger_name), GLOBAL_NAMESPACE)

    def test_cache(self, cache_name: str | None = None) -> TriggerCache:
        """The cache object for a plugin test run.

        Both scopes stay inside test namespaces so a dry run never touches
        production caches: local = ("test", name), global = ("test", name, "global").
        """
        ns = namespace_for_test(cache_name or DEFAULT_TEST_CACHE_NAME)
        return TriggerCache(self, ns, ns + ("global",))

    # ---- plugin-facing primitives (called by TriggerCache)

    def _put(self, ns: Namespace, key: str, value: Any, ttl: float | None) -> None:
        now = self._clock()
        if ttl is None and is_test_namespace(ns):
            ttl = self._test_ttl
        if ttl is None:
            entry = _Entry(value, None, None)
        else:
            entry = _Entry(value, now + ttl, self._wall() + ttl)
        with self._lock:
            self._maybe_sweep_locked(now)
            self._insert_locked(ns, key, entry)
            self._version += 1

    def _get(self, ns: Namespace, key: str, default: Any) -> Any:
        now = self._clock()
        with self._lock:
            self._maybe_sweep_locked(now)
            bucket = self._data.get(ns)
            if bucket is None:
                return default
            entry = bucket.get(key)
            if entry is None:
                return default
            if entry.expires_mono is not None and now >= entry.expires_mono:
                self._remove_locked(ns, bucket, key)
                self._version += 1
                return default
            return entry.value

    def _delete(self, ns: Namespace, key: str) -> bool:
        now = self._clock()
        with self._lock:
            self._maybe_sweep_locked(now)
            return self._delete_locked(ns, key, now)

    # ---- internals (lock held)

    def _insert_locked(self, ns: Namespace, key: str, entry: _Entry, push: bool = True) -> None:
        bucket = self._data.get(ns)
        if bucket is None:
            bucket = self._data[ns] = {}
        if key not in bucket:
            self._count += 1
        bucket[key] = entry
        if push and entry.expires_mono is not None:
            heapq.heappush(self._heap, (entry.expires_mono, next(self._seq), ns, key, entry))
            if len(self._heap) > _HEAP_MIN_COMPACT and len(self._heap) > _HEAP_SLACK * self._count:
                self._compact_heap_locked()

    def _remove_locked(self, ns: Namespace, bucket: dict[str, _Entry], key: str) -> None:
        del bucket[key]
        self._count -= 1
        if not bucket:
            del self._data[ns]

    def _delete_locked(self, ns: Namespace, key: str, now: float) -> bool:
        bucket = self._data.get(ns)
        if bucket is None or key not in bucket:
            return False
        entry = bucket[key]
        self._remove_locked(ns, bucket, key)
        self._version += 1
        # an expired-but-unswept key no longer "exists" for the plugin
        return entry.expires_mono is None or now < entry.expires_mono

    def _compact_heap_locked(self) -> None:
        """Rebuild the expiry heap from live entries (overwrites leave stale records)."""
        heap = [
            (e.expires_mono, next(self._seq), ns, k, e)
            for ns, bucket in self._data.items()
            for k, e in bucket.items()
            if e.expires_mono is not None
        ]
        heapq.heapify(heap)
        self._heap = heap

    def _maybe_sweep_locked(self, now: float) -> None:
        if now - self._last_sweep >= self._sweep_interval:
            self._sweep_locked(now)

    def _sweep_locked(self, now: float) -> int:
        self._last_sweep = now
        self._sweeps += 1
        heap = self._heap
        removed = 0
        while heap and heap[0][0] <= now:
            _, _, ns, key, entry = heapq.heappop(heap)
            bucket = self._data.get(ns)
            if bucket is not None and bucket.get(key) is entry:
                self._remove_locked(ns, bucket, key)
                removed += 1
        if removed:
            self._version += 1
        return removed

    def _live_items_locked(self, ns: Namespace, now: float) -> list[tuple[str, _Entry]]:
        bucket = self._data.get(ns)
        if not bucket:
            return []
        return [
            (k, e) for k, e in bucket.items() if e.expires_mono is None or now < e.expires_mono
        ]

    # ---- operator API

    @property
    def version(self) -> int:
        """Changes on every mutation; the console polls it to skip refreshes."""
        return self._version

    @property
    def key_count(self) -> int:
        """Keys held in memory, including expired ones not yet swept (no sweep is run)."""
        return self._count

    @property
    def sweeps(self) -> int:
        """How many store-wide sweeps have run (diagnostics)."""
        return self._sweeps

    def maybe_sweep(self) -> None:
        """Sweep if the last one was >= 10 s ago (InfluxDB: on reading the `cache` property)."""
        now = self._clock()
        with self._lock:
            self._maybe_sweep_locked(now)

    def sweep(self) -> int:
        """Drop every expired entry now; returns how many were dropped."""
        now = self._clock()
        with self._lock:
            return self._sweep_locked(now)

    def namespaces(self) -> list[Namespace]:
        """Namespaces holding at least one entry, sorted."""
        now = self._clock()
        with self._lock:
            self._maybe_sweep_locked(now)
            names = list(self._data)
        return sorted(names)

    def entries(self, namespace: Sequence[str], limit: int | None = None) -> list[CacheEntryInfo]:
        """Live entries of a namespace sorted by key, sized and previewed outside the lock."""
        ns = norm_ns(namespace)
        now = self._clock()
        with self._lock:
            items = self._live_items_locked(ns, now)
        items.sort(key=lambda kv: kv[0])
        if limit is not None:
            items = items[: max(0, limit)]
        out: list[CacheEntryInfo] = []
        for key, e in items:
            out.append(
                CacheEntryInfo(
                    key=key,
                    type_name=type_name(e.value),
                    size_bytes=estimate_size(e.value, budget=256),
                    ttl_remaining=None if e.expires_mono is None else max(0.0, e.expires_mono - now),
                    preview=preview(e.value),
                    expires_at=e.expires_wall,
                )
            )
        return out

    def get_value(self, namespace: Sequence[str], key: str) -> Any:
        """The stored object itself (by reference). KeyError when absent or expired."""
        ns = norm_ns(namespace)
        now = self._clock()
        with self._lock:
            bucket = self._data.get(ns)
            entry = bucket.get(key) if bucket is not None else None
            if entry is None:
                raise KeyError(key)
            if entry.expires_mono is not None and now >= entry.expires_mono:
                self._remove_locked(ns, bucket, key)  # type: ignore[arg-type]
                self._version += 1
                raise KeyError(key)
            return entry.value

    def delete_key(self, namespace: Sequence[str], key: str) -> bool:
        """Operator delete; True when a live key was removed."""
        ns = norm_ns(namespace)
        now = self._clock()
        with self._lock:
            return self._delete_locked(ns, key, now)

    def clear(self, namespace: Sequence[str]) -> int:
        """Remove every entry of a namespace; returns how many were removed."""
        ns = norm_ns(namespace)
        with self._lock:
            bucket = self._data.pop(ns, None)
            if not bucket:
                return 0
            n = len(bucket)
            self._count -= n
            self._version += 1
            return n

    def drop_trigger(self, database: str, trigger_name: str) -> int:
        """Drop a trigger's local cache (InfluxDB does this when the trigger stops)."""
        return self.clear(trigger_namespace(database, trigger_name))

    def drop_database(self, database: str) -> int:
        """Drop the local caches of every trigger of a database (database deleted)."""
        with self._lock:
            doomed = [ns for ns in self._data if len(ns) == 3 and ns[0] == "trigger" and ns[1] == database]
            n = 0
            for ns in doomed:
                n += len(self._data.pop(ns))
            if doomed:
                self._count -= n
                self._version += 1
            return n

    def stats(self) -> CacheStats:
        """Counts and an approximate byte size (sampled beyond 5,000 keys to bound cost)."""
        now = self._clock()
        with self._lock:
            self._maybe_sweep_locked(now)
            version = self._version
            by_ns = {ns: len(b) for ns, b in self._data.items()}
            values = [e.value for b in self._data.values() for e in b.values()]
        keys = len(values)
        sample_limit = 5000
        if keys > sample_limit:
            step = keys / sample_limit
            sample = [values[int(i * step)] for i in range(sample_limit)]
        else:
            sample = values
        total = sum(estimate_size(v, budget=128) for v in sample)
        approx = int(total * keys / len(sample)) if sample else 0
        return CacheStats(
            namespaces=len(by_ns),
            keys=keys,
            approx_bytes=approx,
            version=version,
            keys_by_namespace=dict(sorted(by_ns.items())),
        )

    # ---- persistence

    def snapshot(self, *, include_test: bool = False) -> tuple[list[CacheRow], SnapshotReport]:
        """Serialise every live entry to rows; never raises.

        Entries are copied under the lock in one pass and serialised outside it.
        Values that cannot be serialised are skipped and counted. Test namespaces
        are left out unless `include_test`.
        """
        now = self._clock()
        with self._lock:
            copied = [
                (ns, k, e.value, e.expires_wall)
                for ns, bucket in self._data.items()
                if include_test or not is_test_namespace(ns)
                for k, e in bucket.items()
                if e.expires_mono is None or now < e.expires_mono
            ]
        report = SnapshotReport()
        rows: list[CacheRow] = []
        ns_json: dict[Namespace, str] = {}
        encoder = json_encoder()
        for ns, key, value, expires_wall in copied:
            try:
                blob, codec = encode_value(value, encoder)
            except Unserialisable as exc:
                reason = str(exc)
            except BaseException as exc:  # noqa: BLE001 - a plugin's __reduce__ can raise anything
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                reason = f"{type(exc).__name__}: {exc}"[:200]
            else:
                nsj = ns_json.get(ns)
                if nsj is None:
                    nsj = ns_json[ns] = json.dumps(list(ns), ensure_ascii=False)
                rows.append(CacheRow(nsj, key, blob, codec, expires_wall))
                report.bytes += len(blob)
                if codec == "json":
                    report.json_rows += 1
                else:
                    report.pickle_rows += 1
                continue
            report.skipped += 1
            if len(report.skipped_examples) < MAX_SKIPPED_EXAMPLES:
                report.skipped_examples.append(f"{'/'.join(ns)}/{key}: {reason}")
        report.rows = len(rows)
        return rows, report

    def restore(
        self,
        rows: Iterable[Sequence[Any]],
        now_wall: float | None = None,
        *,
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        """Re-create entries from snapshot rows with their remaining TTL.

        Rows already expired at `now_wall` are dropped; rows that fail to decode
        (e.g. a pickled class that no longer exists) are skipped and reported to
        `on_error` (default: logged). Returns the number of entries restored.
        """
        wall_now = self._wall() if now_wall is None else now_wall
        mono_now = self._clock()
        decoded: list[tuple[Namespace, str, _Entry]] = []
        namespaces: dict[str, Namespace] = {}
        for row in rows:
            try:
                namespace_json, key, blob, codec, expires_wall = row
                ns = namespaces.get(namespace_json)
                if ns is None:
                    ns = tuple(json.loads(namespace_json))
                    if not ns or not all(isinstance(p, str) for p in ns):
                        raise ValueError(f"bad namespace {namespace_json!r}")
                    namespaces[namespace_json] = ns
                if not isinstance(key, str):
                    raise ValueError(f"bad key {key!r}")
                if expires_wall is not None:
                    remaining = float(expires_wall) - wall_now
                    if remaining <= 0:
                        continue
                    entry = _Entry(None, mono_now + remaining, float(expires_wall))
                elif is_test_namespace(ns):
                    entry = _Entry(None, mono_now + self._test_ttl, wall_now + self._test_ttl)
                else:
                    entry = _Entry(None, None, None)
                entry.value = decode_value(blob, codec)
            except Exception as exc:
                msg = f"cache restore skipped a row: {type(exc).__name__}: {exc}"[:300]
                if on_error is not None:
                    on_error(msg)
                else:
                    _log.warning(msg)
                continue
            decoded.append((ns, key, entry))
        if not decoded:
            return 0
        with self._lock:
            for ns, key, entry in decoded:
                self._insert_locked(ns, key, entry, push=False)
            self._compact_heap_locked()  # one heapify instead of a push per row
            self._version += 1
        return len(decoded)
