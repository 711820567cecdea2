"""Activation history and per-trigger metrics: aggregates, percentiles, bounds, series."""
from __future__ import annotations

import json
import math
import random
import threading
import time

import pytest

from pe_engine.processing.activations import (
    ActivationLog,
    ActivationRecord,
    SeriesPoint,
    percentile,
)

T0 = 1_700_000_000.0  # a multiple of 5


def rec(
    trigger: str = "t",
    *,
    database: str = "db",
    status: str = "ok",
    run_time: float = 0.01,
    at: float = T0,
    latency: float = 0.001,
    **kw: object,
) -> ActivationRecord:
    """A finished activation that started at `at` (dispatched `latency` earlier)."""
    fields = dict(
        id=0, database=database, trigger=trigger, kind="wal", plugin="p.py",
        dispatched_at=at - latency, started_at=at, finished_at=at + run_time,
        dispatch_latency=latency, run_time=run_time, status=status,
    )
    fields.update(kw)
    return ActivationRecord(**fields)  # type: ignore[arg-type]


def nearest_rank(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[math.ceil(p / 100 * len(s)) - 1]


# --------------------------------------------------------------------------- records


def test_ids_increase_and_can_be_reserved() -> None:
    log = ActivationLog()
    a = log.record(rec())
    b = log.record(rec())
    reserved = log.new_id()
    c = log.record(rec(id=reserved))
    d = log.record(rec())
    assert [a.id, b.id, c.id, d.id] == [1, 2, 3, 4]
    log.record(rec(id=100))  # an explicit id moves the counter past it
    assert log.record(rec()).id == 101


def test_record_json_roundtrip_and_log_bound() -> None:
    r = rec(status="error", error="ZeroDivisionError: x", traceback="Traceback...", memory_peak=123)
    for i in range(5):
        r.add_log(f"line {i}", max_lines=3)
    assert r.logs == ["line 0", "line 1", "line 2"] and r.logs_dropped == 2
    data = r.to_json()
    text = json.dumps(data)
    back = ActivationRecord.from_json(json.loads(text) | {"unknown": 1})
    assert back == r and back.logs is not r.logs
    assert r.is_error


# --------------------------------------------------------------------------- aggregates


def test_aggregates() -> None:
    log = ActivationLog()
    log.record(rec(run_time=0.1, cpu_time=0.05, rows_in=10, lines_out=2, memory_peak=1000, at=T0))
    log.record(rec(status="error", error="boom", run_time=0.2, cpu_time=0.1, rows_in=5, memory_peak=5000, at=T0 + 1))
    log.record(rec(status="timeout", run_time=3.0, cpu_time=2.9, memory_peak=2000, at=T0 + 2))
    log.record(rec(status="skipped", at=T0 + 3, started_at=None, run_time=0.0))
    log.record(rec(status="dropped", at=T0 + 4, started_at=None, run_time=0.0))
    log.record(rec("other", run_time=1.0))
    st = log.stats()[("db", "t")]
    assert st.runs == 3 and st.errors == 2  # skipped/dropped never ran
    assert st.by_status == {"ok": 1, "error": 1, "timeout": 1, "skipped": 1, "dropped": 1}
    assert st.last_status == "dropped" and st.last_run == T0 + 2
    assert st.last_error == "timeout" and st.last_error_at == pytest.approx(T0 + 5)  # no message: the status
    assert st.cpu_time_total == pytest.approx(3.05) and st.cpu_time_last == pytest.approx(2.9)
    assert (st.memory_last, st.memory_max) == (2000, 5000)
    assert (st.rows_in_total, st.lines_out_total) == (15, 2)
    assert st.error_rate == pytest.approx(2 / 3)
    assert st.plugin == "p.py" and st.last_activation_id == 5
    assert st.samples == 3
    json.dumps(st.to_json())
    assert log.stats()[("db", "other")].runs == 1


def test_last_error_keeps_the_message() -> None:
    log = ActivationLog()
    log.record(rec(status="error", error="ValueError: bad", at=T0))
    log.record(rec(at=T0 + 1))
    st = log.trigger_stats("db", "t")
    assert st is not None
    assert st.last_error == "ValueError: bad" and st.last_error_at == pytest.approx(T0 + 0.01)
    assert st.last_status == "ok"


def test_percentiles_match_sorted_lists() -> None:
    rng = random.Random(7)
    log = ActivationLog(reservoir_size=1024)
    runs = [rng.lognormvariate(-4, 1) for _ in range(700)]
    lats = [rng.random() / 100 for _ in range(700)]
    for r, l in zip(runs, lats):
        log.record(rec(run_time=r, latency=l))
    st = log.stats()[("db", "t")]
    for p, got in ((50, st.run_time_p50), (95, st.run_time_p95), (99, st.run_time_p99)):
        assert got == nearest_rank(runs, p)
    for p, got in ((50, st.latency_p50), (95, st.latency_p95), (99, st.latency_p99)):
        assert got == nearest_rank(lats, p)


def test_percentiles_cover_the_last_reservoir_samples() -> None:
    log = ActivationLog(reservoir_size=100)
    values = [float(i) for i in range(1, 351)]
    for v in values:
        log.record(rec(run_time=v))
    st = log.stats()[("db", "t")]
    last = values[-100:]
    assert st.samples == 100
    assert (st.run_time_p50, st.run_time_p95, st.run_time_p99) == tuple(nearest_rank(last, p) for p in (50, 95, 99))


def test_percentile_helper_edges() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0], 50) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0


