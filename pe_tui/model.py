"""What the console shows, as plain data: one `Tick` per refresh.

A source (the live `EngineBridge` or a `RecordedSource`) produces ticks; panes
only ever read these types. Nothing here imports Textual, and every type
round-trips through JSON (`Tick.to_json` / `Tick.from_json`) so a live session
can be recorded and replayed in tests and screenshots.

Snapshot fields (`triggers`, `caches`, `plugins`, `series`, `value_caches`,
`value_cache`) are `None` when nothing changed since the previous tick: panes
keep what they have. Stream
fields (`activations`, `logs`) hold only what is new since the previous tick.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from pe_engine.processing.activations import ActivationRecord, SeriesPoint
from pe_engine.storage.caches.base import CacheKind

__all__ = [
    "ActivationRecord",
    "CacheKey",
    "CacheScope",
    "LogLine",
    "PluginRow",
    "PluginVersionRow",
    "SeriesPoint",
    "StatusInfo",
    "Tick",
    "TriggerDetail",
    "TriggerRow",
    "ValueCacheContents",
    "ValueCacheItem",
    "ValueCacheRow",
    "trigger_key",
    "value_cache_id",
]

MAX_MERGED_ACTIVATIONS = 2000
MAX_MERGED_LOGS = 5000


def trigger_key(database: str, name: str) -> str:
    """Row key of a trigger everywhere in the console."""
    return f"{database}/{name}"


@dataclass(slots=True)
class StatusInfo:
    now: float = 0.0
    started_at: float = 0.0
    writes_per_s: float = 0.0
    lines_per_s: float = 0.0
    activations_per_s: float = 0.0
    errors_per_min: float = 0.0
    wal_flush_interval: float = 1.0
    http_url: str | None = None
    events_dropped: int = 0
    triggers: int = 0
    triggers_enabled: int = 0
    load_rate: int | None = None  # demo load generator, lines/s (None: no generator)
    data_dir: str = ""
    # where plugins run: the server's default (--plugin-isolation), and the pool of worker
    # processes once process isolation is in use (workers None: no pool started)
    plugin_isolation: str = "thread"  # thread | process
    workers: int | None = None  # worker processes alive now
    workers_max: int = 0  # --plugin-processes
    workers_started: int = 0  # started since the engine started
    workers_replaced: int = 0  # died or were killed mid-activation (crashed, limits)
    worker_pids: list[int] = field(default_factory=list)

    @property
    def uptime(self) -> float:
        return max(0.0, self.now - self.started_at)


@dataclass(slots=True)
class TriggerRow:
    database: str
    name: str
    spec: str
    kind: str  # wal | schedule | request
    plugin: str
    state: str  # enabled | disabled | disabled_by_error
    mode: str  # sync | async
    runs: int = 0
    errors: int = 0
    p50: float | None = None  # run time, seconds
    p99: float | None = None
    latency_p50: float | None = None  # dispatch latency, seconds
    latency_p99: float | None = None
    cpu_time: float = 0.0  # total seconds
    memory: int | None = None  # bytes, last activation's peak
    memory_max: int | None = None
    last_run: float | None = None
    last_status: str | None = None
    next_fire: float | None = None  # epoch seconds, schedules only
    last_error: str | None = None
    disabled_reason: str | None = None
    queued: int = 0
    error_behavior: str = "log"
    isolation: str = "thread"  # where its plugin runs: thread | process
    isolation_setting: str | None = None  # the trigger's own setting; None: the server's default

    @property
    def key(self) -> str:
        return trigger_key(self.database, self.name)


@dataclass(slots=True)
class CacheKey:
    key: str
    type_name: str
    size_bytes: int
    ttl_remaining: float | None  # seconds at collection time; None = no expiry
    preview: str
    expires_at: float | None = None  # epoch seconds


@dataclass(slots=True)
class CacheScope:
    """One plugin cache namespace. `provider` says who owns it (see bridge.CacheProvider).
    The engine's last-value / distinct-value caches are not scopes: see ValueCacheRow."""

    id: str  # stable row key, e.g. "plugin:trigger/demo/cpu_rollup"
    label: str  # what the operator reads: "global", "demo/cpu_rollup"
    kind: str  # global | trigger | test | system
    provider: str = "plugin"
    namespace: tuple[str, ...] = ()
    total_keys: int = 0
    approx_bytes: int = 0
    keys: list[CacheKey] = field(default_factory=list)  # may be truncated (see total_keys)


