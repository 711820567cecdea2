"""/metrics in process: an engine with the test plugins behind the real aiohttp app (a TestServer
on loopback), scraped and parsed with prometheus_client's parsers. Request triggers, value caches
and the plugin cache; apps that count apart; the OpenMetrics answer."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from pe_engine.engine import Engine
from pe_engine.http.app import create_app
from support.engines import make_engine, wait_acts

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest_asyncio.fixture
async def e(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = make_engine(tmp_path)
    await engine.start()
    await engine.create_database("db")
    try:
        yield engine
    finally:
        await engine.stop()


async def scrape(client: TestClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status == 200, await r.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(await r.text()) for s in family.samples}


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


async def test_activations_value_caches_and_plugin_cache(e: Engine) -> None:
    assert e.processing is not None
    t = time.time_ns()
    await e.write_lp("db", f"cpu,host=a usage=1 {t}\ncpu,host=b usage=2 {t}\ncpu,host=a usage=3 {t + 1}")
    await e.value_caches.create_last_cache("db", "cpu", name="last_cpu", key_columns=["host"])
    await e.value_caches.create_distinct_cache("db", "cpu", name="hosts", columns=["host"])
    await e.processing.create_trigger("db", "hello", "hello_request.py", "request:hello")
    await e.processing.create_trigger("db", "boom", "raises.py", "request:boom")
    async with TestClient(TestServer(create_app(e))) as client:
        empty = await scrape(client)
        assert value(empty, "pe_activations_total", database="db", trigger="hello", status="ok") == 0
        for _ in range(2):
            assert (await client.get("/api/v3/engine/hello")).status == 200
        assert (await client.get("/api/v3/engine/boom")).status == 500
        await wait_acts(e, "hello", 2)
        await wait_acts(e, "boom", 1)
        got = await scrape(client)
    hello, boom = {"database": "db", "trigger": "hello"}, {"database": "db", "trigger": "boom"}
    assert value(got, "pe_activations_total", **hello, status="ok") == 2
    assert value(got, "pe_activations_total", **boom, status="error") == 1
    assert value(got, "pe_activations_total", **boom, status="ok") == 0
    assert value(got, "pe_plugin_run_seconds_count", **hello) == 2
    assert value(got, "pe_plugin_run_seconds_count", **boom) == 1
    assert value(got, "pe_plugin_run_seconds_sum", **hello) > 0
    assert {q for (name, labels) in got if name == "pe_plugin_run_seconds" and ("trigger", "hello") in labels
            for k, q in labels if k == "quantile"} == {"0.5", "0.95", "0.99"}
    assert ("pe_plugin_cpu_seconds_total", frozenset(hello.items())) in got
    # hello_request counts its calls under one key of its trigger's cache
    assert value(got, "pe_plugin_cache_keys", scope="trigger", database="db", name="hello") == 1
    assert value(got, "pe_plugin_cache_bytes") > 0
    # two hosts: two keys in the last-value cache, two values in the distinct-value cache
    assert value(got, "pe_value_cache_entries", kind="last", database="db", table="cpu", name="last_cpu") == 2
    assert value(got, "pe_value_cache_entries", kind="distinct", database="db", table="cpu", name="hosts") == 2


async def test_each_app_has_its_own_registry_and_http_counters(e: Engine) -> None:
    async with TestClient(TestServer(create_app(e))) as one, TestClient(TestServer(create_app(e))) as two:
        before_one, before_two = await scrape(one), await scrape(two)
        r = await one.post("/api/v3/write_lp", params={"db": "db"}, data=f"m v=1 {time.time_ns()}")
        assert r.status == 204, await r.text()
        after_one, after_two = await scrape(one), await scrape(two)
    name = "pe_http_write_requests_total"
    assert value(after_one, name) - value(before_one, name) == 1
    assert value(after_two, name) == value(before_two, name)  # the other app saw no request
    for s in (after_one, after_two):  # the engine's own counters are the same seen from either
        assert value(s, "pe_lines_written_total") == value(after_one, "pe_lines_written_total") >= 1


async def test_openmetrics_when_the_scraper_asks(e: Engine) -> None:
    async with TestClient(TestServer(create_app(e))) as client:
        r = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        text = await r.text()
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(text)}  # raises on anything malformed
    assert families["pe_lines_written"].type == "counter"
    assert families["pe_wal_flush_duration_seconds"].type == "summary"
    assert families["pe_build"].type == "info"