def test_stats_refresh_after_new_samples_and_are_copies() -> None:
    log = ActivationLog()
    log.record(rec(run_time=1.0))
    first = log.stats()[("db", "t")]
    assert first.run_time_p99 == 1.0
    assert log.stats()[("db", "t")].run_time_p99 == 1.0  # cached path
    log.record(rec(run_time=5.0))
    second = log.stats()[("db", "t")]
    assert second.run_time_p99 == 5.0 and second.runs == 2
    assert first.runs == 1 and first.run_time_p99 == 1.0  # old snapshot untouched
    second.by_status["ok"] = 99  # mutating a snapshot does not reach the log
    assert log.stats()[("db", "t")].by_status["ok"] == 2
    with pytest.raises(AttributeError):
        second.runs = 0  # type: ignore[misc]


def test_stats_filter_and_forget() -> None:
    log = ActivationLog()
    log.record(rec("a", database="db1"))
    log.record(rec("b", database="db1"))
    log.record(rec("a", database="db2"))
    assert set(log.stats()) == {("db1", "a"), ("db1", "b"), ("db2", "a")}
    assert set(log.stats("db1")) == {("db1", "a"), ("db1", "b")}
    assert log.forget("db1", "a") is True
    assert log.forget("db1", "a") is False
    assert set(log.stats()) == {("db1", "b"), ("db2", "a")}
    assert log.series("db1", "a") == []
    assert len(log.recent(trigger="a", database="db1")) == 1  # history stays


# --------------------------------------------------------------------------- history


def test_history_is_bounded_and_newest_first() -> None:
    log = ActivationLog(history_limit=50)
    for _ in range(120):
        log.record(rec())
    got = log.recent(limit=1000)
    assert [r.id for r in got] == list(range(120, 70, -1))
    assert log.total_recorded == 120
    assert log.stats()[("db", "t")].runs == 120  # aggregates are not bounded by history
    assert log.get(120) is got[0] and log.get(1) is None


def test_recent_filters() -> None:
    log = ActivationLog()
    log.record(rec("a", status="ok"))
    log.record(rec("a", status="error"))
    log.record(rec("b", status="timeout"))
    log.record(rec("a", database="db2", status="error"))
    log.record(rec("b", status="ok"))
    assert [r.id for r in log.recent()] == [5, 4, 3, 2, 1]
    assert [r.id for r in log.recent(limit=2)] == [5, 4]
    assert [r.id for r in log.recent(trigger="a")] == [4, 2, 1]
    assert [r.id for r in log.recent(status="error")] == [4, 2]
    assert [r.id for r in log.recent(status=["error", "timeout"])] == [4, 3, 2]
    assert [r.id for r in log.recent(database="db2")] == [4]
    assert [r.id for r in log.recent(trigger="a", status="error", database="db")] == [2]
    assert log.recent(limit=0) == []