def value_cache_id(kind: str, db: str, table: str, name: str) -> str:
    """Row key of a system cache: "lvc:db/table/name" (last values) or "dvc:db/table/name" (distinct),
    the prefix being the kind's own abbreviation (CacheKind.short; ValueError for an unknown kind)."""
    return f"{CacheKind(kind).short}:{db}/{table}/{name}"


@dataclass(slots=True)
class ValueCacheRow:
    """One system cache of the engine (`engine.value_caches`): a last-value cache (LVC) or a
    distinct-value cache (DVC), as the Caches pane lists it."""

    id: str  # value_cache_id(...)
    kind: str  # last | distinct
    db: str
    table: str
    name: str
    columns: list[str]  # LVC: the key columns; DVC: the column hierarchy (first = top level)
    value_columns: list[str] | None = None  # LVC: None = every non-key column
    count: int = 0  # LVC: rows kept per key
    ttl: int = 0  # LVC: seconds
    max_cardinality: int = 0  # DVC
    max_age: int = 0  # DVC: seconds
    keys: int = 0  # held now: LVC keys, DVC combinations (expired ones until the next eviction)
    rows: int = 0  # LVC rows held

    @property
    def label(self) -> str:
        return f"{self.db}/{self.table}/{self.name}"


@dataclass(slots=True)
class ValueCacheItem:
    """One entry of a system cache. LVC: one cached row (`key` = the key column values,
    `values` = the value columns, `time` as int ns, `age` = seconds since it was cached).
    DVC: one combination (`key` = its values, `values` None, `age` = seconds since the data
    time it was last seen with)."""

    key: tuple
    values: dict[str, Any] | None
    age: float


@dataclass(slots=True)
class ValueCacheContents:
    """What the selected system cache holds, collected at `at` (ages are relative to it).
    Sent only for the cache the Caches pane shows, only when it changed, capped (`total`
    is the real number of keys / combinations)."""

    id: str
    at: float
    total: int
    items: list[ValueCacheItem] = field(default_factory=list)
    version: int = 0  # the cache's own version when collected


@dataclass(slots=True)
class PluginVersionRow:
    content_hash: str
    first_seen: float
    source: str
    size_bytes: int


@dataclass(slots=True)
class PluginRow:
    filename: str
    kind: str | None
    content_hash: str | None
    versions: list[PluginVersionRow] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    last_error: str | None = None
    size_bytes: int = 0
    last_modified: float | None = None  # epoch seconds
    source: str | None = None


@dataclass(slots=True)
class LogLine:
    time: float  # epoch seconds
    level: str  # INFO | WARN | ERROR
    source: str  # "engine", "console" or "db/trigger"
    text: str

    @property
    def trigger(self) -> str:
        return self.source.partition("/")[2] if "/" in self.source else ""


@dataclass(slots=True)
class TriggerDetail:
    """Everything the trigger detail screen shows (fetched on demand)."""

    row: TriggerRow
    arguments: dict[str, str] | None
    settings: dict[str, Any]
    next_fires: list[float]  # epoch seconds
    recent: list[ActivationRecord]
    created_at: float | None = None


