"""Arrow Flight queries against a real `pe serve`, with the official influxdb3-python client."""
from __future__ import annotations

import io
import json
import re

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from influxdb_client_3 import InfluxDBClient3
from influxdb_client_3.exceptions import InfluxDB3ClientQueryError

from support.http import Http

FLIGHT_LINE = re.compile(r"Arrow Flight queries on grpc\+tcp://(\S+):(\d+) \(the HTTP port\)")
EXTRA_LINE = re.compile(r"Arrow Flight queries also on grpc\+tcp://(\S+):(\d+) \(--flight-bind\)")


def http_port(srv) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def client(srv, db: str, token: str | None = None) -> InfluxDBClient3:
    """The official client with its defaults: queries go to the host's own port, as with InfluxDB 3."""
    return InfluxDBClient3(host=srv.url, token=token if token is not None else srv.token, database=db)


def raw(srv, port: int | None = None) -> flight.FlightClient:
    return flight.FlightClient(f"grpc+tcp://127.0.0.1:{port or http_port(srv)}")


def ticket(db: str, sql: str, **extra) -> flight.Ticket:
    return flight.Ticket(json.dumps({"database": db, "sql_query": sql, "query_type": "sql", **extra}).encode())


def auth(token: str) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])


def http_parquet(http: Http, db: str, sql: str) -> pa.Table:
    r = http.query(db, sql, fmt="parquet")
    assert r.status == 200, r.body
    return pq.read_table(io.BytesIO(r.body))


def test_write_then_query_same_table_as_http(server, http: Http, unique_db: str):
    c = client(server, unique_db)
    c.write(record="cpu,host=a,region=us usage=1.5,n=3i 1000\ncpu,host=b,region=eu usage=2.5,ok=true 2000\n"
                   'cpu,host=c usage=3.5,s="x" 3000')
    sql = "SELECT * FROM cpu ORDER BY time"
    got = c.query(sql)
    assert got.num_rows == 3
    assert got.column("host").to_pylist() == ["a", "b", "c"] and got.column("n").to_pylist() == [3, None, None]
    expected = http_parquet(http, unique_db, sql)
    assert got.schema.remove_metadata().equals(expected.schema.remove_metadata())
    assert got.to_pylist() == expected.to_pylist()
    empty = c.query("SELECT * FROM cpu WHERE usage > 100")
    assert empty.num_rows == 0 and empty.schema.names == expected.schema.names
    # parameters travel in the ticket
    got = c.query("SELECT host FROM cpu WHERE host = $h", query_parameters={"h": "b"})
    assert got.column("host").to_pylist() == ["b"]
    # pandas-free modes of the client work too
    assert c.query(sql, mode="schema").names == expected.schema.names
    assert sum(chunk.data.num_rows for chunk in c.query(sql, mode="chunk")) == 3


def test_large_result_streams_in_batches(server, http: Http, unique_db: str):
    c = client(server, unique_db)
    body = "\n".join(f"m,k=k{i % 10} v={i}i {i + 1}" for i in range(50_000))
    assert http.write(unique_db, body).status == 204
    reader = raw(server).do_get(ticket(unique_db, "SELECT * FROM m ORDER BY time"), auth(server.token))
    table = reader.read_all()
    assert table.num_rows == 50_000 and table.column("v")[49_999].as_py() == 49_999
    assert c.query("SELECT count(*) AS n FROM m").column("n")[0].as_py() == 50_000


def test_last_cache_over_flight(server, http: Http, unique_db: str):
    import time

    t = time.time_ns()
    assert http.write(unique_db, f"cpu,host=a usage=1.0 {t}\ncpu,host=b usage=2.0 {t}").status == 204
    r = http.request("POST", "/api/v3/configure/last_cache", body=json.dumps({"db": unique_db, "table": "cpu"}))
    assert r.status == 201, r.text
    got = client(server, unique_db).query("SELECT host, usage FROM last_cache('cpu') WHERE host = $h",
                                          query_parameters={"h": "b"})
    assert got.to_pylist() == [{"host": "b", "usage": 2.0}]


