"""The processing engine end to end: a real `pe serve --plugin-dir` subprocess with auth on,
real clients (influxdb_client v2, influxdb_client_3, curl), plugins on disk, restarts.

Plugins live in tests/support/plugins/ and are copied into each server's plugin directory.
Nothing here asserts on timing: every wait polls for a condition with a generous timeout.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.http import Http
from support.servers import build_wheel
from support.waiting import wait_until


# --------------------------------------------------------------------- helpers
def uid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def create_db(http: Http, db: str) -> None:
    r = http.request("POST", "/api/v3/configure/database", body=json.dumps({"db": db}),
                     headers={"Content-Type": "application/json"})
    assert r.status in (200, 201, 204), r.text


def post_json(http: Http, path: str, obj, method: str = "POST", token=..., timeout: float = 30.0):
    kw = {} if token is ... else {"token": token}
    return http.request(method, path, body=json.dumps(obj), headers={"Content-Type": "application/json"},
                        timeout=timeout, **kw)


def create_trigger(http: Http, db: str, name: str, plugin: str, spec: str, *, settings=None,
                   arguments=None, disabled: bool = False, expect: int = 200):
    body = {"db": db, "plugin_filename": plugin, "trigger_name": name, "trigger_specification": spec,
            "trigger_settings": settings if settings is not None else {"run_async": False, "error_behavior": "log"},
            "trigger_arguments": arguments, "disabled": disabled}
    r = post_json(http, "/api/v3/configure/processing_engine_trigger", body)
    assert r.status == expect, (r.status, r.text)
    return r


def triggers(http: Http, db: str) -> dict[str, dict]:
    """Our listing (GET on the trigger endpoint): state, disabled_reason, statistics."""
    r = http.request("GET", "/api/v3/configure/processing_engine_trigger", {"db": db})
    assert r.status == 200, r.text
    return {t["trigger_name"]: t for t in r.json()}


def rows_or_empty(http: Http, db: str, sql: str) -> list[dict]:
    r = http.query(db, sql)
    if r.status != 200:  # e.g. the table does not exist yet
        return []
    return r.json()


def activations(http: Http, db: str, trigger: str) -> list[dict]:
    return rows_or_empty(
        http, db,
        "SELECT id, kind, status, error, CAST(scheduled_at AS BIGINT) AS scheduled_ns "
        f"FROM system.processing_engine_activations WHERE trigger_name = '{trigger}' ORDER BY id")


def log_texts(http: Http, db: str, trigger: str) -> list[str]:
    return [r["log_text"] for r in rows_or_empty(
        http, db, "SELECT log_text FROM system.processing_engine_logs "
                  f"WHERE trigger_name = '{trigger}' ORDER BY event_time")]


def report_counts(http: Http, db: str) -> dict[str, int]:
    rows = rows_or_empty(http, db, "SELECT table_name, SUM(row_count) AS n FROM write_reports GROUP BY table_name")
    return {r["table_name"]: r["n"] for r in rows}


@pytest.fixture(autouse=True)
def shared_server_alive(request):
    """Whatever a test did to the shared plugin server, it must still be serving afterwards."""
    srv = request.getfixturevalue("plugin_server") if "plugin_server" in request.fixturenames else None
    yield
    if srv is not None:
        assert srv.proc.poll() is None, srv.stderr
        assert Http(srv.url, srv.token).request("GET", "/health").status == 200


# --------------------------------------------------------------------- WAL triggers + real clients
def test_all_tables_wal_plugin_sees_real_client_writes(plugin_server, plugin_http: Http):
    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client_3 import InfluxDBClient3
    from influxdb_client_3 import Point as Point3

    db = uid("wal")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "reports", "wal_plugin.py", "all_tables",
                   arguments={"double_count_table": "air"})

    with InfluxDBClient(url=plugin_server.url, token=plugin_server.token, org="pe") as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket=db, record=[
            Point("weather").tag("city", "Oslo").field("temp", 3.5),
            Point("weather").tag("city", "Rome").field("temp", 18.0),
            Point("weather").tag("city", "Lima").field("temp", 21.0),
        ])
    with InfluxDBClient3(host=plugin_server.url, token=plugin_server.token, database=db) as client3:
        client3.write(record=[Point3("air").tag("room", "lab").field("co2", 415),
                              Point3("air").tag("room", "hall").field("co2", 500)])

    # every flush gets its own report rows, so sum them: 3 weather rows, 2 air rows (doubled by the argument)
    counts = wait_until(lambda: (c := report_counts(plugin_http, db)) and c.get("weather") == 3 and c.get("air") == 4
                      and c, what="write_reports rows from the plugin")
    assert counts == {"weather": 3, "air": 4}  # the plugin skips its own table: no report about write_reports
    assert "wal_plugin.py done" in log_texts(plugin_http, db, "reports")
    acts = activations(plugin_http, db, "reports")
    assert acts and all(a["kind"] == "wal" and a["status"] == "ok" for a in acts), acts


def test_single_table_trigger_only_sees_its_table(plugin_http: Http):
    db = uid("one")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "cpu_only", "wal_plugin.py", "table:cpu")
    assert plugin_http.write(db, "mem,host=a used=1i\ncpu,host=a v=1\ncpu,host=b v=2").status == 204
    wait_until(lambda: report_counts(plugin_http, db).get("cpu") == 2, what="cpu report")
    assert plugin_http.write(db, "mem,host=b used=2i").status == 204  # no call for flushes without cpu
    assert plugin_http.write(db, "cpu,host=c v=3").status == 204
    wait_until(lambda: report_counts(plugin_http, db).get("cpu") == 3, what="second cpu report")
    assert "mem" not in report_counts(plugin_http, db)


# --------------------------------------------------------------------- schedules
def test_every_1s_fires_repeatedly_on_whole_seconds(plugin_http: Http):
    db = uid("sched")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "tick", "schedule_log.py", "every:1s")
    try:
        acts = wait_until(lambda: (a := [x for x in activations(plugin_http, db, "tick") if x["status"] == "ok"])
                        and len(a) >= 3 and a, what="three scheduled activations")
    finally:
        assert plugin_http.request("POST", "/api/v3/configure/processing_engine_trigger/disable",
                                   {"db": db, "trigger_name": "tick"}).status == 200
    assert all(a["kind"] == "schedule" for a in acts)
    times = sorted(a["scheduled_ns"] for a in acts)
    assert all(t % 1_000_000_000 == 0 for t in times), times  # scheduled on whole seconds
    assert len(set(times)) == len(times)
    assert all((b - a) % 1_000_000_000 == 0 and b > a for a, b in zip(times, times[1:])), times

    logs = log_texts(plugin_http, db, "tick")
    starts = [t for t in logs if t.startswith("starting execution with scheduled time ")]
    assert len(starts) >= 3
    # the engine's line carries a whole-second UTC time (no fraction), like InfluxDB's chrono Display
    assert all(re.fullmatch(r"starting execution with scheduled time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", s)
               for s in starts), starts
    ticks = [t for t in logs if t.startswith("tick call_time=")]
    assert len(ticks) >= 3
    # call_time is a naive datetime truncated to whole seconds (no microseconds in isoformat)
    assert all(re.fullmatch(r"tick call_time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d tz=None", t) for t in ticks), ticks
    assert any(t.startswith("finished execution in ") for t in logs)


def test_schedule_plugin_writes_rows(plugin_http: Http):
    db = uid("schedw")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "writer", "schedule_write.py", "every:1s", arguments={"name": "w1"})
    try:
        rows = wait_until(lambda: (r := rows_or_empty(plugin_http, db, "SELECT count(*) AS n FROM ticks WHERE trigger = 'w1'"))
                        and r[0]["n"] >= 2 and r, what="rows written by the schedule plugin")
    finally:
        plugin_http.request("DELETE", "/api/v3/configure/processing_engine_trigger",
                            {"db": db, "trigger_name": "writer", "force": "true"})
    assert rows[0]["n"] >= 2


# --------------------------------------------------------------------- request triggers
def test_request_trigger_get_post_auth_and_errors(plugin_server, plugin_http: Http):
    db = uid("req")
    path = uid("echo")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "echo", "echo_request.py", f"request:{path}", arguments={"k": "v"})
    create_trigger(plugin_http, db, "boom", "raises.py", f"request:{path}_boom")

    r = plugin_http.request("GET", f"/api/v3/engine/{path}?a=1&b=two%20words&a=3", headers={"X-Pe-Test": "yes"})
    assert r.status == 200 and r.headers["content-type"].startswith("application/json"), r.text
    got = r.json()
    assert got["query"] == {"a": "3", "b": "two words"}  # URL-decoded, repeated keys: last wins
    assert got["headers"]["x-pe-test"] == "yes"  # lower-case names
    assert "authorization" not in {k.lower() for k in got["headers"]}  # the token never reaches the plugin
    assert got["body"] is None and got["body_type"] == "bytes"
    assert got["args"] == {"k": "v"}

    r = post_json(plugin_http, f"/api/v3/engine/{path}", {"temperature": 21.5, "tags": ["a", "b"]})
    assert r.status == 200, r.text
    got = r.json()
    assert got["body"] == {"temperature": 21.5, "tags": ["a", "b"]} and got["body_type"] == "bytes"
    assert got["headers"]["content-type"] == "application/json"
    assert "authorization" not in got["headers"]

    # auth applies to /api/v3/engine/*: no token, or a wrong one -> 401 JSON, the plugin is not run
    for token in (None, "apiv3_wrong"):
        r = plugin_http.request("GET", f"/api/v3/engine/{path}", token=token)
        assert r.status == 401 and "error" in r.json(), r.text

    # the plugin raises -> 500 with a JSON error naming the exception
    r = plugin_http.request("GET", f"/api/v3/engine/{path}_boom")
    assert r.status == 500, r.text
    err = r.json()["error"]
    assert "Python function call failed" in err and "ValueError: boom" in err

    # unknown path -> 404, InfluxDB's literal body
    r = plugin_http.request("GET", f"/api/v3/engine/{path}_nobody_here")
    assert r.status == 404 and r.body == b'{error: "not found"}'
    r = plugin_http.request("POST", f"/api/v3/engine/{path}_nobody_here", body=b"{}")
    assert r.status == 404

    # curl, as an operator would call it
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [curl, "-sS", "-H", f"Authorization: Bearer {plugin_server.token}", "-H", "Content-Type: application/json",
             "--data", '{"from": "curl"}', f"{plugin_server.url}/api/v3/engine/{path}?via=curl"],
            capture_output=True, text=True, timeout=30)
        got = json.loads(out.stdout)
        assert got["body"] == {"from": "curl"} and got["query"] == {"via": "curl"}, out

    # a disabled trigger no longer answers
    assert plugin_http.request("POST", "/api/v3/configure/processing_engine_trigger/disable",
                               {"db": db, "trigger_name": "echo"}).status == 200
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").status == 404


def test_changed_plugin_file_takes_effect(plugin_server, plugin_http: Http):
    db = uid("hot")
    path = uid("hot")
    fname = f"{path}.py"
    plugin = Path(plugin_server.plugin_dir) / fname

    def version(v: str) -> str:
        return ("def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):\n"
                f"    return {{'version': {v!r}}}\n")

    plugin.write_text(version("one"))
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "hot", fname, f"request:{path}")
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").json() == {"version": "one"}

    def answer():
        r = plugin_http.request("GET", f"/api/v3/engine/{path}")
        return r.json() if r.status == 200 else None

    plugin.write_text(version("two, edited"))
    wait_until(lambda: answer() == {"version": "two, edited"}, timeout=10, what="the edited plugin's answer")

    # a broken edit does not take the endpoint down: the last good version keeps answering
    plugin.write_text("def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None)\n")
    for _ in range(5):
        assert answer() == {"version": "two, edited"}
        time.sleep(0.1)
    plugin.write_text(version("three, fixed"))
    wait_until(lambda: answer() == {"version": "three, fixed"}, timeout=10, what="the fixed plugin's answer")


# --------------------------------------------------------------------- trigger HTTP API
def test_trigger_api_statuses_and_bodies(plugin_http: Http):
    db = uid("api")
    create_db(plugin_http, db)
    base = "/api/v3/configure/processing_engine_trigger"

    r = create_trigger(plugin_http, db, "t1", "wal_plugin.py", "all_tables")
    assert r.body == b""
    r = create_trigger(plugin_http, db, "t1", "wal_plugin.py", "all_tables", expect=409)
    assert "already exists" in r.json()["error"]
    r = create_trigger(plugin_http, uid("nodb"), "t1", "wal_plugin.py", "all_tables", expect=404)
    assert "database not found" in r.json()["error"]
    r = create_trigger(plugin_http, db, "bad_spec", "wal_plugin.py", "sometimes", expect=500)
    assert r.json()["error"] == (
        "failed to parse trigger from sometimes: expect one of the following forms: 'table:<TABLE_NAME>', "
        "'all_tables', 'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'")
    r = create_trigger(plugin_http, db, "bad_every", "wal_plugin.py", "every:2 years", expect=500)
    assert "failed to parse trigger from every:2 years" in r.json()["error"]
    r = create_trigger(plugin_http, db, "missing", "no_such_plugin.py", "all_tables", expect=500)
    assert "no_such_plugin.py" in r.json()["error"]
    r = create_trigger(plugin_http, db, "syntax", "syntax_error.py", "all_tables", expect=500)
    assert "SyntaxError" in r.json()["error"] and "syntax_error.py" in r.json()["error"]
    r = post_json(plugin_http, base, {"db": db, "plugin_filename": "../outside.py", "trigger_name": "escape",
                                      "trigger_specification": "all_tables"})
    assert r.status >= 400 and "Path traversal detected" in r.json()["error"], r.text
    r = post_json(plugin_http, base, {"db": db, "trigger_name": "no_plugin", "trigger_specification": "all_tables"})
    assert r.status == 400 and "plugin_filename" in r.json()["error"]

    # trigger_settings is lenient: capitalised values, missing fields, missing altogether
    create_trigger(plugin_http, db, "cap", "wal_plugin.py", "table:x", settings={"run_async": False, "error_behavior": "Log"})
    create_trigger(plugin_http, db, "partial", "wal_plugin.py", "table:x", settings={"error_behavior": "Disable"})
    create_trigger(plugin_http, db, "empty", "wal_plugin.py", "table:x", settings={})
    r = post_json(plugin_http, base, {"db": db, "plugin_filename": "wal_plugin.py", "trigger_name": "bare",
                                      "trigger_specification": "table:x"})
    assert r.status == 200, r.text
    r = create_trigger(plugin_http, db, "bad_eb", "wal_plugin.py", "table:x", settings={"error_behavior": "explode"},
                       expect=400)
    assert "explode" in r.json()["error"]
    rows = {x["trigger_name"]: x for x in plugin_http.rows(
        db, "SELECT trigger_name, error_behavior, disabled, trigger_specification FROM system.processing_engine_triggers")}
    assert {k: v["error_behavior"] for k, v in rows.items()} == {
        "t1": "log", "cap": "log", "partial": "disable", "empty": "log", "bare": "log"}
    assert rows["t1"]["trigger_specification"] == '"all_tables_wal_write"'
    assert json.loads(rows["cap"]["trigger_specification"]) == {"single_table_wal_write": {"table_name": "x"}}

    # enable/disable: 200, idempotent
    for verb, disabled in (("disable", True), ("disable", True), ("enable", False), ("enable", False)):
        r = plugin_http.request("POST", f"{base}/{verb}", {"db": db, "trigger_name": "cap"})
        assert r.status == 200, r.text
        assert plugin_http.rows(db, "SELECT disabled FROM system.processing_engine_triggers "
                                    "WHERE trigger_name = 'cap'") == [{"disabled": disabled}]
    r = plugin_http.request("POST", f"{base}/enable", {"db": db, "trigger_name": "ghost"})
    assert r.status == 404

    # delete: an enabled trigger needs force; query-string and JSON forms
    r = plugin_http.request("DELETE", base, {"db": db, "trigger_name": "t1"})
    assert r.status == 500 and "force" in r.json()["error"], r.text
    r = post_json(plugin_http, base, {"db": db, "trigger_name": "t1"}, method="DELETE")
    assert r.status == 500
    r = plugin_http.request("DELETE", base, {"db": db, "trigger_name": "t1", "force": "true"})
    assert r.status == 200, r.text
    r = post_json(plugin_http, base, {"db": db, "trigger_name": "cap", "force": True}, method="DELETE")
    assert r.status == 200, r.text
    plugin_http.request("POST", f"{base}/disable", {"db": db, "trigger_name": "empty"})
    r = plugin_http.request("DELETE", base, {"db": db, "trigger_name": "empty"})  # disabled: no force needed
    assert r.status == 200, r.text
    r = plugin_http.request("DELETE", base, {"db": db, "trigger_name": "t1", "force": "true"})
    assert r.status == 404
    names = {x["trigger_name"] for x in plugin_http.rows(db, "SELECT trigger_name FROM system.processing_engine_triggers")}
    assert names == {"partial", "bare"}

    # auth: configuration endpoints need the token too
    r = plugin_http.request("POST", base, body=b"{}", token=None)
    assert r.status == 401


def test_trigger_query_string_form_and_arguments_table(plugin_http: Http):
    db = uid("qs")
    create_db(plugin_http, db)
    r = plugin_http.request("POST", "/api/v3/configure/processing_engine_trigger", {
        "db": db, "plugin_filename": "wal_plugin.py", "trigger_name": "qs", "trigger_specification": "table:cpu",
        "trigger_settings": json.dumps({"run_async": False, "error_behavior": "retry"}),
        "trigger_arguments": json.dumps({"double_count_table": "cpu", "other": "a=b"}), "disabled": "true"})
    assert r.status == 200, r.text
    assert plugin_http.rows(db, "SELECT trigger_name, disabled, error_behavior FROM system.processing_engine_triggers") \
        == [{"trigger_name": "qs", "disabled": True, "error_behavior": "retry"}]
    args = plugin_http.rows(db, "SELECT argument_key, argument_value FROM system.processing_engine_trigger_arguments "
                                "WHERE trigger_name = 'qs' ORDER BY argument_key")
    assert args == [{"argument_key": "double_count_table", "argument_value": "cpu"},
                    {"argument_key": "other", "argument_value": "a=b"}]


def test_write_back_failure_is_logged_not_a_plugin_error(plugin_http: Http):
    db, other = uid("wb"), uid("wbother")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "conflict", "write_conflict.py", "table:src",
                   settings={"run_async": False, "error_behavior": "disable"}, arguments={"other_db": other})
    assert plugin_http.write(db, "src v=1.5").status == 204
    # the write to another database (created on write) goes through ...
    wait_until(lambda: rows_or_empty(plugin_http, other, "SELECT n FROM copied") == [{"n": 1}], what="write_to_db row")
    # ... the conflicting one to the trigger's database is rejected as a whole and logged as InfluxDB words it
    logs = wait_until(lambda: [t for t in log_texts(plugin_http, db, "conflict")
                             if t.startswith(f"error running wal plugin: error writing back lines to {db}")],
                    what="the write-back error in the log")
    assert "v" in logs[0]
    assert plugin_http.rows(db, "SELECT v FROM src") == [{"v": 1.5}]
    # a write-back failure is not a plugin error: no error_behavior, the trigger stays enabled
    assert [a["status"] for a in activations(plugin_http, db, "conflict")] == ["ok"]
    assert triggers(plugin_http, db)["conflict"]["state"] == "enabled"


def test_retry_error_behavior_retries_then_gives_up(plugin_http: Http):
    db = uid("retry")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "flaky", "raises.py", "table:r",
                   settings={"run_async": False, "error_behavior": "retry", "max_retries": 1})
    assert plugin_http.write(db, "r v=1").status == 204
    acts = wait_until(lambda: (a := activations(plugin_http, db, "flaky")) and len(a) >= 2 and a,
                    what="the retried activation")
    assert [a["status"] for a in acts] == ["error", "error"]
    wait_until(lambda: any("giving up after 2 attempts" in t for t in log_texts(plugin_http, db, "flaky")),
             what="the give-up log line")
    assert any(t.startswith("error executing wal plugin: ValueError: boom") for t in log_texts(plugin_http, db, "flaky"))
    assert triggers(plugin_http, db)["flaky"]["state"] == "enabled"


def test_deleting_database_stops_its_triggers(plugin_http: Http):
    db = uid("dropdb")
    path = uid("dropdb")
    create_db(plugin_http, db)
    create_trigger(plugin_http, db, "echo", "echo_request.py", f"request:{path}")
    create_trigger(plugin_http, db, "reports", "wal_plugin.py", "all_tables")
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").status == 200
    r = plugin_http.request("DELETE", "/api/v3/configure/database", {"db": db})
    assert r.status == 200, r.text
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").status == 404
    create_db(plugin_http, db)  # a new database of the same name starts without triggers
    assert triggers(plugin_http, db) == {}
    assert plugin_http.rows(db, "SELECT trigger_name FROM system.processing_engine_triggers") == []


def test_deleting_a_disabled_request_trigger_and_then_its_database(plugin_server_factory, admin_token, tmp_path):
    base = tmp_path / "dropdisabled"
    srv = plugin_server_factory(base, admin_token)
    http = Http(srv.url, admin_token)
    db = "dropme"
    create_db(http, db)
    assert http.write(db, "m v=1 1").status == 204
    create_trigger(http, db, "off", "echo_request.py", "request:dropme_off", disabled=True)
    r = http.request("DELETE", "/api/v3/configure/processing_engine_trigger", {"db": db, "trigger_name": "off"})
    assert r.status == 200, r.text
    assert triggers(http, db) == {}
    create_trigger(http, db, "off2", "echo_request.py", "request:dropme_off2", disabled=True)
    r = http.request("DELETE", "/api/v3/configure/database", {"db": db})
    assert r.status == 200, r.text
    assert http.write(db, "m v=2 2").status == 204  # a new database of the same name
    assert http.rows(db, "SELECT v FROM m") == [{"v": 2.0}]
    assert triggers(http, db) == {}
    assert srv.stop() == 0, srv.stderr
    srv2 = plugin_server_factory(base, admin_token)
    http2 = Http(srv2.url, admin_token)
    assert http2.rows(db, "SELECT v FROM m") == [{"v": 2.0}]
    assert triggers(http2, db) == {}


# --------------------------------------------------------------------- plugin uploads
def test_plugin_upload_endpoints(plugin_server, plugin_http: Http):
    db = uid("up")
    path = uid("up")
    create_db(plugin_http, db)
    root = Path(plugin_server.plugin_dir)

    def req_plugin(v: str) -> str:
        return ("def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):\n"
                f"    return {{'v': {v!r}}}\n")

    # POST creates a file (and its parent directories) under the plugin dir
    r = post_json(plugin_http, "/api/v3/plugins/files", {"plugin_name": f"uploads/{path}.py", "content": req_plugin("1")})
    assert r.status == 200, r.text
    assert (root / "uploads" / f"{path}.py").read_text() == req_plugin("1")
    create_trigger(plugin_http, db, "uploaded", f"uploads/{path}.py", f"request:{path}")
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").json() == {"v": "1"}

    # PUT names the trigger and replaces its code; the next call runs it
    r = post_json(plugin_http, "/api/v3/plugins/files", {"plugin_name": "uploaded", "content": req_plugin("2")}, method="PUT")
    assert r.status == 200, r.text
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").json() == {"v": "2"}
    assert (root / "uploads" / f"{path}.py").read_text() == req_plugin("2")

    # a directory plugin: uploaded file by file, then replaced as a whole with PUT /plugins/directory
    pkg = f"pkg_{path}"
    for rel, content in (("__init__.py", "from .helper import answer\n\n"
                                          "def process_request(influxdb3_local, query_parameters, request_headers, "
                                          "request_body, args=None):\n    return {'dir': answer()}\n"),
                         ("helper.py", "def answer():\n    return 'first'\n")):
        r = post_json(plugin_http, "/api/v3/plugins/files", {"plugin_name": f"{pkg}/{rel}", "content": content})
        assert r.status == 200, r.text
    create_trigger(plugin_http, db, "dirplug", pkg, f"request:{path}_dir")
    assert plugin_http.request("GET", f"/api/v3/engine/{path}_dir").json() == {"dir": "first"}
    files = [
        {"relative_path": "__init__.py", "content": "from .util import answer\n\n"
         "def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):\n"
         "    return {'dir': answer()}\n"},
        {"relative_path": "util.py", "content": "def answer():\n    return 'replaced'\n"},
    ]
    r = post_json(plugin_http, "/api/v3/plugins/directory", {"plugin_name": "dirplug", "files": files}, method="PUT")
    assert r.status == 200, r.text
    assert sorted(p.name for p in (root / pkg).iterdir() if p.suffix == ".py") == ["__init__.py", "util.py"]
    assert wait_until(lambda: plugin_http.request("GET", f"/api/v3/engine/{path}_dir").json() == {"dir": "replaced"},
                    timeout=10, what="the replaced directory plugin")

    # uploads need a token (the admin token; see test_non_admin_token_is_forbidden for 403)
    for method, p, body in (("POST", "/api/v3/plugins/files", {"plugin_name": "x.py", "content": "x = 1\n"}),
                            ("PUT", "/api/v3/plugins/files", {"plugin_name": "uploaded", "content": "x = 1\n"}),
                            ("PUT", "/api/v3/plugins/directory", {"plugin_name": "dirplug", "files": []})):
        r = post_json(plugin_http, p, body, method=method, token=None)
        assert r.status == 401, (method, p, r.text)
    assert not (root / "x.py").exists()
    assert plugin_http.request("GET", f"/api/v3/engine/{path}").json() == {"v": "2"}

    # uploads cannot escape the plugin directory
    r = post_json(plugin_http, "/api/v3/plugins/files", {"plugin_name": "../escape.py", "content": "x = 1\n"})
    assert r.status >= 400 and not (root.parent / "escape.py").exists()
    r = post_json(plugin_http, "/api/v3/plugins/directory", {"plugin_name": "dirplug", "files": [
        {"relative_path": "__init__.py", "content": "x = 1\n"},
        {"relative_path": "../../escape.py", "content": "x = 1\n"}]}, method="PUT")
    assert r.status >= 400 and not (root.parent / "escape.py").exists(), r.text
    assert plugin_http.request("GET", f"/api/v3/engine/{path}_dir").json() == {"dir": "replaced"}  # untouched
    # PUT names a trigger: an unknown one is 404
    r = post_json(plugin_http, "/api/v3/plugins/files", {"plugin_name": "ghost", "content": "x = 1\n"}, method="PUT")
    assert r.status == 404, r.text

    # system.plugin_files (in _internal) lists the trigger's files
    rows = plugin_http.rows("_internal", "SELECT plugin_name, file_name, size_bytes FROM system.plugin_files "
                                         "WHERE plugin_name IN ('uploaded', 'dirplug') ORDER BY plugin_name, file_name")
    assert [(r["plugin_name"], r["file_name"], r["size_bytes"]) for r in rows] == [
        ("dirplug", f"{pkg}/__init__.py", len(files[0]["content"])),
        ("dirplug", f"{pkg}/util.py", len(files[1]["content"])),
        ("uploaded", f"uploads/{path}.py", len(req_plugin("2"))),
    ]


def test_uploads_cannot_replace_a_repository_plugin(plugin_server_factory, admin_token, tmp_path):
    def req_plugin(v: str) -> str:
        return ("def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):\n"
                f"    return {{'v': {v!r}}}\n")
    repo = tmp_path / "plugin-repo"
    repo.mkdir()
    (repo / "ok.py").write_text(req_plugin("from-repo"))

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=pe tests", "-c", "user.email=pe@example.invalid",
                        "-c", "init.defaultBranch=main", *args], cwd=repo, check=True, capture_output=True)
    git("init", "--quiet")
    git("add", "-A")
    git("commit", "--quiet", "-m", "v1")
    srv = plugin_server_factory(tmp_path / "ghsrv", admin_token, ["--plugin-repo", str(repo)])
    http = Http(srv.url, admin_token)
    db = "ghdb"
    create_db(http, db)
    create_trigger(http, db, "fromrepo", "gh:ok.py", "request:ghdb_ok")
    assert http.request("GET", "/api/v3/engine/ghdb_ok").json() == {"v": "from-repo"}
    r = post_json(http, "/api/v3/plugins/files", {"plugin_name": "fromrepo", "content": req_plugin("uploaded")},
                  method="PUT")
    assert r.status == 400, r.text
    assert "comes from a repository and cannot be replaced by upload" in r.json()["error"]
    r = post_json(http, "/api/v3/plugins/directory", {"plugin_name": "fromrepo", "db": db,
                  "files": [{"relative_path": "__init__.py", "content": req_plugin("uploaded")}]}, method="PUT")
    assert r.status == 400, r.text
    assert "comes from a repository" in r.json()["error"]
    assert [p.name for p in srv.plugin_dir.rglob("*") if ":" in p.name] == []  # no stray gh:ok.py
    assert http.request("GET", "/api/v3/engine/ghdb_ok").json() == {"v": "from-repo"}


def test_non_admin_token_is_forbidden(plugin_server_factory, admin_token, tmp_path):
    """A second, non-admin token (as auth.json records it) may write and query, not upload plugins."""
    import hashlib

    base = tmp_path / "nonadmin"
    (base / "data").mkdir(parents=True)
    user_token = "apiv3_user_" + secrets.token_urlsafe(16)
    (base / "data" / "auth.json").write_text(json.dumps({"tokens": [
        {"name": "user", "sha256": hashlib.sha256(user_token.encode()).hexdigest(), "admin": False, "created_at": 0}]}))
    (base / "data" / "auth.json").chmod(0o600)
    srv = plugin_server_factory(base, admin_token, ["--disable-package-management"])
    user = Http(srv.url, user_token)
    admin = Http(srv.url, admin_token)
    assert user.write("nadb", "cpu v=1").status == 204
    for method, p, body in (("POST", "/api/v3/plugins/files", {"plugin_name": "x.py", "content": "x = 1\n"}),
                            ("PUT", "/api/v3/plugins/files", {"plugin_name": "t", "content": "x = 1\n"}),
                            ("PUT", "/api/v3/plugins/directory", {"plugin_name": "t", "files": []})):
        r = post_json(user, p, body, method=method)
        assert r.status == 403, (method, p, r.text)
    assert not (Path(srv.plugin_dir) / "x.py").exists()
    assert post_json(admin, "/api/v3/plugins/files", {"plugin_name": "x.py", "content": "x = 1\n"}).status == 200

    # --disable-package-management: 403 with InfluxDB's message, for every token
    msg = "Package installation has been disabled. Contact your administrator for more information."
    # (a non-admin token is refused before that: installs need an admin token)
    for http, want in ((admin, msg), (user, "this endpoint requires an admin token ('user' is a resource token)")):
        r = post_json(http, "/api/v3/configure/plugin_environment/install_packages", {"packages": ["anything"]})
        assert r.status == 403 and r.json()["error"] == want, r.text
        r = post_json(http, "/api/v3/configure/plugin_environment/install_requirements",
                      {"requirements_location": "requirements.txt"})
        assert r.status == 403 and r.json()["error"] == want, r.text


# --------------------------------------------------------------------- plugin test endpoints
def test_plugin_test_endpoints(plugin_http: Http):
    db = uid("dry")
    r = post_json(plugin_http, "/api/v3/plugin_test/wal", {
        "filename": "wal_plugin.py", "database": db,
        "input_lp": "cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem,host=a used=3i 3",
        "input_arguments": {"double_count_table": "mem"}})
    assert r.status == 200, r.text
    out = r.json()
    assert set(out) == {"log_lines", "database_writes", "errors"}
    assert out["errors"] == []
    assert out["database_writes"] == {db: ["write_reports,table_name=cpu row_count=2i",
                                           "write_reports,table_name=mem row_count=2i"]}
    assert out["log_lines"][0] == "INFO: starting execution of wal plugin."
    assert "INFO: wal_plugin.py done" in out["log_lines"]
    assert out["log_lines"][-1].startswith("INFO: finished execution in ")
    # a dry run writes nothing (the database does not even exist)
    assert plugin_http.query(db, "SELECT * FROM write_reports").status in (400, 404)

    r = post_json(plugin_http, "/api/v3/plugin_test/wal", {"filename": "raises.py", "database": db,
                                                           "input_lp": "cpu v=1"})
    assert r.status == 200 and any("boom" in e for e in r.json()["errors"]), r.text
    r = post_json(plugin_http, "/api/v3/plugin_test/wal", {"filename": "no_entry_point.py", "database": db,
                                                           "input_lp": "cpu v=1"})
    assert r.status == 200
    assert r.json()["errors"] == ["the process_writes function is not present in the plugin. Should be defined as: "
                                  "process_writes(influxdb3_local, table_batches, args=None)"]

    create_db(plugin_http, db)
    r = post_json(plugin_http, "/api/v3/plugin_test/schedule", {
        "filename": "schedule_write.py", "database": db, "schedule": "*/5 * * * * *", "input_arguments": {"name": "dry"}})
    assert r.status == 200, r.text
    out = r.json()
    assert set(out) == {"trigger_time", "log_lines", "database_writes", "errors"}
    assert out["errors"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:[0-5][05]Z", out["trigger_time"]), out
    assert out["database_writes"] == {db: ["ticks,trigger=dry n=1i"]}
    assert out["log_lines"][0].startswith("INFO: starting execution with scheduled time ")
    assert any(line.startswith("INFO: scheduled call at ") for line in out["log_lines"])
    assert plugin_http.query(db, "SELECT * FROM ticks").status in (400, 404)

    out = post_json(plugin_http, "/api/v3/plugin_test/schedule", {"filename": "schedule_log.py", "database": db}).json()
    assert out["errors"] == [] and out["trigger_time"].endswith("Z")  # default schedule: every second
    out = post_json(plugin_http, "/api/v3/plugin_test/schedule",
                    {"filename": "schedule_log.py", "database": uid("missing")}).json()
    assert out["errors"] and out["log_lines"] == []  # the schedule test needs the database


# --------------------------------------------------------------------- restart
def test_restart_keeps_triggers_disabled_state_and_cache(plugin_server_factory, admin_token, tmp_path):
    base = tmp_path / "restart"
    srv = plugin_server_factory(base, admin_token)
    http = Http(srv.url, admin_token)
    db = "keep"

    def ticks(h: Http) -> int:
        rows = rows_or_empty(h, db, "SELECT count(*) AS n FROM ticks")
        return rows[0]["n"] if rows else 0
    create_db(http, db)
    create_trigger(http, db, "reports", "wal_plugin.py", "all_tables")
    create_trigger(http, db, "sched", "schedule_log.py", "cron:0 0 0 1 1 *")  # far away: never fires here
    create_trigger(http, db, "ticker", "schedule_write.py", "every:1s", arguments={"name": "ticker"})
    create_trigger(http, db, "cache", "cache_request.py", "request:keep_cache", arguments={"a": "b"})
    create_trigger(http, db, "off", "echo_request.py", "request:keep_off")
    create_trigger(http, db, "fails", "raises.py", "table:boom",
                   settings={"run_async": False, "error_behavior": "disable"})
    assert http.request("POST", "/api/v3/configure/processing_engine_trigger/disable",
                        {"db": db, "trigger_name": "off"}).status == 200

    assert post_json(http, "/api/v3/engine/keep_cache", {"key": "local", "value": {"n": 1, "l": [1, 2]}}).status == 200
    assert post_json(http, "/api/v3/engine/keep_cache", {"key": "g", "value": "shared", "global": True}).status == 200
    assert http.write(db, "boom v=1").status == 204
    broken = wait_until(lambda: triggers(http, db)["fails"]["state"] == "disabled_by_error" and triggers(http, db)["fails"],
                      what="the failing trigger to disable itself")
    assert "boom" in broken["disabled_reason"]
    assert http.write(db, "cpu,host=a v=1").status == 204
    wait_until(lambda: report_counts(http, db).get("cpu") == 1, what="the report before the restart")

    wait_until(lambda: ticks(http), what="a tick before the restart")
    before = triggers(http, db)
    assert srv.stop() == 0, srv.stderr
    srv2 = plugin_server_factory(base, admin_token)
    http2 = Http(srv2.url, admin_token)

    after = triggers(http2, db)
    assert set(after) == set(before) == {"reports", "sched", "ticker", "cache", "off", "fails"}
    for name in after:
        for key in ("plugin_filename", "trigger_specification", "trigger_arguments", "trigger_settings", "disabled",
                    "disabled_reason", "state"):
            assert after[name][key] == before[name][key], (name, key)
    assert {n: t["state"] for n, t in after.items()} == {
        "reports": "enabled", "sched": "enabled", "ticker": "enabled", "cache": "enabled", "off": "disabled",
        "fails": "disabled_by_error"}
    assert after["fails"]["disabled_reason"] == broken["disabled_reason"]
    assert {r["trigger_name"]: r["disabled"] for r in http2.rows(
        db, "SELECT trigger_name, disabled FROM system.processing_engine_triggers")} == {
        "reports": False, "sched": False, "ticker": False, "cache": False, "off": True, "fails": True}

    # the plugin cache came back (trigger-local and global)
    assert http2.request("GET", "/api/v3/engine/keep_cache", {"key": "local"}).json() == \
        {"key": "local", "value": {"n": 1, "l": [1, 2]}}
    assert http2.request("GET", "/api/v3/engine/keep_cache", {"key": "g", "global": "1"}).json() == \
        {"key": "g", "value": "shared"}
    # the disabled request trigger stays off; the disabled-by-error one is not re-run by new writes
    assert http2.request("GET", "/api/v3/engine/keep_off").status == 404
    n_fail = len(activations(http2, db, "fails"))
    # the enabled WAL trigger runs again after the restart
    assert http2.write(db, "cpu,host=b v=2\nboom v=2").status == 204
    wait_until(lambda: report_counts(http2, db).get("cpu") == 2, what="the report after the restart")
    assert len(activations(http2, db, "fails")) == n_fail
    # the schedule runs again after the restart
    n_ticks = ticks(http2)
    wait_until(lambda: ticks(http2) > n_ticks, what="a tick after the restart")
    # enabling the broken trigger clears its reason
    assert http2.request("POST", "/api/v3/configure/processing_engine_trigger/enable",
                         {"db": db, "trigger_name": "fails"}).status == 200
    t = triggers(http2, db)["fails"]
    assert t["state"] == "enabled" and not t["disabled_reason"]


# --------------------------------------------------------------------- bad plugins
BAD_PLUGINS = {
    # trigger name: (plugin, settings, activation status the engine records)
    "raises": ("raises.py", {}, "error"),
    "bad_import": ("import_error.py", {}, "error"),
    "no_entry": ("no_entry_point.py", {}, "error"),
    "loops": ("infinite_loop.py", {"deadline_seconds": 1}, "timeout"),
    "sleeps": ("sleeps.py", {"deadline_seconds": 1}, "timeout"),
    "hog": ("eats_memory.py", {"memory_limit_bytes": 300_000_000, "deadline_seconds": 20}, "memory_limit"),
    "floods": ("log_flood.py", {}, "ok"),
}
# trigger arguments of some of them: sleeps.py blocks 20 s (as long as the old e2e sleeper), and
# log_flood.py writes 20,000 lines, twice the log ring, so the bound below is really exercised
BAD_ARGS = {"sleeps": {"seconds": "20"}, "floods": {"lines": "20000"}}


def test_bad_plugins_never_stop_writes(plugin_server_factory, admin_token, tmp_path):
    srv = plugin_server_factory(tmp_path / "bad", admin_token)
    http = Http(srv.url, admin_token)
    db = "bad"
    create_db(http, db)
    for name, (plugin, extra, _) in BAD_PLUGINS.items():
        create_trigger(http, db, name, plugin, "all_tables", settings={"run_async": False, "error_behavior": "log", **extra},
                       arguments=BAD_ARGS.get(name))
    create_trigger(http, db, "good", "wal_plugin.py", "all_tables")  # a healthy neighbour keeps working
    create_trigger(http, db, "bad_req", "infinite_loop_writes_only.py", "request:bad_loop")  # no process_request: 500

    statuses: list[tuple[str, int]] = []
    stop = threading.Event()

    def client(i: int) -> None:
        h = Http(srv.url, admin_token)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                statuses.append(("write", h.write(db, f"load,client=c{i} n={n}i").status))
                statuses.append(("query", h.query(db, "SELECT count(*) AS n FROM load").status))
            except Exception as e:  # a timeout or a dropped connection is a failure too
                statuses.append(("exception", repr(e)))
                return

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(2)]
    for w in workers:
        w.start()
    try:
        def seen() -> dict[str, set[str]]:
            rows = rows_or_empty(http, db, "SELECT trigger_name, status, error FROM system.processing_engine_activations")
            out: dict[str, set[str]] = {}
            for r in rows:
                out.setdefault(r["trigger_name"], set()).add(r["status"])
            return out

        def all_seen() -> dict | None:
            s = seen()
            ok = all(expected in s.get(name, set()) for name, (_, _, expected) in BAD_PLUGINS.items())
            return s if ok and report_counts(http, db).get("load") else None

        wait_until(all_seen, timeout=45, what="every bad plugin to have failed in its own way")
        r = http.request("GET", "/api/v3/engine/bad_loop")
        assert r.status == 500 and "process_request function is not present" in r.json()["error"]
        # and the clients go on writing and querying while the bad triggers keep being fed
        seen_so_far = len(statuses)
        wait_until(lambda: len(statuses) >= seen_so_far + 20, timeout=45, what="more writes and queries")
    finally:
        stop.set()
        for w in workers:
            w.join(30)

    assert sum(1 for s in statuses if s == ("write", 204)) >= 10
    bad = [s for s in statuses if s != ("write", 204) and s != ("query", 200)]
    assert not bad, bad[:10]
    assert srv.proc.poll() is None, srv.stderr
    assert http.request("GET", "/health").status == 200

    errors = {r["trigger_name"]: r["error"] for r in http.rows(
        db, "SELECT trigger_name, error FROM system.processing_engine_activations WHERE error IS NOT NULL")}
    assert "ValueError: boom" in errors["raises"]
    assert "pe_missing_dependency_xyz" in errors["bad_import"]
    assert errors["no_entry"] == ("the process_writes function is not present in the plugin. Should be defined as: "
                                  "process_writes(influxdb3_local, table_batches, args=None)")
    assert "deadline" in errors["loops"] and "deadline" in errors["sleeps"]
    assert "memory limit" in errors["hog"]
    # the flood was bounded: the log table holds at most its ring (10,000 lines)
    n_logs = http.rows(db, "SELECT count(*) AS n FROM system.processing_engine_logs")[0]["n"]
    assert 0 < n_logs <= 10_000
    # the writes after all that are all there
    final = http.rows(db, "SELECT count(*) AS n FROM load")[0]["n"]
    assert final == sum(1 for s in statuses if s == ("write", 204))
    assert srv.stop() == 0, srv.stderr


# --------------------------------------------------------------------- packages
@pytest.mark.thread_only("creating the venv is the server's; importing from it in a worker is "
                        "test_install_package_into_virtual_env[process]")
def test_virtual_env_location_that_does_not_exist_is_created(plugin_server_factory, admin_token, tmp_path):
    venv = tmp_path / "not" / "yet" / "venv"
    dist = tmp_path / "dist"
    wheel = build_wheel(dist, "pe_e2e_fresh", "0.1", "fresh-venv")
    srv = plugin_server_factory(tmp_path / "freshvenv", admin_token, ["--virtual-env-location", str(venv)],
                                env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(dist),
                                     "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert (venv / "bin" / "python").exists() and "created the plugin virtual environment" in srv.stderr
    http = Http(srv.url, admin_token)
    # the first install also puts pip into the new environment (ensurepip): give it time on a busy box
    r = post_json(http, "/api/v3/configure/plugin_environment/install_packages", {"packages": [str(wheel)]},
                  timeout=180)
    assert r.status == 200, r.text
    db = uid("freshvenv")
    create_db(http, db)
    create_trigger(http, db, "imp", "import_package.py", "request:fresh_import")
    got = wait_until(lambda: (x := http.request("GET", "/api/v3/engine/fresh_import",
                                                {"module": "pe_e2e_fresh"})).status == 200 and x.json(),
                     timeout=10, what="the package in the new venv to be importable")
    assert got["value"] == "fresh-venv" and got["file"].startswith(str(venv)), got
    assert srv.stop() == 0, srv.stderr  # and a restart uses the environment as it is
    srv2 = plugin_server_factory(tmp_path / "freshvenv", admin_token, ["--virtual-env-location", str(venv)])
    assert "creating the plugin virtual environment" not in srv2.stderr


def test_install_package_into_virtual_env(venv_plugin_server):
    srv = venv_plugin_server
    http = Http(srv.url, srv.token)
    wheel = build_wheel(Path(srv.dist).parent / "local-wheels", "pe_e2e_tiny", "0.1", "tiny-e2e")
    db = uid("pkg")
    create_db(http, db)
    create_trigger(http, db, "imp", "import_package.py", "request:pkg_import")
    # not importable yet: the plugin fails with 500
    r = http.request("GET", "/api/v3/engine/pkg_import")
    assert r.status == 500 and "pe_e2e_tiny" in r.json()["error"], r.text

    r = post_json(http, "/api/v3/configure/plugin_environment/install_packages", {"packages": [str(wheel)]})
    assert r.status == 200, r.text
    assert "pe_e2e_tiny" in r.json()["output"]
    # it landed in the server's venv (not in the environment running pe) and plugins can import it
    got = wait_until(lambda: (x := http.request("GET", "/api/v3/engine/pkg_import")).status == 200 and x.json(),
                   timeout=10, what="the installed package to be importable")
    assert got["value"] == "tiny-e2e" and got["file"].startswith(str(srv.venv)), got
    assert subprocess.run([sys.executable, "-c", "import pe_e2e_tiny"], capture_output=True).returncode != 0

    # a package pip cannot find: pip's error comes back, not a success
    r = post_json(http, "/api/v3/configure/plugin_environment/install_packages", {"packages": ["pe-e2e-no-such-pkg"]})
    assert r.status == 500, r.text
    body = r.json()
    assert "No matching distribution found for pe-e2e-no-such-pkg" in body["output"], body

    # requirements file (a file in the plugin directory), streamed output
    build_wheel(Path(srv.dist), "pe_e2e_req", "0.2", "from-requirements")
    req = Path(srv.plugin_dir) / "requirements.txt"
    req.write_text("pe_e2e_req==0.2\n")
    r = post_json(http, "/api/v3/configure/plugin_environment/install_requirements?stream=true",
                  {"requirements_location": str(req)})
    assert r.status == 200 and r.text.rstrip().endswith("pe: ok"), r.text
    got = http.request("GET", "/api/v3/engine/pkg_import", {"module": "pe_e2e_req"}).json()
    assert got["value"] == "from-requirements"

    r = post_json(http, "/api/v3/configure/plugin_environment/install_packages", {"packages": ["--index-url=http://x"]})
    assert r.status == 400, r.text
    assert post_json(http, "/api/v3/configure/plugin_environment/install_packages", {"packages": ["x"]},
                     token=None).status == 401
