"""The HTTP API against a real `pe serve` subprocess: InfluxDB 3's shapes, statuses and clients."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support.http import Http

ROOT = Path(__file__).resolve().parents[2]

LP = (
    "cpu,host=a,region=eu usage=1.5,count=3i,ok=true,msg=\"hi\" 1700000000000000000\n"
    "cpu,host=b,region=us usage=2.5,count=4i,ok=false,msg=\"yo\" 1700000001000000000\n"
)


@pytest.fixture(autouse=True)
def still_serving(server, http: Http):
    """Whatever a test threw at the server, it must keep serving afterwards."""
    yield
    assert server.proc.poll() is None, server.stderr
    assert http.request("GET", "/health").status == 200


def count(http: Http, db: str, table: str = "cpu") -> int:
    return http.rows(db, f'SELECT count(*) AS n FROM "{table}"')[0]["n"]


# --------------------------------------------------------------------- open endpoints
def test_health_and_ping_need_no_token(http: Http):
    r = http.request("GET", "/health", token=None)
    assert (r.status, r.text) == (200, "OK")
    r = http.request("GET", "/ping", token=None)
    assert r.status == 200
    assert r.headers["x-influxdb-build"] == "pe" and r.headers["x-influxdb-version"]
    assert r.json()["version"] == r.headers["x-influxdb-version"]
    assert http.request("HEAD", "/ping", token=None).status == 200


def test_unknown_route_and_method_are_json_errors(http: Http):
    r = http.request("GET", "/api/v3/nope")
    assert r.status == 404 and "error" in r.json()
    r = http.request("PUT", "/api/v3/write_lp")
    assert r.status == 405 and "not allowed" in r.json()["error"]


# --------------------------------------------------------------------- write + query
def test_write_then_query_every_format(http: Http, unique_db: str):
    assert http.write(unique_db, LP).status == 204
    sql = "SELECT host, usage, count, ok, msg, time FROM cpu ORDER BY time"

    r = http.query(unique_db, sql, "json")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    rows = r.json()
    assert [row["host"] for row in rows] == ["a", "b"]
    assert rows[0]["usage"] == 1.5 and rows[0]["count"] == 3 and rows[0]["ok"] is True
    assert rows[1]["msg"] == "yo" and rows[0]["time"].startswith("2023-11-14T22:13:20")

    r = http.query(unique_db, sql, "jsonl")
    assert r.status == 200
    lines = r.text.strip().split("\n")
    assert [json.loads(line)["host"] for line in lines] == ["a", "b"]

    r = http.query(unique_db, sql, "csv")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    csv_lines = r.text.strip().split("\n")
    assert csv_lines[0] == "host,usage,count,ok,msg,time"
    assert csv_lines[1].startswith("a,1.5,3,true,hi,")

    r = http.query(unique_db, sql, "parquet")
    assert r.status == 200
    table = pq.read_table(io.BytesIO(r.body))
    assert table.column("host").to_pylist() == ["a", "b"]
    assert table.column("usage").to_pylist() == [1.5, 2.5]

    r = http.query(unique_db, sql, "pretty")
    assert r.status == 200
    assert "| host |" in r.text and "| a    |" in r.text and r.text.startswith("+")


def test_query_via_post_json_body_and_default_format(http: Http, unique_db: str):
    http.write(unique_db, LP)
    body = json.dumps({"db": unique_db, "q": "SELECT host FROM cpu ORDER BY host"})
    r = http.request("POST", "/api/v3/query_sql", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 200 and r.json() == [{"host": "a"}, {"host": "b"}]


def test_query_params_get_and_post(http: Http, unique_db: str):
    http.write(unique_db, LP)
    sql = "SELECT host, usage FROM cpu WHERE host = $host AND usage > $min"
    params = json.dumps({"host": "b", "min": 1.0})
    r = http.query(unique_db, sql, params=params)
    assert r.status == 200 and r.json() == [{"host": "b", "usage": 2.5}]
    body = json.dumps({"db": unique_db, "q": sql, "params": {"host": "a", "min": 0}})
    r = http.request("POST", "/api/v3/query_sql", body=body)
    assert r.status == 200 and r.json() == [{"host": "a", "usage": 1.5}]
    r = http.query(unique_db, sql, params="[1, 2]")
    assert r.status == 400 and "params" in r.json()["error"]


def test_query_errors(http: Http, unique_db: str):
    r = http.query("no_such_db_here", "SELECT 1")
    assert r.status == 404 and r.json() == {"error": "database not found: no_such_db_here"}
    http.write(unique_db, LP)
    r = http.query(unique_db, "SELEKT nonsense FROM")
    assert r.status == 400 and r.json()["error"]
    r = http.query(unique_db, "SELECT * FROM cpu", "xml")
    assert r.status == 400 and "unknown format" in r.json()["error"]
    r = http.request("GET", "/api/v3/query_sql", {"db": unique_db})
    assert r.status == 400 and "q" in r.json()["error"]
    r = http.request("POST", "/api/v3/query_sql", body="{not json")
    assert r.status == 400 and "JSON" in r.json()["error"]


# --------------------------------------------------------------------- write errors
def test_partial_write_reports_bad_lines_and_keeps_good_ones(http: Http, unique_db: str):
    body = "cpu,host=a v=1 1\nthis is not lp\ncpu,host=b v=2 2\n\ncpu,host=c v= 3\ncpu,host=d v=4 4"
    r = http.write(unique_db, body)
    assert r.status == 400
    payload = r.json()
    assert payload["error"] == "partial write of line protocol occurred"
    assert [e["line_number"] for e in payload["data"]] == [2, 5]
    assert payload["data"][0]["original_line"] == "this is not lp"
    assert payload["data"][1]["original_line"] == "cpu,host=c v= 3"
    assert all(e["error_message"] for e in payload["data"])
    assert set(payload["data"][0]) == {"original_line", "line_number", "error_message"}
    hosts = [row["host"] for row in http.rows(unique_db, "SELECT host FROM cpu ORDER BY host")]
    assert hosts == ["a", "b", "d"]


def test_accept_partial_false_writes_nothing(http: Http, unique_db: str):
    assert http.write(unique_db, "cpu v=1 1").status == 204
    r = http.write(unique_db, "cpu v=2 2\ncpu v=3 3\ncpu oops\ncpu v=\"x\" 4", accept_partial="false")
    assert r.status == 400
    payload = r.json()
    assert payload["error"] == "parsing failed for write_lp endpoint"
    assert payload["data"]["line_number"] == 3 and payload["data"]["original_line"] == "cpu oops"
    assert count(http, unique_db) == 1


def test_type_conflict_against_catalog(http: Http, unique_db: str):
    assert http.write(unique_db, "m,t=x f=1.5 1").status == 204
    r = http.write(unique_db, 'm,t=y f="text" 2\nm,t=z g=2.5 3\nm,t=w f=3i 4')
    assert r.status == 400
    errors = r.json()["data"]
    assert [e["line_number"] for e in errors] == [1, 3]
    assert "'f'" in errors[0]["error_message"] and "float" in errors[0]["error_message"]
    assert [row["t"] for row in http.rows(unique_db, "SELECT t FROM m ORDER BY time")] == ["x", "z"]


def test_bad_write_parameters(http: Http, unique_db: str):
    assert http.request("POST", "/api/v3/write_lp", body="cpu v=1").status == 400
    r = http.write(unique_db, "cpu v=1", precision="fortnight")
    assert r.status == 400 and "precision" in r.json()["error"]
    r = http.write(unique_db, "cpu v=1", accept_partial="maybe")
    assert r.status == 400 and "accept_partial" in r.json()["error"]
    r = http.write("bad name!", "cpu v=1")
    assert r.status == 400 and "database name" in r.json()["error"]


def test_precision_v3(http: Http, unique_db: str):
    assert http.write(unique_db, "cpu v=1 1700000000", precision="second").status == 204
    assert http.write(unique_db, "cpu v=2 1700000001000", precision="ms").status == 204
    times = [r["time"] for r in http.rows(unique_db, "SELECT time FROM cpu ORDER BY time")]
    assert times == ["2023-11-14T22:13:20", "2023-11-14T22:13:21"]


def test_no_sync_write_becomes_queryable(http: Http, unique_db: str):
    assert http.write(unique_db, "cpu v=1 1\ncpu v=2 2", no_sync="true").status == 204

    def visible() -> bool:
        r = http.query(unique_db, "SELECT count(*) AS n FROM cpu")
        return r.status == 200 and r.json()[0]["n"] == 2

    assert http.poll(visible)


# --------------------------------------------------------------------- v1 / v2 writes
def test_v2_write(http: Http, server, unique_db: str):
    r = http.request("POST", "/api/v2/write", {"bucket": f"{unique_db}/autogen", "org": "any", "precision": "s"},
                     "cpu,host=v2 v=1 1700000000", headers={"Authorization": f"Token {server.token}"})
    assert r.status == 204, r.body
    assert http.rows(unique_db, "SELECT host, time FROM cpu") == [{"host": "v2", "time": "2023-11-14T22:13:20"}]
    r = http.request("POST", "/api/v2/write", {"bucket": unique_db}, "cpu v=1 1\ncpu v=\n")
    assert r.status == 400 and r.json()["data"][0]["line_number"] == 2
    r = http.request("POST", "/api/v2/write", {"bucket": unique_db, "precision": "n"}, "cpu v=1 1")
    assert r.status == 400 and "precision" in r.json()["error"]
    assert http.request("POST", "/api/v2/write", {"org": "x"}, "cpu v=1 1").status == 400


def test_v1_write_with_query_string_credentials(http: Http, server, unique_db: str):
    r = http.request("POST", "/write", {"db": unique_db, "precision": "m", "u": "me", "p": server.token},
                     "cpu,host=v1 v=1 28333333", token=None)
    assert r.status == 204, r.body
    assert http.rows(unique_db, "SELECT time FROM cpu") == [{"time": "2023-11-14T22:13:00"}]
    r = http.request("POST", "/write", {"db": unique_db, "precision": "h"}, "cpu,host=h v=2 472222")
    assert r.status == 204
    r = http.request("POST", "/write", {"db": unique_db, "p": "wrong"}, "cpu v=1", token=None)
    assert r.status == 401


# --------------------------------------------------------------------- bodies
def test_gzip_body(http: Http, unique_db: str):
    lp = "".join(f"cpu,host=h{i % 7} v={i} {i}\n" for i in range(5000)).encode()
    r = http.request("POST", "/api/v3/write_lp", {"db": unique_db}, gzip.compress(lp), {"Content-Encoding": "gzip"})
    assert r.status == 204, r.body
    assert count(http, unique_db) == 5000


def test_bad_gzip_is_400(http: Http, unique_db: str):
    r = http.request("POST", "/api/v3/write_lp", {"db": unique_db}, b"definitely not gzip",
                     {"Content-Encoding": "gzip"})
    assert r.status == 400 and "gzip" in r.json()["error"]
    truncated = gzip.compress(b"cpu v=1 1\n" * 100)[:-12]
    r = http.request("POST", "/api/v3/write_lp", {"db": unique_db}, truncated, {"Content-Encoding": "gzip"})
    assert r.status == 400 and "gzip" in r.json()["error"]
    r = http.request("POST", "/api/v3/write_lp", {"db": unique_db}, b"cpu v=1", {"Content-Encoding": "br"})
    assert r.status == 415


def test_oversized_body_is_413(http: Http, unique_db: str):
    big = b"cpu v=1 1\n" * (450 * 1024)  # 4.5 MiB against the fixture's 4 MiB limit
    r = http.write(unique_db, big)
    assert r.status == 413 and "limit" in r.json()["error"]
    assert http.query(unique_db, "SELECT 1").status == 404  # nothing was written, not even the database


def test_gzip_bomb_is_413(http: Http, unique_db: str):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 200_000
    r = http.request("POST", "/api/v3/write_lp", {"db": unique_db}, bomb, {"Content-Encoding": "gzip"})
    assert r.status == 413 and "decompressed" in r.json()["error"]


# --------------------------------------------------------------------- auth
def test_auth_required_with_json_errors(http: Http, server, unique_db: str):
    r = http.write(unique_db, "cpu v=1 1", token=None)
    assert r.status == 401 and "missing token" in r.json()["error"]
    r = http.write(unique_db, "cpu v=1 1", token="apiv3_wrong")
    assert r.status == 401 and "invalid token" in r.json()["error"]
    r = http.query(unique_db, "SELECT 1", token=None)
    assert r.status == 401
    r = http.request("GET", "/api/v3/configure/database", headers={"Authorization": "Basic Zm9v"})
    assert r.status == 401
    r = http.write(unique_db, "cpu v=1 1", headers={"Authorization": f"Token {server.token}"})
    assert r.status == 204


def test_auth_file_holds_only_a_hash_readable_by_owner(server):
    path = server.data_dir / "auth.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert server.token not in text
    assert hashlib.sha256(server.token.encode()).hexdigest() in text


# --------------------------------------------------------------------- databases
def test_database_lifecycle(http: Http, unique_db: str):
    r = http.request("POST", "/api/v3/configure/database", body=json.dumps({"db": unique_db}))
    assert r.status == 200
    r = http.request("POST", "/api/v3/configure/database", body=json.dumps({"db": unique_db}))
    assert r.status == 409 and "exists" in r.json()["error"]
    r = http.request("POST", "/api/v3/configure/database", body=json.dumps({"db": "no//slash"}))
    assert r.status == 400
    r = http.request("POST", "/api/v3/configure/database", body=json.dumps({}))
    assert r.status == 400

    r = http.request("GET", "/api/v3/configure/database", {"format": "json"})
    assert r.status == 200 and {"iox::database": unique_db} in r.json()
    r = http.request("GET", "/api/v3/configure/database", {"format": "csv"})
    assert r.status == 200 and r.text.startswith("iox::database\n") and unique_db in r.text
    r = http.request("GET", "/api/v3/configure/database", {"format": "pretty"})
    assert r.status == 200 and f"| {unique_db}" in r.text

    http.write(unique_db, "cpu v=1 1")
    r = http.request("DELETE", "/api/v3/configure/database", {"db": unique_db})
    assert r.status == 200
    r = http.request("DELETE", "/api/v3/configure/database", {"db": unique_db})
    assert r.status == 404 and unique_db in r.json()["error"]
    r = http.request("GET", "/api/v3/configure/database")
    assert {"iox::database": unique_db} not in r.json()
    assert http.query(unique_db, "SELECT * FROM cpu").status == 404


# --------------------------------------------------------------------- real clients
def test_influxdb_client_v2(server, http: Http, unique_db: str):
    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    with InfluxDBClient(url=server.url, token=server.token, org="pe") as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        write_api.write(bucket=unique_db, record=Point("weather").tag("city", "Oslo").field("temp", 3.5))
        write_api.write(bucket=unique_db, record="weather,city=Rome temp=18.0")
        assert client.ping()
    rows = http.rows(unique_db, "SELECT city, temp FROM weather ORDER BY city")
    assert rows == [{"city": "Oslo", "temp": 3.5}, {"city": "Rome", "temp": 18.0}]


def test_influxdb_client_3(server, http: Http, unique_db: str):
    from influxdb_client_3 import InfluxDBClient3, Point

    with InfluxDBClient3(host=server.url, token=server.token, database=unique_db) as client:
        client.write(record=Point("air").tag("room", "lab").field("co2", 415))
        client.write(record="air,room=hall co2=500i")
    rows = http.rows(unique_db, "SELECT room, co2 FROM air ORDER BY room")
    assert rows == [{"room": "hall", "co2": 500}, {"room": "lab", "co2": 415}]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(server, http: Http, unique_db: str):
    base = [shutil.which("curl"), "-sS", "-H", f"Authorization: Bearer {server.token}"]
    out = subprocess.run(
        [*base, "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "cpu,host=curl v=7 1",
         f"{server.url}/api/v3/write_lp?db={unique_db}"],
        capture_output=True, text=True, timeout=20)
    assert out.stdout == "204", out.stderr
    q = urllib.parse.quote("SELECT host, v FROM cpu")
    out = subprocess.run([*base, f"{server.url}/api/v3/query_sql?db={unique_db}&q={q}&format=jsonl"],
                         capture_output=True, text=True, timeout=20)
    assert json.loads(out.stdout) == {"host": "curl", "v": 7.0}


# --------------------------------------------------------------------- restarts
def test_restart_after_sigterm_loses_nothing(server_factory, tmp_path):
    data = tmp_path / "restart-data"
    first = server_factory(data, token=None)  # no --admin-token: it generates one and prints it once
    m = re.search(r"(apiv3_\S+)", first.stderr)
    assert m, first.stderr
    token = m.group(1)
    http = Http(first.url, token)
    lp = "".join(f"cpu,host=h{i % 3} v={i} {i}\n" for i in range(1000))
    assert http.write("keep", lp).status == 204
    assert http.write("keep", "late v=1 1", no_sync="true").status == 204
    assert first.stop(signal.SIGTERM) == 0, first.stderr
    assert "stopped cleanly" in first.stderr

    second = server_factory(data, token=None)
    assert token not in second.stderr and "generated the admin token" not in second.stderr
    http = Http(second.url, token)
    assert count(http, "keep") == 1000
    assert count(http, "keep", "late") == 1
    assert second.stop(signal.SIGINT) == 0, second.stderr


def test_admin_token_flag_replaces_generated_token(server_factory, tmp_path):
    data = tmp_path / "token-data"
    first = server_factory(data, token=None)
    old = re.search(r"(apiv3_\S+)", first.stderr).group(1)
    first.stop()
    second = server_factory(data, token="apiv3_operator_chosen")
    http = Http(second.url, "apiv3_operator_chosen")
    assert http.request("GET", "/api/v3/configure/database").status == 200
    assert http.request("GET", "/api/v3/configure/database", token=old).status == 401


def test_without_auth(server_factory, tmp_path):
    srv = server_factory(tmp_path / "open-data", token=None, extra=["--without-auth"])
    http = Http(srv.url, None)
    assert http.write("open", "cpu v=1 1").status == 204
    assert http.rows("open", "SELECT v FROM cpu") == [{"v": 1.0}]
    assert not (srv.data_dir / "auth.json").exists()
    assert "apiv3_" not in srv.stderr


def test_port_in_use_fails_cleanly(server, tmp_path):
    bind = server.url.removeprefix("http://")
    out = subprocess.run(
        [sys.executable, "-m", "pe_engine.cli", "serve", "--data-dir", str(tmp_path / "other"),
         "--http-bind", bind, "--without-auth"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1
    assert f"cannot serve on {bind}" in out.stderr


# --------------------------------------------------------------------- in-process
async def test_run_server_in_process_quietly(tmp_path, capfd):
    """What the console does: same server on its own loop, nothing printed, token handed over."""
    import asyncio

    import aiohttp

    from pe_engine.config import EngineConfig
    from pe_engine.http.server import run_server

    config = EngineConfig(data_dir=tmp_path / "inproc", http_bind="127.0.0.1:0", wal_flush_interval=0.01)
    ready, stop = asyncio.Event(), asyncio.Event()
    seen = {}
    task = asyncio.create_task(run_server(config, ready, stop, quiet=True, on_ready=lambda s: seen.update(
        url=s.url, token=s.auth.generated_token)))
    await asyncio.wait_for(ready.wait(), 30)
    headers = {"Authorization": f"Bearer {seen['token']}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{seen['url']}/api/v3/write_lp?db=inproc", data="cpu v=1 1") as r:
            assert r.status == 204
        async with session.get(f"{seen['url']}/api/v3/query_sql",
                               params={"db": "inproc", "q": "SELECT v FROM cpu"}) as r:
            assert await r.json() == [{"v": 1.0}]
    stop.set()
    await asyncio.wait_for(task, 30)
    assert seen["token"] not in capfd.readouterr().err


async def test_create_app_with_extra_routes(engine):
    """The app factory others extend: engine on the app, extra routes through hooks, auth pluggable."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from pe_engine.http.app import create_app
    from pe_engine.http.auth import is_admin

    async def hello(request: web.Request) -> web.Response:
        eng = request.app["engine"]
        return web.json_response({"dbs": eng.list_databases(), "admin": is_admin(request)})

    app = create_app(engine, hooks=[lambda a: a.router.add_get("/api/v3/engine/hello", hello)])
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/api/v3/write_lp", params={"db": "x"}, data="cpu v=1 1")
        assert r.status == 204
        r = await client.get("/api/v3/engine/hello")
        assert await r.json() == {"dbs": ["x"], "admin": True}
        r = await client.get("/api/v3/no/such/route")
        assert r.status == 404 and "error" in await r.json()


def test_query_post_form_and_json_with_curl_content_type(http: Http, unique_db: str):
    http.write(unique_db, LP)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = urllib.parse.urlencode({"db": unique_db, "q": "SELECT count(*) AS n FROM cpu"})
    r = http.request("POST", "/api/v3/query_sql", body=body, headers=form)
    assert r.status == 200 and r.json() == [{"n": 2}]
    body = json.dumps({"db": unique_db, "q": "SELECT count(*) AS n FROM cpu", "format": "jsonl"})
    r = http.request("POST", "/api/v3/query_sql", body=body, headers=form)
    assert r.status == 200 and r.text == '{"n":2}\n'
