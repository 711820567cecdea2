"""/metrics, /api/v1/health and `format=json_lines` against a real `pe serve --plugin-dir` with
auth on: the scrape is parsed with prometheus_client's own parser and every counter is checked
to move by what the test did (a write with a rejected line, a query, a WAL trigger firing)."""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pe_engine import __version__
from support.http import Http
from support.servers import ServerProc, start_plugin_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[ServerProc]:
    s = start_plugin_server(tmp_path_factory.mktemp("pe-metrics"), admin_token)
    yield s
    assert s.stop() == 0, s.stderr


@pytest.fixture
def http(srv: ServerProc) -> Http:
    return Http(srv.url, srv.token)


def scrape(http: Http) -> Samples:
    r = http.request("GET", "/metrics")
    assert r.status == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


def test_counters_move_with_a_write_a_query_and_a_wal_trigger(http: Http) -> None:
    db = "m_" + secrets.token_hex(4)
    r = http.request("POST", "/api/v3/configure/database", body=json.dumps({"db": db}),
                     headers={"Content-Type": "application/json"})
    assert r.status in (200, 201, 204), r.text
    body = {"db": db, "plugin_filename": "wal_plugin.py", "trigger_name": "reports",
            "trigger_specification": "table:cpu", "trigger_settings": {"run_async": False, "error_behavior": "log"}}
    r = http.request("POST", "/api/v3/configure/processing_engine_trigger", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
    assert r.status == 200, r.text
    before = scrape(http)

    t = time.time_ns()
    r = http.write(db, f"cpu,host=a usage=1 {t}\ncpu,host=b usage=2 {t}\ncpu,host=c usage=\"high\" {t}")
    assert r.status == 400 and r.json()["error"] == "partial write of line protocol occurred", r.text
    assert http.rows(db, "SELECT host FROM cpu ORDER BY host") == [{"host": "a"}, {"host": "b"}]

    # The trigger reports the flushed rows by writing one line of its own: wait for that.
    assert http.poll(lambda: value(scrape(http), "pe_activations_total", database=db, trigger="reports",
                                   status="ok") == 1, timeout=15)
    assert http.poll(lambda: value(scrape(http), "pe_lines_written_total")
                     - value(before, "pe_lines_written_total") == 3, timeout=15)
    after = scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("pe_http_write_requests_total") == 1  # the plugin's write is no HTTP request
    assert moved("pe_writes_total") == 2  # ...but it is a write
    assert moved("pe_lines_written_total") == 3
    assert moved("pe_lines_rejected_total") == 1
    assert moved("pe_queries_total") == 1
    assert moved("pe_http_query_duration_seconds_count") == 1
    assert moved("pe_http_query_duration_seconds_sum") > 0
    assert moved("pe_wal_flush_duration_seconds_count") >= 2  # the plugin wrote after the first flush
    assert moved("pe_wal_flush_duration_seconds_sum") > 0
    trig = {"database": db, "trigger": "reports"}
    assert value(after, "pe_plugin_run_seconds_count", **trig) == 1
    assert value(after, "pe_plugin_run_seconds_sum", **trig) > 0
    assert value(after, "pe_plugin_run_seconds", **trig, quantile="0.5") > 0
    assert value(after, "pe_activations_total", **trig, status="error") == 0
    build = [labels for (name, labels) in after if name == "pe_build_info"]
    assert len(build) == 1 and ("version", __version__) in build[0] and value(after, "pe_build_info", **dict(build[0])) == 1


def test_metrics_needs_an_admin_token(http: Http) -> None:
    for token in (None, "apiv3_not_a_token"):
        r = http.request("GET", "/metrics", token=token)
        assert r.status == 401, r.text
        assert "token" in r.json()["error"]
    perms = [{"resource_type": "db", "resource_identifier": ["*"], "actions": ["read", "write"]}]
    r = http.request("POST", "/api/v3/configure/token", body=json.dumps(
        {"token_name": "reader_" + secrets.token_hex(4), "permissions": perms}), headers={"Content-Type": "application/json"})
    assert r.status == 201, r.text
    assert http.request("GET", "/metrics", token=r.json()["token"]).status == 403  # a database token is not enough
    assert http.request("GET", "/metrics").status == 200


def test_api_v1_health_is_open_and_answers_like_health(http: Http) -> None:
    v1 = http.request("GET", "/api/v1/health", token=None)
    plain = http.request("GET", "/health", token=None)
    assert v1.status == plain.status == 200
    assert v1.body == plain.body == b"OK"
    assert v1.headers["x-influxdb-version"] == plain.headers["x-influxdb-version"] == __version__
    assert http.request("HEAD", "/api/v1/health", token=None).status == 200
    assert http.request("POST", "/api/v1/health").status == 405


def test_query_format_json_lines(http: Http, tmp_path: Path) -> None:
    db = "jl_" + secrets.token_hex(4)
    assert http.write(db, "m,k=a v=1i 1\nm,k=b v=2i 2", precision="ns").status == 204
    sql = "SELECT k, v FROM m ORDER BY k"
    named = http.query(db, sql, fmt="json_lines")
    assert named.status == 200, named.text
    assert named.headers["content-type"] == "application/jsonl"
    assert [json.loads(line) for line in named.text.splitlines()] == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert http.query(db, sql, fmt="jsonl").body == named.body
    assert http.query(db, sql, fmt="JSON_LINES").body == named.body
    posted = http.request("POST", "/api/v3/query_sql", body=json.dumps({"db": db, "q": sql, "format": "json_lines"}),
                          headers={"Content-Type": "application/json"})
    assert posted.status == 200 and posted.body == named.body
    bad = http.query(db, sql, fmt="ndjson")
    assert bad.status == 400 and "json_lines" in bad.json()["error"]
    # the database listing takes the same names
    listed = http.request("GET", "/api/v3/configure/database", {"format": "json_lines"})
    assert listed.status == 200 and listed.headers["content-type"] == "application/jsonl"
    assert {"iox::database": db} in [json.loads(line) for line in listed.text.splitlines()]
