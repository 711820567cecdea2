"""The ConsoleSource contract (pe_tui/source.py), checked over both implementations: the live
bridge over a real engine, and the RecordedSource replaying the synthetic demo session.

Each test runs once per source and checks that the protocol's methods give well-formed results:
the first tick is a full snapshot, reads return the model's types, actions return the short text
of the toast and show in a later tick, failures raise (LookupError for what is gone). Waits are on
conditions (`Harness.until`), never on fixed sleeps.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pe_engine.embedded import EngineThread
from pe_tui.live import EngineBridge
from pe_tui.model import (
    ActivationRecord,
    CacheScope,
    LogLine,
    PluginRow,
    StatusInfo,
    Tick,
    TriggerDetail,
    TriggerRow,
    ValueCacheRow,
)
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.source import ConsoleSource

WAIT = 20.0  # generous: a loaded box may be slow; the happy path takes milliseconds
STATES = {"enabled", "disabled", "disabled_by_error"}


class Harness:
    """A source plus the state its ticks gave so far (snapshots come only when they change)."""

    def __init__(self, source: ConsoleSource, kind: str) -> None:
        self.source = source
        self.kind = kind
        self.first: Tick | None = None
        self.triggers: dict[str, TriggerRow] = {}
        self.caches: dict[str, CacheScope] = {}
        self.activations: dict[int, ActivationRecord] = {}
        self.logs: list[LogLine] = []
        self.status: StatusInfo | None = None  # of the latest tick

    def collect(self) -> Tick | None:
        tick = self.source.collect()
        if tick is None:
            return None
        assert isinstance(tick, Tick) and isinstance(tick.status, StatusInfo)
        if self.first is None:
            self.first = tick
        self.status = tick.status
        if tick.triggers is not None:
            self.triggers = {r.key: r for r in tick.triggers}
        if tick.caches is not None:
            self.caches = {s.id: s for s in tick.caches}
        for a in tick.activations:
            self.activations[a.id] = a
        self.logs.extend(tick.logs)
        return tick

    def until(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        """Collect ticks until `predicate()` holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.collect()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(0.02)

    def schedule_trigger(self) -> TriggerRow:
        return self.until(lambda: next((r for r in self.triggers.values()
                                        if r.kind == "schedule" and r.state == "enabled"), None),
                          "an enabled schedule trigger")

    def scope_with_a_key(self) -> CacheScope:
        return self.until(lambda: next((s for s in self.caches.values() if s.keys), None), "a cache key")

    def retryable(self) -> ActivationRecord:
        def find() -> ActivationRecord | None:
            return next((a for a in self.activations.values()
                         if a.status == "error" and self.source.can_retry(a.id)), None)
        return self.until(find, "a failed activation whose input is kept")


