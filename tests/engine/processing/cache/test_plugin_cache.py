"""Plugin cache: InfluxDB 3 §3.4 semantics, operator API, snapshot/restore, threads."""
from __future__ import annotations

import datetime as dt
import enum
import fractions
import io
import json
import math
import sqlite3
import threading
import time
from dataclasses import dataclass

import pytest

from pe_engine.processing.cache import (
    GLOBAL_NAMESPACE,
    MAX_TTL_SECONDS,
    CacheRow,
    PluginCacheStore,
    TriggerCache,
    estimate_size,
    namespace_for_test,
    trigger_namespace,
    validate_ttl,
)


@dataclass
class FakeClock:
    """Monotonic and wall clocks that only move when told to."""

    mono: float = 1_000.0
    wall: float = 1_700_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> PluginCacheStore:
    return PluginCacheStore(clock=lambda: clock.mono, wall_clock=lambda: clock.wall)


@pytest.fixture
def cache(store: PluginCacheStore) -> TriggerCache:
    return store.trigger_cache("db", "trig")


TRIG = trigger_namespace("db", "trig")


class Color(enum.IntEnum):
    RED = 1


@dataclass
class Point:  # module level, so it pickles by reference
    x: int
    y: int


# --------------------------------------------------------------------------- §3.4 plugin API


def test_values_are_stored_by_reference(cache: TriggerCache) -> None:
    obj = {"count": 1}
    cache.put("state", obj)
    assert cache.get("state") is obj
    obj["count"] = 2  # mutation after put is visible: no copy was made
    assert cache.get("state") == {"count": 2}


def test_get_default_when_absent(cache: TriggerCache) -> None:
    assert cache.get("missing") is None
    assert cache.get("missing", 42) == 42
    assert cache.get("missing", default="d") == "d"
    cache.put("none", None)
    assert cache.get("none", "d") is None  # a stored None is a value, not absence


def test_positional_ttl_and_expiry(cache: TriggerCache, clock: FakeClock, store: PluginCacheStore) -> None:
    cache.put("k", "v", 3600)  # positional ttl, as plugins do
    clock.advance(3599.9)
    assert cache.get("k") == "v"
    clock.advance(0.1)
    assert cache.get("k", "gone") == "gone"
    assert store.key_count == 0  # dropped on get, not just hidden


