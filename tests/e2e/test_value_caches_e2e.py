"""Last/distinct value caches through a real `pe serve`: HTTP management, the CLI, SQL over
/api/v3/query_sql, a WAL plugin reading the cache in process_writes, and a restart."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pe_engine import cli

from support.http import Http
from support.servers import isolation_args

LAST = "/api/v3/configure/last_cache"
DISTINCT = "/api/v3/configure/distinct_cache"


def post(http: Http, path: str, body: dict):
    return http.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})


def delete(http: Http, path: str, body: dict | None = None, query: dict | None = None):
    data = json.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else None
    return http.request("DELETE", path, query=query, body=data, headers=headers)


def now_ns() -> int:
    return time.time_ns()


@pytest.fixture
def table(http: Http, unique_db: str) -> str:
    t = now_ns()
    r = http.write(unique_db, f'cpu,host=a,region=us usage=1.0,n=1i,s="x" {t - 2}\n'
                              f'cpu,host=b,region=eu usage=2.0,n=2i,s="y" {t - 1}')
    assert r.status == 204, r.text
    return unique_db


# --------------------------------------------------------------------- HTTP
def test_last_cache_create_statuses_and_body(http: Http, table: str):
    db = table
    for body, status in [
        ({}, 400), ({"table": "cpu"}, 400), ({"db": db}, 400),
        ({"db": "no_such_db", "table": "cpu"}, 404), ({"db": db, "table": "nope"}, 404),
        ({"db": db, "table": "cpu", "key_columns": ["zzz"]}, 400),
        ({"db": db, "table": "cpu", "key_columns": ["usage"]}, 400),  # float key
        ({"db": db, "table": "cpu", "value_columns": ["zzz"]}, 400),
        ({"db": db, "table": "cpu", "count": 0}, 400),
    ]:
        r = post(http, LAST, body)
        assert r.status == status, (body, r.status, r.text)
        assert "error" in r.json()
    r = post(http, LAST, {"db": db, "table": "cpu"})
    assert r.status == 201, r.text
    got = r.json()
    assert got["table"] == "cpu" and got["name"] == "cpu_host_region_last_cache"
    assert got["value_columns"] == "all_non_key_columns" and got["count"] == 1 and got["ttl"] == 14400
    assert len(got["key_columns"]) == 2 and got["key_column_names"] == ["host", "region"]
    r = post(http, LAST, {"db": db, "table": "cpu"})
    assert r.status == 409, r.text
    r = post(http, LAST, {"db": db, "table": "cpu", "name": "few", "key_columns": ["host"],
                          "value_columns": ["usage"], "count": 3, "ttl": 60})
    assert r.status == 201, r.text
    assert r.json()["value_columns"] == {"explicit": {"columns": r.json()["value_columns"]["explicit"]["columns"]}}
    assert r.json()["value_column_names"] == ["usage", "time"] and r.json()["ttl"] == 60
    listed = http.rows(db, "SELECT name, count, ttl FROM system.last_caches ORDER BY name")
    assert listed == [{"name": "cpu_host_region_last_cache", "count": 1, "ttl": 14400},
                      {"name": "few", "count": 3, "ttl": 60}]


def test_cache_delete_statuses_json_and_query_string(http: Http, table: str):
    db = table
    assert post(http, LAST, {"db": db, "table": "cpu", "name": "c1"}).status == 201
    assert post(http, LAST, {"db": db, "table": "cpu", "name": "c2"}).status == 201
    assert delete(http, LAST, {"db": db, "table": "cpu"}).status == 400
    assert delete(http, LAST, {"db": "no_such_db", "table": "cpu", "name": "c1"}).status == 404
    assert delete(http, LAST, {"db": db, "table": "nope", "name": "c1"}).status == 404
    assert delete(http, LAST, {"db": db, "table": "cpu", "name": "zz"}).status == 404
    assert delete(http, LAST, {"db": db, "table": "cpu", "name": "c1"}).status == 200
    assert delete(http, LAST, {"db": db, "table": "cpu", "name": "c1"}).status == 404
    assert delete(http, LAST, query={"db": db, "table": "cpu", "name": "c2"}).status == 200
    assert http.rows(db, "SELECT name FROM system.last_caches") == []


def test_distinct_cache_http(http: Http, table: str):
    db = table
    assert post(http, DISTINCT, {"db": db, "table": "cpu"}).status == 400  # columns are required
    assert post(http, DISTINCT, {"db": db, "table": "cpu", "columns": ["n"]}).status == 400  # int field
    assert post(http, DISTINCT, {"db": db, "table": "nope", "columns": ["host"]}).status == 404
    r = post(http, DISTINCT, {"db": db, "table": "cpu", "columns": ["region", "host", "s"], "max_cardinality": 10,
                              "max_age": 3600})
    assert r.status == 201, r.text
    body = r.json()
    assert body["table_name"] == "cpu" and body["cache_name"] == "cpu_region_host_s_distinct_cache"
    assert body["max_cardinality"] == 10 and body["max_age_seconds"] == 3600 and len(body["column_ids"]) == 3
    assert post(http, DISTINCT, {"db": db, "table": "cpu", "columns": ["host"], "name": body["cache_name"]}).status == 409
    assert http.rows(db, "SELECT * FROM distinct_cache('cpu')") == [
        {"region": "eu", "host": "b", "s": "y"}, {"region": "us", "host": "a", "s": "x"}]
    assert http.rows(db, "SELECT region FROM distinct_cache('cpu')") == [{"region": "eu"}, {"region": "us"}]
    assert http.rows(db, "SELECT column_names, max_age_seconds FROM system.distinct_caches") == [
        {"column_names": ["region", "host", "s"], "max_age_seconds": 3600}]
    assert delete(http, DISTINCT, {"db": db, "table": "cpu", "name": body["cache_name"]}).status == 200
    assert delete(http, DISTINCT, {"db": db, "table": "cpu", "name": body["cache_name"]}).status == 404


def test_caches_need_a_token(http: Http, table: str):
    assert http.request("POST", LAST, body=json.dumps({"db": table, "table": "cpu"}), token=None).status == 401


# --------------------------------------------------------------------- SQL over HTTP
def test_last_cache_sql_with_and_without_params(http: Http, table: str):
    db = table
    assert post(http, LAST, {"db": db, "table": "cpu", "key_columns": ["host"], "count": 2}).status == 201
    t = now_ns()
    assert http.write(db, f"cpu,host=a,region=us usage=3.0 {t}").status == 204
    assert http.rows(db, "SELECT host, usage FROM last_cache('cpu')") == [
        {"host": "a", "usage": 3.0}, {"host": "a", "usage": 1.0}, {"host": "b", "usage": 2.0}]
    r = http.request("POST", "/api/v3/query_sql", body=json.dumps({
        "db": db, "q": "SELECT host, usage, n FROM last_cache('cpu') WHERE host = $h", "params": {"h": "a"}}))
    assert r.status == 200, r.text
    assert r.json() == [{"host": "a", "usage": 3.0}, {"host": "a", "usage": 1.0, "n": 1}]
    r = http.query(db, "SELECT * FROM last_cache('cpu', 'nope')")
    assert r.status == 400 and "could not find cache for the given arguments" in r.json()["error"]


# --------------------------------------------------------------------- CLI
@pytest.fixture
def pe(server, capsys, monkeypatch):
    for name in ("PE_HOST", "PE_TOKEN", "PE_DATABASE", "INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN",
                 "INFLUXDB3_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([*args, "--host", server.url, "--token", server.token])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_create_and_delete_caches(pe, http: Http, table: str):
    db = table
    code, out, err = pe("create", "last_cache", "-d", db, "-t", "cpu", "--key-columns", "host",
                        "--value-columns", "usage,n", "--count", "2", "--ttl", "4 hours", "mine")
    assert code == 0, err
    assert out.startswith("new cache created: ")
    created = json.loads(out[len("new cache created: "):])
    assert created["name"] == "mine" and created["count"] == 2 and created["ttl"] == 14400
    code, out, err = pe("create", "last_cache", "-d", db, "-t", "cpu", "--ttl", "90")
    assert code == 0 and json.loads(out.split(": ", 1)[1])["ttl"] == 90
    code, out, err = pe("create", "last_cache", "-d", db, "-t", "cpu", "mine")
    assert code == 1 and "already exists" in err
    code, out, err = pe("create", "last_cache", "-d", db, "-t", "cpu", "--key-columns", "usage", "x")
    assert code == 1 and "float" in err
    code, out, err = pe("create", "distinct_cache", "-d", db, "-t", "cpu", "--columns", "region,host",
                        "--max-cardinality", "50", "--max-age", "2h")
    assert code == 0, err
    created = json.loads(out.split(": ", 1)[1])
    assert created["cache_name"] == "cpu_region_host_distinct_cache" and created["max_age_seconds"] == 7200
    assert http.rows(db, "SELECT name, ttl FROM system.last_caches ORDER BY name") == [
        {"name": "cpu_host_region_last_cache", "ttl": 90}, {"name": "mine", "ttl": 14400}]
    assert pe("delete", "last_cache", "-d", db, "-t", "cpu", "mine")[1] == "last cache deleted successfully\n"
    assert pe("delete", "distinct_cache", "-d", db, "-t", "cpu", "cpu_region_host_distinct_cache")[0] == 0
    code, out, err = pe("delete", "last_cache", "-d", db, "-t", "cpu", "mine")
    assert code == 1 and "not found" in err


# --------------------------------------------------------------------- plugins and restarts
PROBE = '''
def process_writes(influxdb3_local, table_batches, args=None):
    for tb in table_batches:
        if tb["table_name"] != "cpu":
            continue
        for row in tb["rows"]:
            got = influxdb3_local.query(
                "SELECT usage FROM last_cache('cpu') WHERE host = $h", {"h": row["host"]})
            cached = got[0]["usage"] if got else -1.0
            influxdb3_local.write(LineBuilder("seen").tag("host", row["host"])
                                  .float64_field("row_usage", row["usage"])
                                  .float64_field("cached_usage", cached))
'''


def test_wal_plugin_sees_the_rows_that_fired_it_in_the_cache(server_factory, admin_token, tmp_path: Path,
                                                              plugin_isolation: str):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "lvc_probe.py").write_text(PROBE)
    srv = server_factory(tmp_path / "data", admin_token, ["--plugin-dir", str(plugins), *isolation_args(plugin_isolation)])
    http = Http(srv.url, srv.token)
    db = "plugindb"
    assert http.write(db, f"cpu,host=init usage=0.0 {now_ns()}").status == 204
    assert post(http, LAST, {"db": db, "table": "cpu"}).status == 201
    r = post(http, "/api/v3/configure/processing_engine_trigger", {
        "db": db, "plugin_filename": "lvc_probe.py", "trigger_name": "probe", "trigger_specification": "table:cpu",
        "trigger_settings": {"run_async": False, "error_behavior": "log"}, "disabled": False})
    assert r.status == 200, r.text
    for i in range(5):  # one new host per write: the newest cached row of that host is the one just written
        assert http.write(db, f"cpu,host=h{i} usage={10 + i}.5 {now_ns()}").status == 204
    assert http.poll(lambda: http.query(db, "SELECT count(*) AS n FROM seen").status == 200
                     and http.rows(db, "SELECT count(*) AS n FROM seen")[0]["n"] == 5, timeout=20), srv.stderr
    seen = http.rows(db, "SELECT host, row_usage, cached_usage FROM seen ORDER BY host")
    assert seen == [{"host": f"h{i}", "row_usage": 10 + i + 0.5, "cached_usage": 10 + i + 0.5} for i in range(5)]


def test_restart_refills_caches(server_factory, admin_token, tmp_path: Path):
    srv = server_factory(tmp_path / "data", admin_token)
    http = Http(srv.url, srv.token)
    db = "restartdb"
    t = now_ns()
    lines = "\n".join(f"cpu,host=h{i % 4},region=r{i % 2} usage={i}.0 {t - (50 - i) * 1_000_000}" for i in range(50))
    assert http.write(db, lines).status == 204
    assert post(http, LAST, {"db": db, "table": "cpu", "key_columns": ["host"], "count": 2}).status == 201
    assert post(http, DISTINCT, {"db": db, "table": "cpu", "columns": ["region", "host"]}).status == 201
    before_l = http.rows(db, "SELECT host, usage FROM last_cache('cpu')")
    before_d = http.rows(db, "SELECT * FROM distinct_cache('cpu')")
    assert len(before_l) == 8 and len(before_d) == 4
    assert srv.stop() == 0
    srv2 = server_factory(tmp_path / "data", admin_token)
    http2 = Http(srv2.url, srv2.token)
    assert http2.rows(db, "SELECT host, usage FROM last_cache('cpu')") == before_l
    assert http2.rows(db, "SELECT * FROM distinct_cache('cpu')") == before_d
    assert http2.rows(db, "SELECT name FROM system.last_caches") == [{"name": "cpu_host_last_cache"}]
