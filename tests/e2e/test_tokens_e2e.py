"""Tokens against a real `pe serve`: the `pe` token commands, Arrow Flight with a resource
token, and token metadata across a restart."""
from __future__ import annotations

import json
import re

import pyarrow.flight as flight
import pytest
from influxdb_client_3 import InfluxDBClient3

from pe_engine import cli
from support.http import Http

FLIGHT_LINE = re.compile(r"Arrow Flight queries on grpc\+tcp://(\S+):(\d+)")
TOKEN_LINE = re.compile(r"^Token: (apiv3_\S+)$", re.M)
TOKEN = "/api/v3/configure/token"


@pytest.fixture
def pe(capsys, monkeypatch):
    """Run `pe ARGS --host URL --token T` in-process; returns (exit code, stdout, stderr)."""
    for name in ("PE_HOST", "PE_TOKEN", "PE_DATABASE", "INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN",
                 "INFLUXDB3_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)

    def run(url: str, token: str, *args: str) -> tuple[int, str, str]:
        code = cli.main([*args, "--host", url, "--token", token])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def make_token(http: Http, path: str, body: dict) -> str:
    r = http.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body
    return r.json()["token"]


def read_perm(db: str) -> list[dict]:
    return [{"resource_type": "db", "resource_identifier": [db], "actions": ["read"]}]


def test_token_commands_then_a_restart_keeps_every_token(server_factory, tmp_path, pe):
    data = tmp_path / "cli-data"
    srv = server_factory(data, token=None)  # generates the operator token and prints it once
    m = re.search(r"(apiv3_\S+)", srv.stderr)
    assert m, srv.stderr
    generated = m.group(1)
    url = srv.url
    code, _, err = pe(url, generated, "create", "token", "--admin")
    assert code == 1 and "already exists" in err  # the operator token was made at the first start

    code, out, err = pe(url, generated, "create", "token", "--admin", "--name", "ops", "--format", "json")
    assert code == 0, err
    ops = json.loads(out)["token"]
    code, out, err = pe(url, ops, "create", "token", "--name", "reader",
                        "--permission", "db:sensors:read", "--expiry", "30d")
    assert code == 0, err
    m = TOKEN_LINE.search(out)
    assert m, out
    reader = m.group(1)

    assert pe(url, ops, "write", "-d", "sensors", "t,room=a v=21.5 1")[0] == 0
    code, out, _ = pe(url, reader, "query", "-d", "sensors", "--format", "json", "SELECT v FROM t")
    assert code == 0 and json.loads(out) == [{"v": 21.5}]
    code, _, err = pe(url, reader, "write", "-d", "sensors", "t,room=b v=1 2")
    assert code == 1 and "no write permission on database 'sensors'" in err

    code, out, _ = pe(url, generated, "show", "tokens", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["name"], r["permissions"]) for r in rows] == [
        ("_admin", "*:*:*"), ("ops", "*:*:*"), ("reader", "db:sensors:read")]
    assert "expiry" in rows[2]
    assert all(secret not in out for secret in (generated, ops, reader))
    code, out, _ = pe(url, generated, "show", "tokens")
    assert code == 0 and "reader" in out

    code, out, err = pe(url, generated, "delete", "token", "--token-name", "ops", "-y")
    assert code == 0 and "deleted" in out, err
    code, _, err = pe(url, ops, "show", "databases")
    assert code == 1 and "invalid token" in err
    code, _, err = pe(url, generated, "delete", "token", "--token-name", "_admin", "-y")
    assert code == 1 and "cannot be deleted" in err

    code, out, err = pe(url, generated, "create", "token", "--admin", "--regenerate")
    assert code == 0, err
    operator = TOKEN_LINE.search(out).group(1)
    assert pe(url, generated, "show", "databases")[0] == 1
    assert pe(url, operator, "show", "databases")[0] == 0
    code, _, err = pe(url, operator, "create", "token", "--name", "bad", "--permission", "db:sensors")
    assert code == 1 and "invalid permission" in err

    sql = "SELECT token_id, name, created_at, expiry, permissions FROM system.tokens"
    before = Http(url, operator).rows("_internal", sql)
    assert srv.stop() == 0, srv.stderr

    again = server_factory(data, token=None)
    assert "generated the admin token" not in again.stderr
    http = Http(again.url, operator)
    after = http.rows("_internal", sql)
    assert after == before and [r["name"] for r in after] == ["_admin", "reader"]
    assert http.query("sensors", "SELECT v FROM t", token=reader).status == 200
    assert http.write("sensors", "t v=2 2", token=reader).status == 403
    assert http.query("sensors", "SELECT 1", token=ops).status == 401
    assert http.query("sensors", "SELECT 1", token=generated).status == 401
    assert http.request("POST", TOKEN + "/admin").status == 409


def test_flight_query_with_a_read_token(server, http: Http, unique_db: str):
    assert http.write(unique_db, "m v=3 1").status == 204
    assert http.write(unique_db + "_other", "m v=4 1").status == 204
    reader = make_token(http, TOKEN, {"token_name": f"flight-{unique_db}", "permissions": read_perm(unique_db)})
    writer = make_token(http, TOKEN, {"token_name": f"flight-w-{unique_db}", "permissions": [
        {"resource_type": "db", "resource_identifier": [unique_db], "actions": ["write"]}]})
    m = FLIGHT_LINE.search(server.stderr)
    assert m, server.stderr
    port = int(m.group(2))
    assert f":{port}" in server.url  # Flight is served on the HTTP port itself

    with InfluxDBClient3(host=server.url, token=reader, database=unique_db) as c:
        assert c.query("SELECT v FROM m").to_pylist() == [{"v": 3.0}]

    raw = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")

    def do_get(db: str, token: str) -> None:
        ticket = flight.Ticket(json.dumps({"database": db, "sql_query": "SELECT v FROM m", "query_type": "sql"}).encode())
        raw.do_get(ticket, flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])).read_all()

    with pytest.raises(flight.FlightUnauthorizedError, match="no read permission on database"):
        do_get(unique_db + "_other", reader)
    with pytest.raises(flight.FlightUnauthorizedError, match="no read permission"):
        do_get(unique_db, writer)
    do_get(unique_db, server.token)  # the server goes on serving