def test_float_and_int_ttls(cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("f", 1, ttl=0.5)
    cache.put("i", 2, ttl=2)
    cache.put("fr", 3, ttl=fractions.Fraction(3, 2))
    clock.advance(0.6)
    assert (cache.get("f"), cache.get("i"), cache.get("fr")) == (None, 2, 3)
    clock.advance(1.0)
    assert (cache.get("i"), cache.get("fr")) == (2, None)


def test_zero_ttl_expires_immediately(cache: TriggerCache) -> None:
    cache.put("k", "v", ttl=0)
    assert cache.get("k") is None


def test_no_ttl_never_expires(cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("forever", 1)
    clock.advance(20 * 365 * 86400)
    assert cache.get("forever") == 1


@pytest.mark.parametrize(
    "bad, words",
    [
        (-1, "negative"),
        (-0.001, "negative"),
        (float("-inf"), "negative"),
        (float("nan"), "NaN"),
        (float("inf"), "too large"),
        (MAX_TTL_SECONDS + 1, "too large"),
        (10**400, "too large"),
        (1e300, "too large"),
    ],
)
def test_bad_ttl_raises_value_error(cache: TriggerCache, bad: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        cache.put("k", "v", bad)  # type: ignore[arg-type]
    assert cache.get("k") is None  # nothing stored


def test_ttl_bounds_and_types() -> None:
    assert validate_ttl(None) is None
    assert validate_ttl(MAX_TTL_SECONDS) == MAX_TTL_SECONDS
    assert validate_ttl(-0.0) == 0.0
    with pytest.raises(TypeError):
        validate_ttl("60")
    with pytest.raises(TypeError):
        validate_ttl(object())


def test_key_must_be_str(cache: TriggerCache) -> None:
    with pytest.raises(TypeError):
        cache.put(1, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.get(None)  # type: ignore[arg-type]


def test_trigger_namespaces_are_isolated(store: PluginCacheStore) -> None:
    a = store.trigger_cache("db", "a")
    b = store.trigger_cache("db", "b")
    a_other_db = store.trigger_cache("other", "a")
    a.put("k", "a")
    b.put("k", "b")
    assert (a.get("k"), b.get("k"), a_other_db.get("k")) == ("a", "b", None)
    # a fresh handle for the same trigger sees the same namespace
    assert store.trigger_cache("db", "a").get("k") == "a"


def test_global_namespace_is_shared_and_separate_from_local(store: PluginCacheStore) -> None:
    a = store.trigger_cache("db1", "a")
    b = store.trigger_cache("db2", "b")
    a.put("k", "global", use_global=True)
    a.put("k", "local")
    assert b.get("k", use_global=True) == "global"
    assert b.get("k") is None
    assert a.get("k") == "local"
    assert a.get("k", use_global=False) == "local"
    assert a.get("k", use_global=None) == "local"
    assert b.delete("k", use_global=True) is True
    assert a.get("k", use_global=True) is None
    assert a.get("k") == "local"


def test_delete_returns_whether_key_existed(cache: TriggerCache, clock: FakeClock) -> None:
    assert cache.delete("nope") is False
    cache.put("k", 1)
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    cache.put("t", 1, ttl=1)
    clock.advance(2)
    assert cache.delete("t") is False  # expired: gone for the plugin


def test_test_namespace_default_ttl_is_30_minutes(store: PluginCacheStore, clock: FakeClock) -> None:
    t = store.test_cache()
    assert t.namespace == namespace_for_test("_shared_test")
    t.put("no_ttl", 1)
    t.put("long", 2, ttl=3 * 3600)
    t.put("g", 3, use_global=True)
    clock.advance(30 * 60 - 1)
    assert (t.get("no_ttl"), t.get("g", use_global=True)) == (1, 3)
    clock.advance(1)
    assert t.get("no_ttl") is None
    assert t.get("g", use_global=True) is None
    assert t.get("long") == 2
    # production namespaces keep no-ttl entries forever
    prod = store.trigger_cache("db", "trig")
    prod.put("k", 1)
    clock.advance(10 * 3600)
    assert prod.get("k") == 1


def test_test_runs_never_touch_production_caches(store: PluginCacheStore) -> None:
    prod = store.trigger_cache("db", "trig")
    prod.put("k", "prod")
    prod.put("k", "prod-global", use_global=True)
    t = store.test_cache("mytest")
    assert t.get("k") is None and t.get("k", use_global=True) is None
    t.put("k", "test", use_global=True)
    assert prod.get("k", use_global=True) == "prod-global"
    # same cache_name shares, a different one does not
    assert store.test_cache("mytest").get("k", use_global=True) == "test"
    assert store.test_cache("other").get("k", use_global=True) is None


def test_sweep_runs_on_access_at_most_every_10s(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    other = store.trigger_cache("db", "other")
    cache.put("a", 1, ttl=1)
    clock.advance(5)
    other.get("x")  # access, but < 10 s since the store started: no sweep
    assert store.key_count == 1 and store.sweeps == 0
    clock.advance(5)
    other.get("x")  # 10 s: store-wide sweep drops the expired entry of another namespace
    assert store.key_count == 0 and store.sweeps == 1
    cache.put("b", 1, ttl=1)
    clock.advance(2)
    other.get("x")  # expired, but the last sweep was only 2 s ago
    assert store.key_count == 1 and store.sweeps == 1
    clock.advance(8)
    other.put("y", 1)
    assert store.key_count == 1 and store.sweeps == 2  # only "y" left
    assert store.namespaces() == [trigger_namespace("db", "other")]


def test_maybe_sweep_respects_interval(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("a", 1, ttl=1)
    clock.advance(9)
    store.maybe_sweep()
    assert store.key_count == 1
    clock.advance(1)
    store.maybe_sweep()
    assert store.key_count == 0


def test_no_sweep_without_access(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("a", 1, ttl=1)
    clock.advance(100)
    assert store.key_count == 1  # nothing touched the cache
    assert store.sweep() == 1  # explicit sweep
    assert store.key_count == 0


def test_overwrite_without_ttl_is_not_swept(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("k", "old", ttl=1)
    cache.put("k", "new")  # the stale expiry record must not delete the new value
    clock.advance(60)
    assert store.sweep() == 0
    assert cache.get("k") == "new"


def test_expiry_heap_stays_bounded_under_overwrites(store: PluginCacheStore, cache: TriggerCache) -> None:
    for i in range(20_000):
        cache.put("hot", i, ttl=3600)
    assert len(store._heap) <= 4097  # compacted, not one record per overwrite
    assert cache.get("hot") == 19_999


# --------------------------------------------------------------------------- operator API


def test_operator_listing_and_values(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    big = "x" * 10_000
    cache.put("b_str", big, ttl=100)
    cache.put("a_list", list(range(1_000_000)))
    cache.put("c_obj", Point(1, 2))
    cache.put("k", 1, use_global=True)
    store.test_cache().put("t", 1)
    assert store.namespaces() == [GLOBAL_NAMESPACE, namespace_for_test(), TRIG]
    clock.advance(40)
    t0 = time.perf_counter()
    infos = store.entries(list(TRIG))  # lists accepted (namespaces arrive as JSON arrays)
    assert time.perf_counter() - t0 < 0.5  # sizing/preview cost is bounded
    assert [i.key for i in infos] == ["a_list", "b_str", "c_obj"]
    a, b, c = infos
    assert a.type_name == "list" and a.ttl_remaining is None
    assert 0.5 * 36_000_000 < a.size_bytes < 2 * 36_000_000  # extrapolated, not walked
    assert len(a.preview) <= 120 and a.preview.startswith("[0, 1, 2")
    assert b.type_name == "str" and b.size_bytes >= 10_000
    assert b.ttl_remaining == pytest.approx(60)
    assert b.expires_at == pytest.approx(clock.wall + 60)
    assert len(b.preview) <= 120 and "..." in b.preview  # elided, bounded
    assert c.type_name.endswith("Point") and "Point(x=1, y=2)" in c.preview
    assert store.get_value(TRIG, "b_str") is big
    with pytest.raises(KeyError):
        store.get_value(TRIG, "missing")
    clock.advance(61)
    with pytest.raises(KeyError):
        store.get_value(TRIG, "b_str")  # expired
    assert [i.key for i in store.entries(TRIG, limit=1)] == ["a_list"]
    assert infos[0].to_json()["type"] == "list"


def test_preview_survives_a_raising_repr(store: PluginCacheStore, cache: TriggerCache) -> None:
    class Bad:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    cache.put("bad", Bad())
    (info,) = store.entries(TRIG)
    assert "Bad" in info.preview and len(info.preview) <= 120


def test_operator_delete_clear_drop(store: PluginCacheStore) -> None:
    a = store.trigger_cache("db", "a")
    b = store.trigger_cache("db", "b")
    c = store.trigger_cache("db2", "c")
    for i in range(3):
        a.put(f"k{i}", i)
        b.put(f"k{i}", i)
        c.put(f"k{i}", i)
    a.put("g", 1, use_global=True)
    assert store.delete_key(trigger_namespace("db", "a"), "k0") is True
    assert store.delete_key(trigger_namespace("db", "a"), "k0") is False
    assert store.clear(trigger_namespace("db", "a")) == 2
    assert store.clear(trigger_namespace("db", "a")) == 0
    assert store.drop_trigger("db", "b") == 3
    assert b.get("k1") is None and c.get("k1") == 1
    b.put("again", 1)  # a dropped trigger can use its cache again (disable + enable)
    assert store.drop_database("db") == 1
    assert store.namespaces() == [GLOBAL_NAMESPACE, trigger_namespace("db2", "c")]
    assert store.key_count == 4


def test_version_changes_on_every_mutation_only(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    versions = [store.version]

    def changed() -> bool:
        versions.append(store.version)
        return versions[-1] != versions[-2]

    cache.put("k", 1, ttl=5)
    assert changed()
    cache.get("k")
    cache.get("missing")
    store.entries(TRIG)
    store.namespaces()
    assert not changed()
    cache.put("k", 2, ttl=5)
    assert changed()
    clock.advance(6)
    cache.get("k")  # expiry on get is a mutation
    assert changed()
    cache.put("x", 1)
    cache.delete("x")
    assert changed()
    cache.delete("x")
    assert not changed()
    cache.put("y", 1)
    changed()
    store.clear(TRIG)
    assert changed()


def test_stats(store: PluginCacheStore, cache: TriggerCache) -> None:
    cache.put("a", "x" * 1000)
    cache.put("b", 2, use_global=True)
    st = store.stats()
    assert (st.namespaces, st.keys) == (2, 2)
    assert st.approx_bytes >= 1000
    assert st.version == store.version
    assert st.keys_by_namespace == {GLOBAL_NAMESPACE: 1, TRIG: 1}
    json.dumps(st.to_json())


def test_estimate_size_is_bounded_and_safe() -> None:
    huge = {str(i): [i, str(i)] for i in range(200_000)}
    t0 = time.perf_counter()
    est = estimate_size(huge)
    assert time.perf_counter() - t0 < 0.2
    walked = sum(estimate_size(k) + estimate_size(v) for k, v in list(huge.items())[:1000]) / 1000
    assert 0.5 < est / (len(huge) * walked + estimate_size({})) < 2
    cyc: list[object] = []
    cyc.append(cyc)
    assert estimate_size(cyc) > 0


# --------------------------------------------------------------------------- snapshot / restore


def _restore_into_new(rows: list[CacheRow], clock: FakeClock, **kw: object) -> PluginCacheStore:
    s = PluginCacheStore(clock=lambda: clock.mono, wall_clock=lambda: clock.wall)
    s.restore(rows, **kw)  # type: ignore[arg-type]
    return s


def test_snapshot_codecs_and_roundtrip(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    shared = [1, 2]
    json_values = {
        "dict": {"a": [1, 2.5, True, None, "é"], "b": {"c": -0.0}},
        "str": "text",
        "int": 2**80,
        "float": 0.1,
        "none": None,
        "bool": False,
        "list": [[], {}],
    }
    pickle_values = {
        "tuple": (1, 2),
        "set": {1, 2},
        "bytes": b"\x00\xff",
        "intkeys": {1: "a"},
        "nan": float("nan"),
        "datetime": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "enum": Color.RED,
        "dataclass": Point(1, 2),
        "aliased": [shared, shared],
        "nested_tuple": {"a": (1,)},
    }
    for k, v in {**json_values, **pickle_values}.items():
        cache.put(k, v)
    rows, report = store.snapshot()
    codecs = {r.key: r.codec for r in rows}
    assert {k: codecs[k] for k in json_values} == {k: "json" for k in json_values}
    assert {k: codecs[k] for k in pickle_values} == {k: "pickle" for k in pickle_values}
    assert (report.rows, report.skipped, report.json_rows, report.pickle_rows) == (
        len(rows), 0, len(json_values), len(pickle_values),
    )
    assert all(isinstance(r, tuple) and len(r) == 5 for r in rows)
    restored = _restore_into_new(rows, clock).trigger_cache("db", "trig")
    for k, v in json_values.items():
        got = restored.get(k)
        assert got == v and type(got) is type(v)
    assert math.copysign(1, restored.get("dict")["b"]["c"]) == -1
    got_nan = restored.get("nan")
    assert math.isnan(got_nan)
    for k in ("tuple", "set", "bytes", "intkeys", "datetime", "dataclass", "nested_tuple"):
        assert restored.get(k) == pickle_values[k]
    assert restored.get("enum") is Color.RED
    aliased = restored.get("aliased")
    assert aliased[0] is aliased[1]  # aliasing preserved (JSON would have duplicated)


def test_unserialisable_values_are_skipped_and_counted(store: PluginCacheStore, cache: TriggerCache, tmp_path) -> None:
    class Exploding:
        def __reduce__(self):  # noqa: ANN204
            raise RuntimeError("boom")

    fh = open(tmp_path / "f.txt", "w")  # noqa: SIM115
    try:
        bad = {
            "lock": threading.Lock(),
            "gen": (i for i in range(3)),
            "file": fh,
            "lambda": lambda x: x,
            "local_class": Exploding(),
            "buffer": io.BytesIO(b"ok"),  # BytesIO pickles fine: control
        }
        for k, v in bad.items():
            cache.put(k, v)
        cache.put("good", {"fine": True})
        rows, report = store.snapshot()
    finally:
        fh.close()
    assert {r.key for r in rows} == {"good", "buffer"}
    assert report.skipped == 5 and report.rows == 2
    assert len(report.skipped_examples) == 5
    assert all(e.startswith("trigger/db/trig/") for e in report.skipped_examples)
    assert any("lock" in e and "cannot pickle" in e for e in report.skipped_examples)
    for i in range(10):
        cache.put(f"lock{i}", threading.Lock())
    _, report = store.snapshot()
    assert report.skipped == 15 and len(report.skipped_examples) == 5  # examples capped


def test_snapshot_keeps_remaining_ttl(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("ttl100", "a", ttl=100)
    cache.put("ttl10", "b", ttl=10)
    cache.put("forever", "c")
    cache.put("g", "d", ttl=50, use_global=True)
    clock.advance(40)  # ttl10 expired: not snapshotted even though not yet swept
    rows, report = store.snapshot()
    assert {r.key for r in rows} == {"ttl100", "forever", "g"}
    by_key = {r.key: r for r in rows}
    assert by_key["forever"].expires_at_wall is None
    assert by_key["ttl100"].expires_at_wall == pytest.approx(clock.wall + 60)

    # "restart": new process, unrelated monotonic clock, 20 s of wall time later
    later = FakeClock(mono=5.0, wall=clock.wall + 20)
    s2 = PluginCacheStore(clock=lambda: later.mono, wall_clock=lambda: later.wall)
    assert s2.restore(rows) == 2  # "g" had 10 s left at the snapshot: gone 20 s later
    infos = {i.key: i for i in s2.entries(TRIG)}
    assert infos["ttl100"].ttl_remaining == pytest.approx(40)
    assert infos["forever"].ttl_remaining is None
    t2 = s2.trigger_cache("db", "trig")
    later.advance(39)
    assert t2.get("ttl100") == "a" and t2.get("g", use_global=True) is None
    later.advance(1)
    assert t2.get("ttl100") is None and t2.get("forever") == "c"

    # explicit now_wall: everything with a ttl already expired
    s3 = _restore_into_new(rows, clock, now_wall=clock.wall + 1000)
    assert s3.key_count == 1


def test_test_namespaces_not_snapshotted_by_default(store: PluginCacheStore, clock: FakeClock) -> None:
    store.test_cache().put("t", 1)
    store.trigger_cache("db", "trig").put("p", 1)
    rows, _ = store.snapshot()
    assert [r.key for r in rows] == ["p"]
    rows, _ = store.snapshot(include_test=True)
    assert {r.key for r in rows} == {"t", "p"}


def test_restore_skips_bad_rows_without_raising(clock: FakeClock) -> None:
    errors: list[str] = []
    good = ('["trigger","db","trig"]', "ok", b"1", "json", None)
    rows = [
        good,
        ('["trigger","db","trig"]', "k1", b"not json", "json", None),
        ('["trigger","db","trig"]', "k2", b"\x80\x05garbage", "pickle", None),
        ('["trigger","db","trig"]', "k3", b"1", "yaml", None),
        ("not json", "k4", b"1", "json", None),
        ("[]", "k5", b"1", "json", None),
        ("short row",),
    ]
    s = PluginCacheStore(clock=lambda: clock.mono, wall_clock=lambda: clock.wall)
    assert s.restore(rows, on_error=errors.append) == 1  # type: ignore[arg-type]
    assert len(errors) == 6
    assert s.trigger_cache("db", "trig").get("ok") == 1


def test_rows_go_through_sqlite_executemany(store: PluginCacheStore, cache: TriggerCache, clock: FakeClock) -> None:
    cache.put("a", {"x": [1, 2]}, ttl=60)
    cache.put("b", (1, "two"))
    cache.put("c", 3, use_global=True)
    rows, _ = store.snapshot()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE c (ns TEXT, key TEXT, value BLOB, codec TEXT, expires REAL)")
    with db:
        db.executemany("INSERT INTO c VALUES (?, ?, ?, ?, ?)", rows)
    loaded = db.execute("SELECT ns, key, value, codec, expires FROM c").fetchall()
    s2 = _restore_into_new(loaded, clock)
    t = s2.trigger_cache("db", "trig")
    assert (t.get("a"), t.get("b"), t.get("c", use_global=True)) == ({"x": [1, 2]}, (1, "two"), 3)


def test_snapshot_never_raises_while_plugins_mutate(store: PluginCacheStore) -> None:
    shared: dict[str, int] = {}
    stop = threading.Event()

    def mutate() -> None:
        c = store.trigger_cache("db", "w")
        i = 0
        while not stop.is_set():
            shared[str(i % 5000)] = i
            if i % 3 == 0:
                shared.pop(str((i // 2) % 5000), None)
            c.put(f"k{i % 100}", i)
            i += 1

    store.trigger_cache("db", "w").put("shared", shared)
    t = threading.Thread(target=mutate)
    t.start()
    try:
        for _ in range(30):
            rows, report = store.snapshot()
            assert report.rows + report.skipped >= 1
    finally:
        stop.set()
        t.join()


# --------------------------------------------------------------------------- threads


def test_concurrent_put_get_delete(store: PluginCacheStore) -> None:
    n_threads, n_ops = 8, 3000
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def worker(tid: int) -> None:
        try:
            c = store.trigger_cache("db", f"t{tid}")
            barrier.wait()
            for i in range(n_ops):
                c.put(f"k{i}", (tid, i), ttl=3600 if i % 2 else None)
                assert c.get(f"k{i}") == (tid, i)
                c.put(f"g{tid}-{i}", i, use_global=True)
                if i % 3 == 0:
                    assert c.delete(f"k{i}") is True
                    assert c.delete(f"g{tid}-{i}", use_global=True) is True
                store.entries(c.namespace, limit=5) if i % 500 == 0 else None
                store.snapshot() if i % 1000 == 0 else None
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    kept = n_ops - len(range(0, n_ops, 3))
    assert store.key_count == n_threads * kept * 2
    st = store.stats()
    assert st.keys == store.key_count
    assert st.keys_by_namespace[GLOBAL_NAMESPACE] == n_threads * kept
