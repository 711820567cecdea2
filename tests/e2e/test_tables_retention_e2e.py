"""Retention and table management against a real `pe serve`: HTTP, the `pe` CLI, restarts."""
from __future__ import annotations

import json
import time

from pe_engine import cli
from support.http import Http

DAY = 86_400 * 10**9
TOKEN = "apiv3_tables_retention_e2e"


def create_db(http: Http, body: dict):
    return http.request("POST", "/api/v3/configure/database", body=json.dumps(body),
                        headers={"Content-Type": "application/json"})


def create_table(http: Http, body: dict):
    return http.request("POST", "/api/v3/configure/table", body=json.dumps(body),
                        headers={"Content-Type": "application/json"})


def hosts(http: Http, db: str) -> list[str]:
    return sorted(r["host"] for r in http.rows(db, "SELECT host FROM cpu"))


# --------------------------------------------------------------------- retention
def test_retention_period_hides_old_rows_listed_and_survives_restart(server_factory, tmp_path):
    data = tmp_path / "retention-data"
    srv = server_factory(data, token=TOKEN)
    http = Http(srv.url, TOKEN)
    assert create_db(http, {"db": "ret", "retention_period": "1d"}).status == 200
    now = time.time_ns()
    lp = f"cpu,host=old v=1 {now - 3 * DAY}\ncpu,host=new v=2 {now - 10**9}\n"
    assert http.write("ret", lp).status == 204
    assert hosts(http, "ret") == ["new"]
    for fmt in ("csv", "jsonl", "pretty"):
        r = http.query("ret", "SELECT host FROM cpu", fmt)
        assert r.status == 200 and "new" in r.text and "old" not in r.text
    # the listing keeps InfluxDB's shape; show_retention adds the period
    r = http.request("GET", "/api/v3/configure/database", {"format": "json"})
    assert {"iox::database": "ret"} in r.json()
    r = http.request("GET", "/api/v3/configure/database", {"format": "json", "show_retention": "true"})
    assert {"iox::database": "ret", "retention_period": "1day"} in r.json()
    rows = http.rows("_internal", "SELECT database_name, retention_period_ns FROM system.databases "
                                  "WHERE database_name = 'ret'")
    assert rows == [{"database_name": "ret", "retention_period_ns": DAY}]
    assert srv.stop() == 0, srv.stderr

    srv = server_factory(data, token=TOKEN)
    http = Http(srv.url, TOKEN)
    assert hosts(http, "ret") == ["new"]
    rows = http.rows("_internal", "SELECT retention_period_ns FROM system.databases WHERE database_name = 'ret'")
    assert rows == [{"retention_period_ns": DAY}]


def test_bad_retention_period_is_400_and_creates_nothing(http, unique_db):
    for bad in ("30 parsecs", "-1d", "1.5d", 30):
        r = create_db(http, {"db": unique_db, "retention_period": bad})
        assert r.status == 400, (bad, r.text)
        assert "retention_period" in r.json()["error"]
    r = http.request("GET", "/api/v3/configure/database", {"format": "json"})
    assert {"iox::database": unique_db} not in r.json()


def test_cli_create_database_with_retention_and_show(server, unique_db, capsys):
    base = ["--host", server.url, "--token", server.token]
    assert cli.main(["create", "database", "--retention-period", "30d", unique_db, *base]) == 0
    capsys.readouterr()
    assert cli.main(["show", "databases", "--format", "json", "--show-retention", *base]) == 0
    out = capsys.readouterr().out
    assert {"iox::database": unique_db, "retention_period": "30days"} in json.loads(out)
    assert cli.main(["create", "database", "--retention-period", "soon", unique_db + "x", *base]) == 1
    assert "retention_period" in capsys.readouterr().err