@pytest.fixture(params=["live", "recorded"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "recorded":
        source: Any = RecordedSource.demo(now=FROZEN_NOW)
        yield Harness(source, "recorded")
        source.close()
        return
    et: EngineThread = request.getfixturevalue("engine_thread")
    bridge = EngineBridge(et)
    h = Harness(bridge, "live")
    h.write = lambda lp: et.run(et.engine.write_lp("tui", lp))  # type: ignore[attr-defined]
    try:
        yield h
    finally:
        bridge.close()


def fails(action: Callable[[], Any]) -> None:
    """An action on what does not exist raises, with a message for the operator's toast (the
    exception type is the engine's own: LookupError, or pe_engine's NotFound)."""
    with pytest.raises(Exception) as info:
        action()
    assert str(info.value)


def feed(h: Harness) -> None:
    """Live: give the engine something to show (a write for the echo trigger's cache key)."""
    if h.kind == "live":
        h.write("cpu,host=a usage=1.5")  # type: ignore[attr-defined]


# ====================================================================== collect
def test_the_first_tick_is_a_full_snapshot(harness: Harness) -> None:
    assert isinstance(harness.source, ConsoleSource)  # every method of the protocol is there
    tick = harness.collect()
    assert tick is not None
    assert isinstance(tick.seq, int) and tick.seq >= 1
    assert isinstance(tick.triggers, list) and tick.triggers
    assert all(isinstance(r, TriggerRow) for r in tick.triggers)
    keys = [r.key for r in tick.triggers]
    assert len(keys) == len(set(keys))
    for r in tick.triggers:
        assert r.key == f"{r.database}/{r.name}"
        assert r.state in STATES and r.mode in ("sync", "async")
        assert isinstance(r.spec, str) and r.spec and isinstance(r.plugin, str)
        assert r.runs >= r.errors >= 0
    assert isinstance(tick.caches, list) and all(isinstance(s, CacheScope) for s in tick.caches)
    assert isinstance(tick.plugins, list) and all(isinstance(p, PluginRow) for p in tick.plugins)
    assert isinstance(tick.series, dict)
    assert isinstance(tick.value_caches, list) and all(isinstance(v, ValueCacheRow) for v in tick.value_caches)
    assert all(isinstance(a, ActivationRecord) for a in tick.activations)
    assert all(isinstance(ln, LogLine) and ln.level in ("INFO", "WARN", "ERROR") for ln in tick.logs)
    assert tick.status.triggers == len(tick.triggers)
    url = harness.source.http_url
    assert url is None or url.startswith("http")


def test_later_ticks_are_none_or_ticks_with_growing_seq(harness: Harness) -> None:
    first = harness.collect()
    assert first is not None
    seqs = [first.seq]
    for _ in range(3):
        t = harness.collect()
        if t is not None:
            seqs.append(t.seq)
    assert seqs == sorted(set(seqs))


def test_console_log_lines_come_with_a_later_tick(harness: Harness) -> None:
    harness.collect()
    harness.source.console_log("INFO", "contract: a line of the console's own")
    line = harness.until(lambda: next((ln for ln in harness.logs if ln.text.startswith("contract:")), None),
                         "the console's line")
    assert line.source == "console" and line.level == "INFO"


def test_select_value_cache_takes_none_and_an_id(harness: Harness) -> None:
    tick = harness.collect()
    assert tick is not None
    harness.source.select_value_cache(None)
    if tick.value_caches:
        harness.source.select_value_cache(tick.value_caches[0].id)
        harness.collect()
    harness.source.select_value_cache(None)


# ====================================================================== reads
def test_trigger_detail_of_every_trigger(harness: Harness) -> None:
    harness.collect()
    assert harness.triggers
    for row in harness.triggers.values():
        d = harness.source.trigger_detail(row.database, row.name)
        assert isinstance(d, TriggerDetail)
        assert d.row.key == row.key and d.row.state in STATES
        assert isinstance(d.settings, dict) and d.settings
        assert d.arguments is None or isinstance(d.arguments, dict)
        assert all(isinstance(t, float) for t in d.next_fires)
        if row.kind == "schedule" and row.state == "enabled":
            assert d.next_fires == sorted(d.next_fires) and d.next_fires
        assert all(isinstance(a, ActivationRecord) and a.trigger == row.name for a in d.recent)
    with pytest.raises(LookupError):
        harness.source.trigger_detail("nowhere", "no-such-trigger")


def test_activation_reads(harness: Harness) -> None:
    harness.until(lambda: harness.activations, "an activation")
    a = next(iter(harness.activations.values()))
    got = harness.source.activation(a.id)
    assert isinstance(got, ActivationRecord) and got.id == a.id
    assert harness.source.activation(-424242) is None
    assert isinstance(harness.source.can_retry(a.id), bool)
    assert harness.source.can_retry(-424242) is False


def test_cache_value_is_text_with_its_type(harness: Harness) -> None:
    feed(harness)
    scope = harness.scope_with_a_key()
    text = harness.source.cache_value(scope.id, scope.keys[0].key)
    assert isinstance(text, str) and text.startswith("# type: ")
    with pytest.raises(KeyError):
        harness.source.cache_value(scope.id, "no-such-key-anywhere")


# ====================================================================== actions
def test_disable_and_enable_show_in_a_later_tick(harness: Harness) -> None:
    row = harness.schedule_trigger()
    msg = harness.source.set_trigger_enabled(row.database, row.name, False)
    assert isinstance(msg, str) and row.key in msg
    harness.until(lambda: harness.triggers[row.key].state == "disabled", "the trigger disabled")
    msg = harness.source.set_trigger_enabled(row.database, row.name, True)
    assert isinstance(msg, str) and row.key in msg
    harness.until(lambda: harness.triggers[row.key].state == "enabled", "the trigger enabled again")
    fails(lambda: harness.source.set_trigger_enabled("nowhere", "no-such-trigger", True))


def test_run_now_then_delete(harness: Harness) -> None:
    row = harness.schedule_trigger()
    assert isinstance(harness.source.run_trigger_now(row.database, row.name), str)
    msg = harness.source.delete_trigger(row.database, row.name)
    assert isinstance(msg, str) and row.key in msg
    harness.until(lambda: row.key not in harness.triggers, "the trigger gone from the rows")
    with pytest.raises(LookupError):
        harness.source.trigger_detail(row.database, row.name)
    fails(lambda: harness.source.delete_trigger(row.database, row.name))


def test_retry_a_failed_activation(harness: Harness) -> None:
    a = harness.retryable()
    msg = harness.source.retry_activation(a.id)
    assert isinstance(msg, str) and str(a.id) in msg
    fails(lambda: harness.source.retry_activation(-424242))


def test_delete_a_cache_key_then_clear_the_scope(harness: Harness) -> None:
    feed(harness)
    scope = harness.scope_with_a_key()
    key = scope.keys[0].key
    assert isinstance(harness.source.delete_cache_key(scope.id, key), str)
    harness.until(lambda: all(k.key != key for k in keys_of(harness, scope.id)), "the key gone")
    fails(lambda: harness.source.delete_cache_key(scope.id, key))
    feed(harness)  # live: the key comes back with the next write
    scope = harness.scope_with_a_key()
    msg = harness.source.clear_cache_scope(scope.id)
    assert isinstance(msg, str) and scope.label in msg
    harness.until(lambda: not keys_of(harness, scope.id), "the scope empty")
    fails(lambda: harness.source.clear_cache_scope("plugin-nope:nowhere"))


def keys_of(h: Harness, scope_id: str) -> list:
    """The keys a scope shows (an emptied scope may also leave the listing)."""
    s = h.caches.get(scope_id)
    return [] if s is None else list(s.keys)


def test_load_rate(harness: Harness) -> None:
    rate = harness.source.load_rate()
    assert rate is None or isinstance(rate, int)
    if rate is None:
        with pytest.raises(RuntimeError):
            harness.source.set_load_rate(100)
        return
    assert isinstance(harness.source.set_load_rate(rate * 2), str)
    assert harness.source.load_rate() == rate * 2


def test_close(harness: Harness) -> None:
    harness.collect()
    harness.source.close()


# ====================================================================== where plugins run
ISOLATIONS = ("thread", "process")


@pytest.fixture(params=["live", "recorded"])
def process_harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The same sources with process isolation: a live engine with plugin_isolation="process",
    and the recorded demo session of `--plugin-isolation process`."""
    if request.param == "recorded":
        source: Any = RecordedSource.demo(now=FROZEN_NOW, isolation="process")
        yield Harness(source, "recorded")
        source.close()
        return
    et: EngineThread = request.getfixturevalue("process_engine_thread")
    bridge = EngineBridge(et)
    h = Harness(bridge, "live")
    try:
        yield h
    finally:
        bridge.close()


def check_placement(h: Harness, default: str) -> StatusInfo:
    """Every trigger row says where it runs (its own setting, else the server's default) and the
    status says the default; a worker pool, when there is one, is consistent with itself."""
    tick = h.first or h.collect()
    assert tick is not None and tick.triggers
    for r in tick.triggers:
        assert r.isolation in ISOLATIONS and r.isolation_setting in (None, *ISOLATIONS)
        assert r.isolation == (r.isolation_setting or default), r
    detail = h.source.trigger_detail(tick.triggers[0].database, tick.triggers[0].name)
    assert detail.row.isolation == tick.triggers[0].isolation
    st = tick.status
    assert st.plugin_isolation == default
    if st.workers is not None:
        assert 0 <= st.workers <= st.workers_max and st.workers_max >= 1
        assert st.workers_started >= st.workers and st.workers_replaced >= 0
        assert len(st.worker_pids) == st.workers
    return st


def test_trigger_rows_and_status_say_where_plugins_run(harness: Harness) -> None:
    st = check_placement(harness, "thread")
    assert st.workers is None  # nothing asked for a process: no pool was started


def test_with_process_isolation_the_worker_pool_is_in_the_status(process_harness: Harness) -> None:
    h = process_harness
    check_placement(h, "process")
    # live: the pool starts with the engine (process is the default); recorded: the session's
    st = h.until(lambda: h.status is not None and h.status.workers and h.status, "the worker pool")
    assert st.workers >= 1 and st.worker_pids