def test_errors_reach_the_client_and_the_server_goes_on(server, http: Http, unique_db: str):
    assert http.write(unique_db, "cpu,host=a usage=1.0 1").status == 204
    fc = raw(server)
    ok = auth(server.token)
    with pytest.raises(flight.FlightServerError, match="SQL error|ParserError|Expected"):
        fc.do_get(ticket(unique_db, "SELEC nope"), ok).read_all()
    with pytest.raises(flight.FlightServerError, match="database not found: no_such_db"):
        fc.do_get(ticket("no_such_db", "SELECT 1"), ok).read_all()
    with pytest.raises(flight.FlightServerError, match="table 'nope' not found|nope"):
        fc.do_get(ticket(unique_db, "SELECT * FROM nope"), ok).read_all()
    with pytest.raises(flight.FlightServerError, match="error parsing query: found SELEC"):
        fc.do_get(flight.Ticket(json.dumps({"database": unique_db, "sql_query": "SELEC x",
                                            "query_type": "influxql"}).encode()), ok).read_all()
    with pytest.raises(flight.FlightServerError, match="query_type 'flux' is neither"):
        fc.do_get(flight.Ticket(json.dumps({"database": unique_db, "sql_query": "x",
                                            "query_type": "flux"}).encode()), ok).read_all()
    with pytest.raises(flight.FlightServerError, match="invalid ticket"):
        fc.do_get(flight.Ticket(b"not json"), ok).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid token"):
        fc.do_get(ticket(unique_db, "SELECT 1"), auth("apiv3_wrong")).read_all()
    with pytest.raises(flight.FlightUnauthenticatedError, match="missing token"):
        fc.do_get(ticket(unique_db, "SELECT 1")).read_all()
    # the official client turns them into InfluxDB3ClientQueryError with the server's message
    with pytest.raises(InfluxDB3ClientQueryError, match="database not found"):
        client(server, "no_such_db").query("SELECT 1")
    with pytest.raises(InfluxDB3ClientQueryError, match="invalid token"):
        client(server, unique_db, token="apiv3_wrong").query("SELECT 1")
    # and the next query works
    assert fc.do_get(ticket(unique_db, "SELECT count(*) AS n FROM cpu"), ok).read_all().column("n")[0].as_py() == 1
    assert client(server, unique_db).query("SELECT host FROM cpu").column("host").to_pylist() == ["a"]


def test_flight_bind_flag_adds_a_listener_and_without_flight_serves_none(server_factory, admin_token, tmp_path,
                                                                          free_port):
    srv = server_factory(tmp_path / "a", admin_token, ["--flight-bind", f"127.0.0.1:{free_port}"])
    m = EXTRA_LINE.search(srv.stderr)
    assert m and int(m.group(2)) == free_port, srv.stderr
    c = client(srv, "x")
    c.write(record="m v=1i 1")
    assert c.query("SELECT v FROM m").column("v").to_pylist() == [1]
    auth_opts = auth(admin_token)
    for port in (free_port, http_port(srv)):  # the extra listener and the HTTP port answer alike
        got = raw(srv, port).do_get(ticket("x", "SELECT v FROM m"), auth_opts).read_all()
        assert got.column("v").to_pylist() == [1]
    # the same explicit port again: the second server refuses to start
    with pytest.raises(RuntimeError, match="did not become ready"):
        server_factory(tmp_path / "b", admin_token, ["--flight-bind", f"127.0.0.1:{free_port}"])
    srv3 = server_factory(tmp_path / "c", admin_token, ["--without-flight"])
    assert not FLIGHT_LINE.search(srv3.stderr)
    with pytest.raises(flight.FlightError):  # no gRPC on the HTTP port: a clean failure, no hang
        raw(srv3).do_get(ticket("x", "SELECT 1"), flight.FlightCallOptions(timeout=10)).read_all()
    assert Http(srv3.url, admin_token).request("GET", "/health").status == 200


def test_without_auth_needs_no_token(server_factory, tmp_path):
    srv = server_factory(tmp_path / "d", None, ["--without-auth"])
    fc = raw(srv)
    assert fc.do_get(ticket("_internal", "SELECT 1 AS one")).read_all().column("one").to_pylist() == [1]


def test_flight_is_served_on_the_http_port(server_factory, admin_token, tmp_path):
    srv = server_factory(tmp_path / "e", admin_token, [])
    m = FLIGHT_LINE.search(srv.stderr)
    assert m and int(m.group(2)) == http_port(srv), srv.stderr
    assert not EXTRA_LINE.search(srv.stderr)


def test_influxql_tickets_answer_as_influxdb3(server, http: Http, unique_db: str):
    """`query_type: influxql` (influxdb3-python's language="influxql"): one table with
    `iox::measurement`, time, GROUP BY tags, then the selected columns."""
    assert http.write(unique_db, "cpu,host=a usage=1.0 1000000000\ncpu,host=b usage=3.0 2000000000\n"
                      "mem,host=a used=5i 1000000000", precision="nanosecond").status == 204
    fc = raw(server)
    ok = auth(server.token)

    def influxql(q: str) -> pa.Table:
        return fc.do_get(flight.Ticket(json.dumps({"database": unique_db, "sql_query": q,
                                                   "query_type": "influxql"}).encode()), ok).read_all()

    got = influxql("SELECT usage FROM cpu")
    assert got.column_names == ["iox::measurement", "time", "usage"]
    assert got.column("usage").to_pylist() == [1.0, 3.0]
    assert got.column("time").cast(pa.int64()).to_pylist() == [1_000_000_000, 2_000_000_000]
    got = influxql("SELECT max(usage) FROM cpu GROUP BY host")
    assert got.column_names == ["iox::measurement", "time", "host", "max"]
    assert got.column("host").to_pylist() == ["a", "b"] and got.column("max").to_pylist() == [1.0, 3.0]
    got = influxql("SHOW MEASUREMENTS")
    assert got.column("name").to_pylist() == ["cpu", "mem"]