@dataclass(slots=True)
class Tick:
    at: float
    status: StatusInfo
    activations: list[ActivationRecord] = field(default_factory=list)  # new, oldest first
    activations_skipped: int = 0
    logs: list[LogLine] = field(default_factory=list)  # new, oldest first
    logs_skipped: int = 0
    triggers: list[TriggerRow] | None = None
    caches: list[CacheScope] | None = None
    plugins: list[PluginRow] | None = None
    series: dict[str, list[SeriesPoint]] | None = None  # trigger key -> 5 s buckets, oldest first
    # trigger key -> recent (run time, dispatch latency) pairs, oldest first: sent with the first
    # tick so the run-time histogram does not start empty (later ticks: the activations stream)
    samples: dict[str, list[tuple[float, float]]] | None = None
    value_caches: list[ValueCacheRow] | None = None  # the system caches (definitions, sizes)
    value_cache: ValueCacheContents | None = None  # contents of the one the Caches pane shows
    seq: int = 0

    @property
    def empty(self) -> bool:
        """Nothing but the status changed."""
        return not (
            self.activations or self.logs or self.logs_skipped or self.activations_skipped
            or self.triggers is not None or self.caches is not None
            or self.plugins is not None or self.series is not None or self.samples is not None
            or self.value_caches is not None or self.value_cache is not None
        )

    def merged(self, newer: "Tick") -> "Tick":
        """This tick followed by `newer` as one (pause, slow repaint): streams
        concatenated and capped (the cut is counted), newest snapshots win."""
        acts = self.activations + newer.activations
        a_skip = self.activations_skipped + newer.activations_skipped
        if len(acts) > MAX_MERGED_ACTIVATIONS:
            a_skip += len(acts) - MAX_MERGED_ACTIVATIONS
            acts = acts[-MAX_MERGED_ACTIVATIONS:]
        logs = self.logs + newer.logs
        l_skip = self.logs_skipped + newer.logs_skipped
        if len(logs) > MAX_MERGED_LOGS:
            l_skip += len(logs) - MAX_MERGED_LOGS
            logs = logs[-MAX_MERGED_LOGS:]
        return Tick(
            at=newer.at,
            status=newer.status,
            activations=acts,
            activations_skipped=a_skip,
            logs=logs,
            logs_skipped=l_skip,
            triggers=newer.triggers if newer.triggers is not None else self.triggers,
            caches=newer.caches if newer.caches is not None else self.caches,
            plugins=newer.plugins if newer.plugins is not None else self.plugins,
            series=newer.series if newer.series is not None else self.series,
            samples=newer.samples if newer.samples is not None else self.samples,
            value_caches=newer.value_caches if newer.value_caches is not None else self.value_caches,
            value_cache=newer.value_cache if newer.value_cache is not None else self.value_cache,
            seq=newer.seq,
        )

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "seq": self.seq,
            "status": asdict(self.status),
            "activations": [a.to_json() for a in self.activations],
            "activations_skipped": self.activations_skipped,
            "logs": [asdict(x) for x in self.logs],
            "logs_skipped": self.logs_skipped,
            "triggers": None if self.triggers is None else [asdict(t) for t in self.triggers],
            "caches": None if self.caches is None else [_scope_json(c) for c in self.caches],
            "plugins": None if self.plugins is None else [asdict(p) for p in self.plugins],
            "series": None if self.series is None else {
                k: [p.to_json() for p in pts] for k, pts in self.series.items()
            },
            "samples": None if self.samples is None else {k: [list(x) for x in v] for k, v in self.samples.items()},
            "value_caches": None if self.value_caches is None else [asdict(r) for r in self.value_caches],
            "value_cache": None if self.value_cache is None else _contents_json(self.value_cache),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Tick":
        return cls(
            at=float(d["at"]),
            seq=int(d.get("seq", 0)),
            status=_build(StatusInfo, d.get("status") or {}),
            activations=[ActivationRecord.from_json(a) for a in d.get("activations") or ()],
            activations_skipped=int(d.get("activations_skipped", 0)),
            logs=[_build(LogLine, x) for x in d.get("logs") or ()],
            logs_skipped=int(d.get("logs_skipped", 0)),
            triggers=None if d.get("triggers") is None else [_build(TriggerRow, t) for t in d["triggers"]],
            caches=None if d.get("caches") is None else [_scope_from(c) for c in d["caches"]],
            plugins=None if d.get("plugins") is None else [_plugin_from(p) for p in d["plugins"]],
            series=None if d.get("series") is None else {
                k: [_build(SeriesPoint, p) for p in pts] for k, pts in d["series"].items()
            },
            samples=None if d.get("samples") is None else {
                k: [(float(a), float(b)) for a, b in v] for k, v in d["samples"].items()
            },
            value_caches=None if d.get("value_caches") is None else [
                _build(ValueCacheRow, r) for r in d["value_caches"]],
            value_cache=None if d.get("value_cache") is None else _contents_from(d["value_cache"]),
        )


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _scope_json(c: CacheScope) -> dict[str, Any]:
    d = asdict(c)
    d["namespace"] = list(c.namespace)
    return d


def _scope_from(d: dict[str, Any]) -> CacheScope:
    scope = _build(CacheScope, d)
    return replace(
        scope,
        namespace=tuple(d.get("namespace") or ()),
        keys=[_build(CacheKey, k) for k in d.get("keys") or ()],
    )


def _plugin_from(d: dict[str, Any]) -> PluginRow:
    row = _build(PluginRow, d)
    return replace(row, versions=[_build(PluginVersionRow, v) for v in d.get("versions") or ()])


def _contents_json(c: ValueCacheContents) -> dict[str, Any]:
    return {
        "id": c.id, "at": c.at, "total": c.total, "version": c.version,
        "items": [{"key": list(i.key), "values": i.values, "age": i.age} for i in c.items],
    }


def _contents_from(d: dict[str, Any]) -> ValueCacheContents:
    return ValueCacheContents(
        id=d["id"], at=float(d.get("at", 0.0)), total=int(d.get("total", 0)), version=int(d.get("version", 0)),
        items=[ValueCacheItem(tuple(i.get("key") or ()), i.get("values"), float(i.get("age", 0.0)))
               for i in d.get("items") or ()],
    )