def test_restore_history_keeps_ids_increasing() -> None:
    log = ActivationLog()
    old = [rec(id=i) for i in (7, 8, 9)]
    assert log.restore_history(old) == 3
    assert [r.id for r in log.recent()] == [9, 8, 7]
    assert log.stats() == {} and log.drain_unsaved() == []
    assert log.record(rec()).id == 10


# --------------------------------------------------------------------------- series


def test_series_buckets() -> None:
    log = ActivationLog(bucket_seconds=5.0)
    b0 = [0.01, 0.02, 0.03, 0.5]
    for i, r in enumerate(b0):
        log.record(rec(run_time=r, at=T0 + i * 0.1, memory_peak=100 * (i + 1)))
    log.record(rec(status="error", run_time=0.2, at=T0 + 1))
    log.record(rec(status="skipped", run_time=0.0, at=T0 + 2))
    log.record(rec(run_time=0.07, at=T0 + 12.3))  # two buckets later; the empty one is not stored
    pts = log.series("db", "t")
    assert [p.start for p in pts] == [T0, T0 + 10]
    first = pts[0]
    samples = b0 + [0.2]
    assert (first.runs, first.errors, first.max_memory) == (5, 1, 400)
    assert first.p50 == nearest_rank(samples, 50) and first.p99 == nearest_rank(samples, 99)
    assert pts[1] == SeriesPoint(start=T0 + 10, p50=0.07, p99=0.07, max_memory=None, runs=1, errors=0)
    assert log.series("db", "nope") == []
    json.dumps([p.to_json() for p in pts])


def test_series_window_keeps_last_120_buckets() -> None:
    log = ActivationLog(bucket_seconds=5.0, series_buckets=120)
    for i in range(300):
        log.record(rec(at=T0 + 5 * i))
    pts = log.series("db", "t")
    assert len(pts) == 120
    assert pts[0].start == T0 + 5 * 180 and pts[-1].start == T0 + 5 * 299
    # a burst after a long pause: everything older than the 10-minute window goes
    log.record(rec(at=T0 + 5 * 299 + 3600))
    assert [p.start for p in log.series("db", "t")] == [T0 + 5 * 299 + 3600]


def test_series_out_of_order_records() -> None:
    log = ActivationLog(bucket_seconds=5.0)
    log.record(rec(run_time=0.1, at=T0 + 20))
    log.record(rec(run_time=0.2, at=T0 + 6))  # reported late: inserted into its own bucket
    log.record(rec(run_time=0.3, at=T0 + 21))
    log.record(rec(run_time=0.4, at=T0 + 7))
    pts = log.series("db", "t")
    assert [(p.start, p.runs) for p in pts] == [(T0 + 5, 2), (T0 + 20, 2)]
    assert pts[0].p99 == 0.4 and pts[1].p50 == 0.1
    log.record(rec(run_time=0.1, at=T0 + 11))  # lands between two kept buckets
    log.record(rec(run_time=0.1, at=T0 + 20 - 600))  # outside the 10-minute window: ignored
    assert [p.start for p in log.series("db", "t")] == [T0 + 5, T0 + 10, T0 + 20]


def test_series_cache_invalidated_by_new_records() -> None:
    log = ActivationLog()
    log.record(rec(run_time=0.1))
    assert log.series("db", "t")[0].p99 == 0.1
    log.record(rec(run_time=0.9))  # same bucket (bucketed by finished_at)
    assert log.series("db", "t")[0].p99 == 0.9


def test_series_bucket_percentiles_with_many_runs() -> None:
    log = ActivationLog()
    values = [i / 1000 for i in range(200)]
    for v in values:
        log.record(rec(run_time=v, at=T0 + 1))  # fits the per-bucket sample limit: exact
    (p,) = log.series("db", "t")
    assert (p.p50, p.p99, p.runs) == (nearest_rank(values, 50), nearest_rank(values, 99), 200)
    for i in range(5000):  # beyond the limit: reservoir-sampled, still close
        log.record(rec(run_time=(i % 1000) / 1000, at=T0 + 2))
    (p,) = log.series("db", "t")
    assert p.runs == 5200
    assert 0.35 < p.p50 < 0.65 and p.p99 > 0.9


