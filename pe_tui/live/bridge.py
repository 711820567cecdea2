"""EngineBridge: the live ConsoleSource over an engine running in an EngineThread.

Per tick (called from a Textual thread worker, never on the UI loop):

- drain the bus subscription once: activations and log lines are the stream
  parts of the tick (capped; what is cut is counted and shown as "skipped");
  trigger/database changes only mark snapshots dirty;
- pull aggregate snapshots instead of rebuilding them from events: trigger
  definitions (read on the engine loop, where they live), per-trigger stats
  from ActivationLog, cache listings when `caches.version` moved, plugin files
  every few seconds, Performance series when `activations.version` moved, the
  system caches (LVC/DVC) when `value_caches.version` moved — and the contents
  of only the one the Caches pane shows (`select_value_cache`), capped;
- send a snapshot only when it differs from the previous one, so idle ticks
  cost the UI nothing.

The Textual side (timer, thread worker, one message per tick) is `pe_tui.ticker.TickDriver`.
"""
from __future__ import annotations

import logging
import pprint
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pe_engine.events import (
    ActivationFinished,
    DatabaseChanged,
    EngineLog,
    PluginLog,
    SnapshotDone,
    Subscription,
    TriggerChanged,
)
from pe_engine.processing.activations import ERROR_STATUSES
from pe_engine.errors import NotFound
from pe_engine.processing.triggers import next_fire_times
from pe_engine.processing.triggers.secrets import masked_arguments

from ..model import (
    ActivationRecord,
    CacheScope,
    LogLine,
    PluginRow,
    PluginVersionRow,
    SeriesPoint,
    StatusInfo,
    Tick,
    TriggerDetail,
    TriggerRow,
    ValueCacheContents,
    ValueCacheRow,
    trigger_key,
)
from .cache_providers import CacheProvider, PluginCacheProvider, ValueCacheProvider, scope_label
from .log_tap import LoggingTap
from .placement import ExecutorDescription, Placement, effective_isolation, read_placement

if TYPE_CHECKING:
    from pe_engine.embedded import EngineThread
    from pe_engine.processing.trigger_view import TriggerView

log = logging.getLogger("pe.tui")

SUBSCRIPTION_MAXLEN = 100_000  # events buffered between two ticks before the oldest are dropped
HISTORY_ACTIVATIONS = 500  # first tick: recent history for the feed
HISTORY_LOGS = 2000
HISTORY_SAMPLES = 500  # first tick: run times per trigger for the histogram
MAX_ACTIVATIONS_PER_TICK = 1000
MAX_LOG_LINES_PER_TICK = 1000
CACHE_KEYS_PER_SCOPE = 500
RATE_WINDOW = 2.0  # seconds the writes/s, lines/s, activations/s are averaged over
SERIES_EVERY = 1.0  # seconds between Performance series pulls (buckets are 5 s wide)
PLUGINS_EVERY = 2.0
CACHES_EVERY = 0.5
VALUE_CACHE_EVERY = 0.5  # seconds between two reads of the shown system cache, at least
VALUE_CACHE_BUDGET = 0.1  # ... and at most this share of the time goes to reading it
VALUE_PREVIEW_LIMIT = 200_000  # characters of a cache value the value screen shows