# --------------------------------------------------------------------- tables
def test_create_table_then_conflicts_and_bad_input(http, unique_db):
    body = {"db": unique_db, "table": "cpu", "tags": ["host", "region"],
            "fields": [{"name": "usage", "type": "float64"}, {"name": "n", "type": "int64"},
                       {"name": "ok", "type": "bool"}, {"name": "s", "type": "utf8"}, {"name": "u", "type": "uint64"}]}
    r = create_table(http, body)
    assert r.status == 200, r.text  # the database is created on the way, as InfluxDB
    assert http.rows(unique_db, "SELECT * FROM cpu") == []
    cols = http.rows(unique_db, "SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = 'cpu' ORDER BY ordinal_position")
    assert [c["column_name"] for c in cols] == ["host", "region", "usage", "n", "ok", "s", "u", "time"]
    assert create_table(http, body).status == 409
    for bad in (
        {**body, "table": "t2", "fields": [{"name": "v", "type": "float"}]},
        {**body, "table": "t3", "tags": "host"},
        {**body, "table": "t4", "tags": []},
        {"db": unique_db, "tags": ["host"]},
        {**body, "table": "t5", "fields": [{"name": "v"}]},
    ):
        r = create_table(http, bad)
        assert r.status == 400, (bad, r.text)
        assert r.json()["error"]
    r = http.write(unique_db, 'cpu,host=a usage="str" 1')
    assert r.status == 400  # the declared type holds


def test_delete_table_404s_and_drops_last_cache(http, unique_db):
    assert http.write(unique_db, "cpu,host=a v=1 1\nmem,host=a free=2 2").status == 204
    r = http.request("POST", "/api/v3/configure/last_cache", body=json.dumps(
        {"db": unique_db, "table": "cpu", "name": "cpu_lc"}), headers={"Content-Type": "application/json"})
    assert r.status == 201, r.text
    assert http.request("DELETE", "/api/v3/configure/table", {"db": unique_db, "table": "nope"}).status == 404
    assert http.request("DELETE", "/api/v3/configure/table", {"db": unique_db + "x", "table": "cpu"}).status == 404
    assert http.request("DELETE", "/api/v3/configure/table", {"db": unique_db}).status == 400
    assert http.request("DELETE", "/api/v3/configure/table", {"db": unique_db, "table": "cpu"}).status == 200
    assert http.query(unique_db, "SELECT * FROM cpu").status == 400  # no such table
    assert http.rows(unique_db, "SELECT name FROM system.last_caches") == []
    assert http.rows(unique_db, "SELECT host FROM mem") == [{"host": "a"}]
    assert http.write(unique_db, "cpu,host=b v=2 3").status == 204  # re-created: starts empty
    assert hosts(http, unique_db) == ["b"]


def test_deleted_table_rows_do_not_come_back_after_restart(server_factory, tmp_path):
    data = tmp_path / "tables-data"
    srv = server_factory(data, token=TOKEN)
    http = Http(srv.url, TOKEN)
    assert http.write("t", "cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem,host=a free=3 3").status == 204
    assert http.request("DELETE", "/api/v3/configure/table", {"db": "t", "table": "cpu"}).status == 200
    assert http.write("t", "cpu,host=c v=3 3").status == 204
    assert srv.stop() == 0, srv.stderr
    srv = server_factory(data, token=TOKEN)
    http = Http(srv.url, TOKEN)
    assert hosts(http, "t") == ["c"]
    assert http.rows("t", "SELECT host FROM mem") == [{"host": "a"}]


def test_cli_create_and_delete_table(server, unique_db, capsys):
    base = ["--host", server.url, "--token", server.token]
    assert cli.main(["create", "table", "-d", unique_db, "--tags", "host,region",
                     "--fields", "usage:float64,count:int64", "cpu", *base]) == 0
    assert 'Table "cpu" created' in capsys.readouterr().out
    http = Http(server.url, server.token)
    cols = http.rows(unique_db, "SELECT column_name FROM information_schema.columns WHERE table_name = 'cpu' "
                                "ORDER BY ordinal_position")
    assert [c["column_name"] for c in cols] == ["host", "region", "usage", "count", "time"]
    assert cli.main(["create", "table", "-d", unique_db, "--tags", "host", "cpu", *base]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["delete", "table", "-d", unique_db, "--yes", "cpu", *base]) == 0
    assert 'Table "cpu" deleted' in capsys.readouterr().out
    assert cli.main(["delete", "table", "-d", unique_db, "--yes", "cpu", *base]) == 1
    assert "not found" in capsys.readouterr().err