def test_dense_series_fills_gaps() -> None:
    log = ActivationLog(bucket_seconds=5.0, series_buckets=4)
    log.record(rec(at=T0))
    log.record(rec(at=T0 + 10))
    pts = log.series("db", "t", dense=True, now=T0 + 16)
    assert [p.start for p in pts] == [T0, T0 + 5, T0 + 10, T0 + 15]
    assert [p.runs for p in pts] == [1, 0, 1, 0]
    assert pts[1].p50 is None


# --------------------------------------------------------------------------- failed inputs


def test_failed_input_retention_by_count() -> None:
    log = ActivationLog(failed_input_limit=3)
    payloads = {i: {"batch": [i]} for i in range(1, 6)}
    for i, p in payloads.items():
        assert log.keep_failed_input(i, p) is True
    assert log.failed_input_ids() == [3, 4, 5]
    assert log.failed_input(1) is None
    assert log.failed_input(5) is payloads[5]  # by reference: retried with the original object
    assert log.failed_input(999) is None


def test_failed_input_retention_by_bytes() -> None:
    log = ActivationLog(failed_input_limit=100, failed_input_bytes=1000)
    assert log.keep_failed_input(1, "a", size=400)
    assert log.keep_failed_input(2, "b", size=400)
    assert log.keep_failed_input(3, "c", size=400)  # 1200 > 1000: oldest evicted
    assert log.failed_input_ids() == [2, 3] and log.failed_input_bytes == 800
    assert log.keep_failed_input(4, "huge", size=1001) is False  # never fits
    assert log.failed_input_ids() == [2, 3]
    assert log.keep_failed_input(3, "c2", size=100)  # same id replaces
    assert log.failed_input(3) == "c2" and log.failed_input_bytes == 500


def test_failed_input_uses_size_estimate() -> None:
    log = ActivationLog(failed_input_bytes=200_000)
    big = [{"x": f"{i:0100d}"} for i in range(1000)]  # ~340 KB estimated
    assert log.keep_failed_input(1, big) is False
    assert log.keep_failed_input(2, [{"x": 1}]) is True


# --------------------------------------------------------------------------- persistence hooks


def test_drain_unsaved() -> None:
    log = ActivationLog(unsaved_limit=5)
    for _ in range(3):
        log.record(rec())
    assert [r.id for r in log.drain_unsaved()] == [1, 2, 3]
    assert log.drain_unsaved() == []
    for _ in range(8):
        log.record(rec())
    assert [r.id for r in log.drain_unsaved()] == [7, 8, 9, 10, 11]  # oldest dropped
    assert log.unsaved_dropped == 3
    assert len(log.recent(limit=100)) == 11  # history unaffected


# --------------------------------------------------------------------------- threads and cost


def test_concurrent_record_and_read() -> None:
    log = ActivationLog(history_limit=1000)
    n_threads, n = 6, 3000
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(tid: int) -> None:
        try:
            for i in range(n):
                log.record(rec(f"t{tid % 3}", run_time=i / n, status="error" if i % 10 == 0 else "ok"))
                if i % 100 == 0:
                    log.keep_failed_input(log.new_id(), {"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                log.stats()
                log.recent(50, status="error")
                log.series("db", "t0")
                log.drain_unsaved()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    r = threading.Thread(target=reader)
    r.start()
    ws = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    r.join()
    assert not errors
    stats = log.stats()
    assert sum(s.runs for s in stats.values()) == n_threads * n
    assert sum(s.errors for s in stats.values()) == n_threads * n // 10
    assert log.total_recorded == n_threads * n
    ids = [x.id for x in log.recent(limit=1000)]
    assert len(set(ids)) == len(ids)


def test_record_is_cheap() -> None:
    log = ActivationLog()
    recs = [rec(f"t{i % 20}", at=T0 + i * 0.01, memory_peak=i) for i in range(20_000)]
    t0 = time.perf_counter()
    for r in recs:
        log.record(r)
    per_call = (time.perf_counter() - t0) / len(recs)
    assert per_call < 50e-6  # ~1.5 µs measured; generous for slow CI