class EngineBridge:
    """Live ConsoleSource (see pe_tui.source)."""

    def __init__(
        self,
        engine_thread: "EngineThread",
        *,
        clock: Callable[[], float] = time.time,
        load: Any = None,
        max_log_lines_per_tick: int = MAX_LOG_LINES_PER_TICK,
        subscription_maxlen: int = SUBSCRIPTION_MAXLEN,
        subscription: Any = None,
    ) -> None:
        self.et = engine_thread
        self.engine = engine_thread.engine
        self.clock = clock
        self.load = load
        self.max_log_lines = max_log_lines_per_tick
        self.sub: Subscription = subscription or self.engine.bus.subscribe(subscription_maxlen)
        self.cache_providers: list[CacheProvider] = []
        pe = self.engine.processing
        if pe is not None:
            self.cache_providers.append(PluginCacheProvider(pe.caches))
        vc = getattr(self.engine, "value_caches", None)
        self.value_cache_provider: ValueCacheProvider | None = None if vc is None else ValueCacheProvider(vc)
        self._tap = LoggingTap()
        logging.getLogger("pe").addHandler(self._tap)
        self._lock = threading.Lock()  # one collect at a time
        self._seq = 0
        self._first = True
        self._console_lines: deque[LogLine] = deque(maxlen=1000)
        self._rates: deque[tuple[float, int, int, int]] = deque()
        self._errors: deque[float] = deque()
        self._last_triggers: list[TriggerRow] | None = None
        self._last_caches: list[CacheScope] | None = None
        self._cache_versions: tuple[int, ...] | None = None
        self._cache_at = 0.0
        self._last_plugins: list[PluginRow] | None = None
        # system caches: the listing, and the contents of the one on screen
        self._vc_rows: list[ValueCacheRow] | None = None
        self._vc_version: int | None = None
        self._vc_at = 0.0
        self._vc_want: str | None = None  # set by the Caches pane (select_value_cache), any thread
        self._vc_sent: tuple[str, int] | None = None  # (id, cache version) of the contents last sent
        self._vc_sent_global: int | None = None
        self._vc_read_at = 0.0
        self._vc_read_cost = 0.0
        self._plugins_at = 0.0
        self._plugins_dirty = True
        self._series_version = -1
        self._series_at = 0.0
        self._series_keys: tuple[str, ...] = ()
        self._seen_ids: set[int] = set()
        # where plugins run: only the executor's description is read (pe_tui.live.placement)
        self.executor: ExecutorDescription | None = getattr(pe, "executor", None) if pe is not None else None
        self._default_isolation = str(getattr(self.engine.config, "plugin_isolation", "thread"))

    # ------------------------------------------------------------------ protocol
    @property
    def http_url(self) -> str | None:
        return self.et.url

    @property
    def pe(self) -> Any:
        return self.engine.processing

    def close(self) -> None:
        self.engine.bus.unsubscribe(self.sub)
        logging.getLogger("pe").removeHandler(self._tap)

    def console_log(self, level: str, text: str) -> None:
        """A line of the console's own (action results, failures) for the Logs pane."""
        self._console_lines.append(LogLine(self.clock(), level, "console", text))

    def collect(self) -> Tick | None:
        with self._lock:
            return self._collect()

    def _collect(self) -> Tick:
        now = self.clock()
        self._seq += 1
        first = self._first
        self._first = False
        events = self.sub.drain()
        acts: list[ActivationRecord] = []
        logs: list[LogLine] = []
        from_buffer: list[bool] = []  # PluginLog lines: LogBuffer's history holds them too
        triggers_dirty = first
        for ev in events:
            # exact types (no subclass matches); `type(ev) is C` also narrows ev for the checker
            if type(ev) is ActivationFinished:
                acts.append(ev.record)
                continue
            if type(ev) is PluginLog:
                src = trigger_key(ev.database, ev.trigger) if ev.trigger else "engine"
                line = LogLine(ev.at, ev.level, src, ev.message)
            elif type(ev) is EngineLog:
                line = LogLine(ev.at, ev.level, ev.source, ev.message)
            elif type(ev) is TriggerChanged:
                triggers_dirty = True
                self._plugins_dirty = True
                detail = f": {ev.detail}" if ev.detail else ""
                line = LogLine(ev.at, "WARN" if ev.action == "disabled_by_error" else "INFO", "engine",
                               f"trigger {trigger_key(ev.database, ev.trigger)} {ev.action.replace('_', ' ')}{detail}")
            elif type(ev) is DatabaseChanged:
                line = LogLine(ev.at, "INFO", "engine", f"database {ev.database} {ev.action}")
            elif type(ev) is SnapshotDone:
                line = LogLine(ev.at, "INFO", "engine",
                               f"snapshot: {ev.rows} rows to {ev.files} Parquet file(s) in {ev.duration:.3f}s")
            else:
                continue
            logs.append(line)
            from_buffer.append(type(ev) is PluginLog)
        for ln in (self._tap.lines, self._console_lines):
            while ln:
                logs.append(ln.popleft())
                from_buffer.append(False)
        pe = self.pe
        if first and pe is not None:
            # The history holds everything drained so far (it was published before this read).
            history = list(reversed(pe.activations.recent(HISTORY_ACTIVATIONS)))
            self._seen_ids = {r.id for r in history}
            acts = history
            old = [LogLine(e.time_ns / 1e9, e.level, trigger_key(e.database, e.trigger) if e.trigger else "engine",
                           e.text) for e in pe.logs.entries()[-HISTORY_LOGS:]]
            logs = sorted(old + [ln for ln, buffered in zip(logs, from_buffer) if not buffered],
                          key=lambda x: x.time)
        elif self._seen_ids:
            acts = [a for a in acts if a.id not in self._seen_ids]
            self._seen_ids = set()
        for a in acts if not first else ():
            if a.status in ERROR_STATUSES:
                self._errors.append(a.finished_at or now)
        a_skip = 0
        if len(acts) > MAX_ACTIVATIONS_PER_TICK:
            a_skip = len(acts) - MAX_ACTIVATIONS_PER_TICK
            acts = acts[-MAX_ACTIVATIONS_PER_TICK:]
        l_skip = 0
        if not first and len(logs) > self.max_log_lines:
            l_skip = len(logs) - self.max_log_lines
            logs = logs[-self.max_log_lines:]
        tick = Tick(at=now, seq=self._seq, status=self._status(now), activations=acts,
                    activations_skipped=a_skip, logs=logs, logs_skipped=l_skip)
        tick.value_caches = self._value_caches(now, first)
        tick.value_cache = self._value_cache_contents(now)
        if pe is None:
            if first:
                tick.triggers, tick.caches, tick.plugins, tick.series = [], [], [], {}
            return tick
        rows = self._trigger_rows(triggers_dirty)
        if rows is not None and rows != self._last_triggers:
            self._last_triggers = rows
            tick.triggers = rows
        if self._last_triggers is not None:
            tick.status.triggers = len(self._last_triggers)
            tick.status.triggers_enabled = sum(1 for r in self._last_triggers if r.state == "enabled")
        if first:
            tick.samples = {
                r.key: [(a.run_time, a.dispatch_latency)
                        for a in reversed(pe.activations.recent(HISTORY_SAMPLES, trigger=r.name, database=r.database))
                        if a.started_at is not None and a.status not in ("skipped", "dropped")]
                for r in self._last_triggers or []
            }
        tick.series = self._series(now, first)
        tick.caches = self._caches(now, first)
        tick.plugins = self._plugins(now, first)
        return tick

    # ------------------------------------------------------------------ pieces
    def _status(self, now: float) -> StatusInfo:
        st = self.engine.stats
        pe = self.pe
        acts = pe.activations.total_recorded if pe is not None else 0
        mono = time.monotonic()
        r = self._rates
        r.append((mono, st.writes, st.lines, acts))
        while len(r) > 2 and mono - r[1][0] >= RATE_WINDOW:
            r.popleft()
        t0, w0, l0, a0 = r[0]
        dt = mono - t0
        per = (lambda a, b: (b - a) / dt) if dt > 0.05 else (lambda a, b: 0.0)
        errs = self._errors
        while errs and errs[0] < now - 60.0:
            errs.popleft()
        load = self.load_rate()
        where = self._placement()
        return StatusInfo(
            now=now,
            started_at=st.started_at,
            writes_per_s=per(w0, st.writes),
            lines_per_s=per(l0, st.lines),
            activations_per_s=per(a0, acts),
            errors_per_min=float(len(errs)),
            wal_flush_interval=self.engine.config.wal_flush_interval,
            http_url=self.et.url,
            events_dropped=self.sub.dropped,
            load_rate=load,
            data_dir=str(self.engine.config.data_dir),
            plugin_isolation=where.default,
            workers=where.workers,
            workers_max=where.workers_max,
            workers_started=where.started,
            workers_replaced=where.replaced,
            worker_pids=list(where.pids),
        )

    def _placement(self) -> Placement:
        try:
            return read_placement(self.executor, self._default_isolation)
        except Exception:  # noqa: BLE001 -- the pool is shutting down: say only the default
            log.debug("executor description skipped", exc_info=True)
            return Placement(default=self._default_isolation)

    def _trigger_rows(self, dirty: bool) -> list[TriggerRow] | None:
        """One row per trigger from the engine's snapshot (`trigger_views`, built on its loop:
        the same record the HTTP listing and the system tables read)."""
        try:
            views = self.et.call_soon(self.pe.trigger_views).result(timeout=2.0)
        except Exception as e:  # noqa: BLE001 -- engine busy or stopping: keep the last rows
            log.debug("trigger snapshot skipped: %s", e)
            return None
        return [trigger_row(v, self._default_isolation) for v in views]

    def _series(self, now: float, first: bool) -> dict[str, list[SeriesPoint]] | None:
        pe = self.pe
        rows = self._last_triggers or []
        keys = tuple(r.key for r in rows)
        version = pe.activations.version
        if not first and keys == self._series_keys and (
            version == self._series_version or now - self._series_at < SERIES_EVERY
        ):
            return None
        self._series_version, self._series_at, self._series_keys = version, now, keys
        return {r.key: pe.activations.series(r.database, r.name, dense=True, now=now) for r in rows}

    def _caches(self, now: float, first: bool) -> list[CacheScope] | None:
        versions = tuple(p.version() for p in self.cache_providers)
        if not first and (versions == self._cache_versions or now - self._cache_at < CACHES_EVERY):
            # TTLs count down even when nothing changes: refresh those every few seconds
            if not (self._last_caches and any(k.ttl_remaining is not None for s in self._last_caches
                                                for k in s.keys) and now - self._cache_at >= 5.0):
                return None
        self._cache_versions, self._cache_at = versions, now
        scopes: list[CacheScope] = []
        for p in self.cache_providers:
            try:
                scopes.extend(p.scopes(CACHE_KEYS_PER_SCOPE))
            except Exception:  # noqa: BLE001 -- one broken provider must not hide the others
                log.exception("cache provider %s failed", p.name)
        if scopes == self._last_caches:
            return None
        self._last_caches = scopes
        return scopes

    def _value_caches(self, now: float, first: bool) -> list[ValueCacheRow] | None:
        """The system caches' definitions and sizes, when `value_caches.version` moved."""
        p = self.value_cache_provider
        if p is None:
            return [] if first else None
        version = p.version()
        if not first and (version == self._vc_version or now - self._vc_at < CACHES_EVERY):
            return None
        try:
            rows = p.listing()
        except Exception:  # noqa: BLE001 -- a cache created or dropped mid-read: next tick
            log.debug("value cache listing skipped", exc_info=True)
            return None
        self._vc_version, self._vc_at = version, now
        if rows == self._vc_rows:
            return None
        self._vc_rows = rows
        return rows

    def select_value_cache(self, cache_id: str | None) -> None:
        """The system cache the Caches pane shows (None: none on screen). Its contents come
        with the next tick, then whenever it changes. Any thread."""
        self._vc_want = cache_id

    def _value_cache_contents(self, now: float) -> ValueCacheContents | None:
        p = self.value_cache_provider
        want = self._vc_want
        if p is None or want is None:
            self._vc_sent = None
            return None
        row = next((r for r in self._vc_rows or () if r.id == want), None)
        if row is None:
            return None
        sent = self._vc_sent
        if sent is not None and sent[0] == want:  # this cache was sent before: read it only if it changed
            global_version = p.version()
            if global_version == self._vc_sent_global:
                return None  # no cache changed at all
            mono = time.monotonic()
            wait = max(VALUE_CACHE_EVERY, self._vc_read_cost / VALUE_CACHE_BUDGET)
            if mono - self._vc_read_at < wait:
                return None  # changed, read on a later tick (big caches are read less often)
            if p.cache_version(row) == sent[1]:
                self._vc_sent_global = global_version  # another cache changed
                return None
        global_version = p.version()
        t0 = time.monotonic()
        try:
            contents = p.contents(row, now)
        except Exception:  # noqa: BLE001 -- dropped meanwhile: the listing says so next
            log.debug("value cache %s not read", want, exc_info=True)
            return None
        self._vc_read_at = time.monotonic()
        self._vc_read_cost = self._vc_read_at - t0
        self._vc_sent = (want, contents.version)
        self._vc_sent_global = global_version
        return contents

    def _plugins(self, now: float, first: bool) -> list[PluginRow] | None:
        if not first and not self._plugins_dirty and now - self._plugins_at < PLUGINS_EVERY:
            return None
        self._plugins_dirty = False
        self._plugins_at = now
        reg = self.pe.registry
        rows = []
        for info in reg.files():
            versions = [PluginVersionRow(v.content_hash, v.first_seen, v.source, v.size_bytes)
                        for v in reg.versions(info.filename)]
            rows.append(PluginRow(
                filename=info.filename, kind=info.kind, content_hash=info.content_hash, versions=versions,
                users=list(info.users), last_error=info.last_error, size_bytes=info.size_bytes,
                last_modified=None if info.last_modified_ms is None else info.last_modified_ms / 1000,
                source=info.source,
            ))
        if rows == self._last_plugins:
            return None
        self._last_plugins = rows
        return rows

    # ------------------------------------------------------------------ reads
    def trigger_detail(self, database: str, name: str) -> TriggerDetail:
        pe = self._need_pe()
        try:
            view = self.et.call_soon(pe.trigger_view, database, name).result(timeout=5.0)
        except NotFound:
            raise LookupError(f"trigger {trigger_key(database, name)} no longer exists") from None
        fires: list[float] = []
        if view.kind == "schedule":
            fires = [ns / 1e9 for ns in next_fire_times(view.spec, int(self.clock() * 1e9), 5)]
        recent = pe.activations.recent(20, trigger=name, database=database)
        return TriggerDetail(row=trigger_row(view, self._default_isolation), arguments=masked_arguments(view.arguments), settings=view.settings.to_json(),
                             next_fires=fires, recent=recent, created_at=view.created_at)

    def activation(self, activation_id: int) -> ActivationRecord | None:
        pe = self.pe
        return None if pe is None else pe.activations.get(activation_id)

    def can_retry(self, activation_id: int) -> bool:
        pe = self.pe
        return pe is not None and pe.activations.failed_input(activation_id) is not None

    def cache_value(self, scope_id: str, key: str) -> str:
        provider, ns = self._scope(scope_id)
        value = provider.value(ns, key)
        text = pprint.pformat(value, width=100, sort_dicts=False)
        if len(text) > VALUE_PREVIEW_LIMIT:
            text = text[:VALUE_PREVIEW_LIMIT] + f"\n… ({len(text) - VALUE_PREVIEW_LIMIT:,} more characters)"
        return f"# type: {type(value).__module__}.{type(value).__qualname__}\n{text}"

    # ------------------------------------------------------------------ actions
    def set_trigger_enabled(self, database: str, name: str, enabled: bool) -> str:
        pe = self._need_pe()
        if enabled:
            self.et.run(pe.enable_trigger(database, name))
            return f"enabled {trigger_key(database, name)}"
        self.et.run(pe.disable_trigger(database, name))
        return f"disabled {trigger_key(database, name)}"

    def delete_trigger(self, database: str, name: str) -> str:
        self.et.run(self._need_pe().delete_trigger(database, name, force=True))
        return f"deleted {trigger_key(database, name)}"

    def run_trigger_now(self, database: str, name: str) -> str:
        self.et.run(self._need_pe().run_now(database, name))
        return f"{trigger_key(database, name)} queued to run now"

    def retry_activation(self, activation_id: int) -> str:
        self.et.run(self._need_pe().retry_activation(activation_id))
        return f"activation #{activation_id} queued again with its original input"

    def delete_cache_key(self, scope_id: str, key: str) -> str:
        provider, ns = self._scope(scope_id)
        gone = self.et.call_soon(provider.delete, ns, key).result(timeout=5.0)
        if not gone:
            raise LookupError(f"key {key!r} is gone already (expired or deleted)")
        return f"deleted key {key!r}"

    def clear_cache_scope(self, scope_id: str) -> str:
        provider, ns = self._scope(scope_id)
        n = self.et.call_soon(provider.clear, ns).result(timeout=5.0)
        label, _ = scope_label(ns)
        return f"cleared {label}: {n} key(s) removed"

    def load_rate(self) -> int | None:
        return None if self.load is None else self.load.rate

    def set_load_rate(self, lines_per_second: int) -> str:
        if self.load is None:
            raise RuntimeError("no load generator (start with --demo)")
        self.load.rate = lines_per_second
        return f"load generator: {self.load.rate:,} lines/s"

    # ------------------------------------------------------------------ helpers
    def _need_pe(self) -> Any:
        pe = self.pe
        if pe is None:
            raise RuntimeError("the processing engine is off (start with --plugin-dir)")
        return pe

    def _scope(self, scope_id: str) -> tuple[CacheProvider, tuple[str, ...]]:
        name, _, path = scope_id.partition(":")
        for p in self.cache_providers:
            if p.name == name:
                return p, tuple(path.split("/"))
        raise LookupError(f"unknown cache scope {scope_id}")


