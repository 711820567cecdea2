"""EventBus: every subscriber has a bounded queue; a full one drops its oldest events and counts
them; publishing never waits for a subscriber (slow, stopped, or draining from another thread)."""
from __future__ import annotations

import threading
import time

from pe_engine.events import EngineLog, EventBus


def log(i: int) -> EngineLog:
    return EngineLog(level="INFO", message=str(i))


def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxlen=3)
    for i in range(5):
        bus.publish(log(i))
    assert len(sub) == 3
    assert sub.dropped == 2
    assert [e.message for e in sub.drain()] == ["2", "3", "4"]  # the newest kept, in order
    assert len(sub) == 0 and sub.dropped == 2  # the counter is cumulative


def test_each_subscriber_has_its_own_bound_and_counter() -> None:
    bus = EventBus()
    small, big = bus.subscribe(maxlen=2), bus.subscribe(maxlen=100)
    for i in range(10):
        bus.publish(log(i))
    assert (small.dropped, len(small)) == (8, 2)
    assert (big.dropped, len(big)) == (0, 10)
    assert bus.published == 10


def test_drain_limit_and_unsubscribe() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxlen=10)
    for i in range(5):
        bus.publish(log(i))
    assert [e.message for e in sub.drain(limit=2)] == ["0", "1"]
    assert len(sub) == 3
    bus.unsubscribe(sub)
    assert sub.closed
    bus.publish(log(99))
    assert len(sub) == 3  # no longer fed
    assert bus.extra()["subscribers"] == 0


def test_publishing_never_waits_for_a_subscriber_that_does_not_drain() -> None:
    bus = EventBus()
    stuck = bus.subscribe(maxlen=100)  # nobody ever drains it
    n = 200_000
    for i in range(n):
        bus.publish(log(i))
    assert len(stuck) == 100 and stuck.dropped == n - 100  # bounded: memory does not grow


def test_publish_takes_no_lock_a_subscriber_could_hold() -> None:
    """The hot path is a deque append per subscriber: even with the bus's own lock held (a
    subscribe or unsubscribe in progress on another thread), publishing goes through."""
    bus = EventBus()
    sub = bus.subscribe(maxlen=10)
    finished = threading.Event()

    def publisher() -> None:
        for i in range(1000):
            bus.publish(log(i))
        finished.set()

    with bus._lock:
        t = threading.Thread(target=publisher)
        t.start()
        assert finished.wait(timeout=60), "publish waited on the bus lock"
    t.join()
    assert len(sub) == 10 and sub.dropped == 990


def test_draining_from_another_thread_loses_nothing_that_fits() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxlen=1_000_000)
    n = 50_000
    got: list[int] = []
    done = threading.Event()

    def drainer() -> None:
        while not done.is_set() or len(sub):
            got.extend(int(e.message) for e in sub.drain())
            time.sleep(0.001)

    t = threading.Thread(target=drainer)
    t.start()
    for i in range(n):
        bus.publish(log(i))
    done.set()
    t.join(timeout=60)
    assert not t.is_alive()
    assert got == list(range(n)) and sub.dropped == 0


def test_subscribing_while_publishing_from_another_thread_is_safe() -> None:
    bus = EventBus()
    stop = threading.Event()

    def publisher() -> None:
        i = 0
        while not stop.is_set():
            bus.publish(log(i))
            i += 1

    t = threading.Thread(target=publisher)
    t.start()
    try:
        subs = [bus.subscribe(maxlen=10) for _ in range(50)]
        for s in subs[::2]:
            bus.unsubscribe(s)
    finally:
        stop.set()
        t.join(timeout=60)
    assert bus.extra()["subscribers"] == 25
    assert all(len(s) <= 10 for s in subs)
