"""InfluxQL end to end with clients nobody here wrote: the v1 `influxdb` client, the `influx` shell
(Debian's influxdb-client, when installed), influxdb3-python's language="influxql", `pe query
--language influxql`, and curl-shaped HTTP: v1 JSON, chunks, CSV, per-statement errors, DBRP."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.parse

import pytest
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError
from influxdb_client_3 import InfluxDBClient3

from pe_engine import cli
from support.http import Http

LINES = "\n".join([
    "cpu,host=a,region=us usage=1.5,n=1i 1000000000",
    "cpu,host=b,region=eu usage=2.5,n=2i 1000000000",
    "cpu,host=a,region=us usage=3.5,n=3i 61000000000",
    "cpu,host=b,region=eu usage=4.5,n=4i 61000000000",
    "mem,host=a used=10i 1000000000",
])


def v1_get(http: Http, **query: str):
    return http.request("GET", "/query", query)


def port_of(url: str) -> int:
    return urllib.parse.urlsplit(url).port or 80


@pytest.fixture
def loaded(http: Http, unique_db: str) -> str:
    assert http.write(unique_db, LINES, precision="nanosecond").status == 204
    return unique_db


def test_v1_client_lists_creates_writes_and_queries(server, unique_db: str):
    c = InfluxDBClient(host="127.0.0.1", port=port_of(server.url), username="any", password=server.token,
                       database=unique_db)
    c.create_database(unique_db)
    assert {"name": unique_db} in c.get_list_database()
    assert c.write_points([{"measurement": "cpu", "tags": {"host": "a"}, "time": 1_000_000_000,
                            "fields": {"usage": 1.5}},
                           {"measurement": "cpu", "tags": {"host": "b"}, "time": 2_000_000_000,
                            "fields": {"usage": 2.5}}], time_precision="n")
    rs = c.query("SELECT usage FROM cpu")
    assert list(rs.get_points()) == [{"time": "1970-01-01T00:00:01Z", "usage": 1.5},
                                     {"time": "1970-01-01T00:00:02Z", "usage": 2.5}]
    rs = c.query("SELECT max(usage) FROM cpu GROUP BY host", epoch="s")
    assert list(rs.get_points(tags={"host": "b"})) == [{"time": 2, "max": 2.5}]
    both = c.query("SELECT count(usage) FROM cpu; SHOW TAG VALUES WITH KEY = host")
    assert [list(r.get_points()) for r in both] == [[{"time": "1970-01-01T00:00:00Z", "count": 2}],
                                                    [{"key": "host", "value": "a"}, {"key": "host", "value": "b"}]]
    wrong = InfluxDBClient(host="127.0.0.1", port=port_of(server.url), username="any", password="apiv3_wrong")
    with pytest.raises(InfluxDBClientError) as e:
        wrong.get_list_database()
    assert e.value.code == 401
    c.drop_database(unique_db)
    assert {"name": unique_db} not in c.get_list_database()


@pytest.mark.skipif(shutil.which("influx") is None, reason="the influx shell (Debian influxdb-client) is not installed")
def test_influx_shell(server, loaded: str):
    base = ["influx", "-host", "127.0.0.1", "-port", str(port_of(server.url)), "-username", "any",
            "-password", server.token, "-format", "json"]
    out = subprocess.run(base + ["-execute", "SHOW DATABASES"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert [loaded] in json.loads(out.stdout)["results"][0]["series"][0]["values"]
    out = subprocess.run(base + ["-database", loaded, "-precision", "s", "-execute",
                                 "SELECT mean(usage) FROM cpu WHERE time >= 0s AND time < 120s GROUP BY time(1m)"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0]["series"][0]["values"] == [[0, 2.0], [60, 4.0]]
    out = subprocess.run(base + ["-database", loaded, "-execute", "SELEC 1"], capture_output=True, text=True,
                         timeout=30)
    assert "error parsing query: found SELEC" in out.stdout + out.stderr


def test_influxdb3_python_influxql(server, loaded: str):
    c = InfluxDBClient3(host=server.url, token=server.token, database=loaded)
    t = c.query("SELECT usage FROM cpu WHERE host = 'a'", language="influxql")
    assert t.column_names == ["iox::measurement", "time", "usage"]
    assert t.column("usage").to_pylist() == [1.5, 3.5]
    t = c.query("SHOW FIELD KEYS FROM cpu", language="influxql")
    assert dict(zip(t.column("fieldKey").to_pylist(), t.column("fieldType").to_pylist())) == {
        "n": "integer", "usage": "float"}


def test_pe_query_language_influxql(server, loaded: str, capsys, monkeypatch):
    for name in ("PE_HOST", "PE_TOKEN", "PE_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    code = cli.main(["query", "-d", loaded, "--language", "influxql", "--format", "json", "--host", server.url,
                     "--token", server.token, "SELECT last(usage) FROM cpu GROUP BY host"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["iox::measurement"], r["host"], r["last"]) for r in rows] == [("cpu", "a", 3.5), ("cpu", "b", 4.5)]
    code = cli.main(["query", "-d", loaded, "-l", "influxql", "--host", server.url, "--token", server.token,
                     "SELECT FROM"])
    _, err = capsys.readouterr()
    assert code != 0 and "error parsing query" in err


def test_v1_json_shapes_errors_per_statement(http: Http, loaded: str):
    r = v1_get(http, db=loaded, q="SELECT usage FROM cpu WHERE host = 'a'; SELECT nope(usage) FROM cpu; "
                                    "SELECT n FROM cpu WHERE host = 'b'")
    assert r.status == 200, r.text
    res = r.json()["results"]
    assert res[0] == {"statement_id": 0, "series": [{"name": "cpu", "columns": ["time", "usage"], "values": [
        ["1970-01-01T00:00:01Z", 1.5], ["1970-01-01T00:01:01Z", 3.5]]}]}
    assert res[1]["statement_id"] == 1 and "nope" in res[1]["error"]
    assert len(res) == 2  # as 1.x: the first failing statement ends the query
    empty = v1_get(http, db=loaded, q="SELECT usage FROM cpu WHERE host = 'zz'").json()
    assert empty == {"results": [{"statement_id": 0}]}
    r = v1_get(http, db=loaded, q="SELECT FROM cpu")
    assert r.status == 400 and r.json()["error"].startswith("error parsing query:")
    assert "line 1, char" in r.json()["error"]
    r = v1_get(http, db=loaded, q="SELECT usage FROM cpu", epoch="ms", pretty="true")
    assert r.json()["results"][0]["series"][0]["values"] == [[1000, 1.5], [1000, 2.5], [61000, 3.5], [61000, 4.5]]
    assert "\n    " in r.text  # indented
    r = http.request("POST", "/query", None, urllib.parse.urlencode({"db": loaded, "q": "SHOW MEASUREMENTS"}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.json()["results"][0]["series"][0]["values"] == [["cpu"], ["mem"]]


def test_v1_chunked_and_csv(http: Http, loaded: str):
    r = v1_get(http, db=loaded, q="SELECT usage FROM cpu", chunked="true", chunk_size="3")
    chunks = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    series = [c["results"][0]["series"][0] for c in chunks]
    assert [len(s["values"]) for s in series] == [3, 1]
    assert series[0].get("partial") is True and "partial" not in series[1]
    r = http.request("GET", "/query", {"db": loaded, "q": "SELECT usage FROM cpu GROUP BY host"},
                     headers={"Accept": "application/csv"})
    assert r.status == 200 and r.headers["content-type"].startswith("application/csv")
    assert r.text.splitlines() == ["name,tags,time,usage", "cpu,host=a,1000000000,1.5", "cpu,host=a,61000000000,3.5",
                                   "cpu,host=b,1000000000,2.5", "cpu,host=b,61000000000,4.5"]


def test_dbrp_and_admin_statements(server, http: Http, unique_db: str):
    rp_db = f"{unique_db}/weekly"
    assert http.write(unique_db, "cpu usage=1 1", precision="second").status == 204
    assert http.request("POST", "/query", {"q": f'CREATE DATABASE "{rp_db}"'}).status == 200
    assert http.request("POST", "/write", {"db": unique_db, "rp": "weekly", "precision": "s"}, "cpu usage=7 1").status == 204
    assert http.request("POST", "/api/v2/write", {"bucket": rp_db, "precision": "s"}, "cpu usage=8 2").status == 204
    got = v1_get(http, db=unique_db, rp="weekly", q="SELECT usage FROM cpu").json()
    assert got["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", 7.0], ["1970-01-01T00:00:02Z", 8.0]]
    got = v1_get(http, db=unique_db, rp="monthly", q="SELECT usage FROM cpu").json()
    assert "database not found" in got["results"][0]["error"] and "monthly" in got["results"][0]["error"]
    got = v1_get(http, db=unique_db, rp="autogen", q="SELECT usage FROM cpu").json()
    assert got["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", 1.0]]
    names = [v[0] for v in v1_get(http, q="SHOW DATABASES").json()["results"][0]["series"][0]["values"]]
    assert unique_db in names and rp_db in names
    r = http.request("POST", "/query", {"q": f'DROP DATABASE "{rp_db}"'})
    assert r.status == 200 and r.json() == {"results": [{"statement_id": 0}]}
    # a token that may only read cannot create databases
    created = http.request("POST", "/api/v3/configure/token", None, json.dumps({
        "token_name": f"ro-{unique_db}", "permissions": [{"resource_type": "db", "resource_identifier": [unique_db],
                                                          "actions": ["read"]}]}),
        {"Content-Type": "application/json"})
    assert created.status in (200, 201), created.text
    ro = created.json()["token"]
    r = http.request("GET", "/query", {"db": unique_db, "q": "SELECT usage FROM cpu"}, token=ro)
    assert r.status == 200 and r.json()["results"][0]["series"][0]["values"][0][1] == 1.0
    r = http.request("POST", "/query", {"q": "CREATE DATABASE sneaky"}, token=ro)
    assert r.status == 403


def test_query_influxql_v3_formats(http: Http, loaded: str):
    r = http.request("GET", "/api/v3/query_influxql", {"db": loaded, "q": "SELECT usage FROM cpu GROUP BY host",
                                                       "format": "json"})
    assert r.status == 200, r.text
    assert r.json() == [
        {"iox::measurement": "cpu", "time": "1970-01-01T00:00:01", "host": "a", "usage": 1.5},
        {"iox::measurement": "cpu", "time": "1970-01-01T00:01:01", "host": "a", "usage": 3.5},
        {"iox::measurement": "cpu", "time": "1970-01-01T00:00:01", "host": "b", "usage": 2.5},
        {"iox::measurement": "cpu", "time": "1970-01-01T00:01:01", "host": "b", "usage": 4.5}]
    r = http.request("POST", "/api/v3/query_influxql", None, json.dumps({"db": loaded, "q": "SHOW MEASUREMENTS",
                                                                       "format": "csv"}),
                     {"Content-Type": "application/json"})
    assert r.status == 200 and r.text.splitlines()[0] == "iox::measurement,name"
    r = http.request("GET", "/api/v3/query_influxql", {"db": loaded, "q": "SELECT nope(usage) FROM cpu"})
    assert r.status == 400 and "nope" in r.text


def test_show_tag_values_follows_new_writes(http: Http, loaded: str):
    """Answered from the tag value index after the first scan: a new host shows once flushed."""
    def hosts() -> list[str]:
        got = v1_get(http, db=loaded, q="SHOW TAG VALUES FROM cpu WITH KEY = host").json()
        return [v for _, v in got["results"][0]["series"][0]["values"]]

    assert hosts() == ["a", "b"]
    assert http.write(loaded, "cpu,host=c usage=9 3", precision="second").status == 204
    deadline = time.monotonic() + 10
    while hosts() != ["a", "b", "c"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hosts() == ["a", "b", "c"]
    # with a WHERE it scans, and answers only matching rows
    got = v1_get(http, db=loaded, q="SHOW TAG VALUES FROM cpu WITH KEY = host WHERE region = 'eu'").json()
    assert got["results"][0]["series"][0]["values"] == [["host", "b"]]


def test_bad_queries_get_clear_errors_and_the_server_goes_on(http: Http, loaded: str):
    nested = "SELECT usage FROM cpu WHERE " + "(" * 5000 + "usage > 1" + ")" * 5000
    r = http.request("POST", "/query", None, urllib.parse.urlencode({"db": loaded, "q": nested}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400 and "nested deeper" in r.json()["error"]
    r = v1_get(http, db=loaded, q="SELECT count(usage) FROM cpu WHERE time >= 0 AND time < 1000000000000 "
                                    "GROUP BY time(1ns)")
    assert "narrow the time range" in r.json()["results"][0]["error"]
    r = v1_get(http, db=loaded, q="SELECT usage FROM cpu", epoch="fortnight")
    assert r.status == 400 and "invalid epoch" in r.json()["error"]
    r = v1_get(http, db=loaded, q="")
    assert r.status == 400 and 'missing required parameter "q"' in r.json()["error"]
    r = v1_get(http, db=loaded, q="SELECT usage FROM cpu WHERE time > 'yesterday'")
    assert "invalid time literal" in r.json()["results"][0]["error"]
    r = v1_get(http, db=loaded, q="SELECT usage % 0 FROM cpu WHERE host = 'a' LIMIT 1")
    assert r.json()["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", None]]
    assert v1_get(http, db=loaded, q="SHOW MEASUREMENTS").status == 200


def test_every_v1_way_to_send_the_token(server, http: Http, loaded: str):
    q = {"db": loaded, "q": "SHOW MEASUREMENTS"}
    ok = [["cpu"], ["mem"]]
    r = http.request("GET", "/query", {**q, "u": "any", "p": server.token}, token=None)
    assert r.status == 200 and r.json()["results"][0]["series"][0]["values"] == ok
    r = http.request("GET", "/query", q, headers={"Authorization": f"Token {server.token}"}, token=None)
    assert r.status == 200 and r.json()["results"][0]["series"][0]["values"] == ok
    basic = base64.b64encode(f"any:{server.token}".encode()).decode()
    r = http.request("GET", "/query", q, headers={"Authorization": f"Basic {basic}"}, token=None)
    assert r.status == 200 and r.json()["results"][0]["series"][0]["values"] == ok
    assert http.request("GET", "/query", q, token=None).status == 401
    assert http.request("GET", "/query", {**q, "p": "apiv3_wrong"}, token=None).status == 401