def trigger_row(v: "TriggerView", default_isolation: str = "thread") -> TriggerRow:
    """The Triggers pane's row of an engine TriggerView (definition, live state and stats);
    `default_isolation` is the server's --plugin-isolation, for triggers without their own."""
    setting = getattr(v.settings, "isolation", None)
    row = TriggerRow(
        database=v.database, name=v.name, spec=v.spec_text, kind=str(v.kind), plugin=v.plugin_filename,
        state=str(v.state), mode="async" if v.run_async else "sync",
        next_fire=None if v.next_fire_ns is None else v.next_fire_ns / 1e9, disabled_reason=v.disabled_reason,
        queued=v.queued, error_behavior=str(v.error_behavior),
        isolation=effective_isolation(setting, default_isolation),
        isolation_setting=None if setting is None else str(setting),
    )
    st = v.stats
    if st is not None:
        row.runs, row.errors = st.runs, st.errors
        row.p50, row.p99 = st.run_time_p50, st.run_time_p99
        row.latency_p50, row.latency_p99 = st.latency_p50, st.latency_p99
        row.cpu_time = st.cpu_time_total
        row.memory, row.memory_max = st.memory_last, st.memory_max
        row.last_run, row.last_status, row.last_error = st.last_run, st.last_status, st.last_error
    return row
