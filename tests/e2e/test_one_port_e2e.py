"""HTTP/1.1 and gRPC on one port, against a real `pe serve`: the official client with its defaults,
many gRPC connections opened and dropped without a descriptor left behind, HTTP served meanwhile,
and a connection that stalls inside the HTTP/2 preface closed by the header timeout."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pyarrow.flight as flight
from influxdb_client_3 import InfluxDBClient3

from support.http import Http
from support.numpy_site import run_with_pandas
from support.waiting import wait_until

CLIENTS = Path(__file__).parent / "clients"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _port(srv) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _ticket(db: str, sql: str) -> flight.Ticket:
    return flight.Ticket(json.dumps({"database": db, "sql_query": sql, "query_type": "sql"}).encode())


def test_the_official_client_writes_and_queries_on_the_host_port_alone(server, http: Http, unique_db: str):
    with InfluxDBClient3(host=server.url, token=server.token, database=unique_db) as c:
        c.write(record="cpu,host=a usage=1.5 1")
        c.write(record="cpu,host=b usage=2.5 2")
        got = c.query("SELECT host, usage FROM cpu WHERE usage > $min ORDER BY time", query_parameters={"min": 2})
        assert got.to_pylist() == [{"host": "b", "usage": 2.5}]
        pl = c.query("SELECT host FROM cpu ORDER BY host", mode="polars")
        assert pl["host"].to_list() == ["a", "b"]
    assert http.rows(unique_db, "SELECT count(*) AS n FROM cpu") == [{"n": 2}]


def test_pandas_mode_on_the_host_port(server, http: Http, unique_db: str, pandas_site: Path):
    http.write(unique_db, "cpu,host=a usage=1.5 1\ncpu,host=b usage=2.5 2")
    proc = run_with_pandas(pandas_site, CLIENTS / "influxdb3_pandas_check.py", server.url, server.token, unique_db)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_grpc_connections_come_and_go_without_leaking_and_http_goes_on(server, http: Http, unique_db: str):
    http.write(unique_db, "m v=1i 1")
    opts = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {server.token}".encode())])
    url = f"grpc+tcp://127.0.0.1:{_port(server)}"

    def one_query() -> None:
        with flight.FlightClient(url) as fc:
            assert fc.do_get(_ticket(unique_db, "SELECT v FROM m"), opts).read_all().column("v").to_pylist() == [1]

    one_query()  # the server's threads and pools exist before the count
    before = _fds(server.proc.pid)
    errors: list[BaseException] = []

    def many() -> None:
        try:
            for _ in range(25):
                one_query()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=many) for _ in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # HTTP answers while 100 gRPC connections come and go
        assert http.rows(unique_db, "SELECT v FROM m") == [{"v": 1}]
        time.sleep(0.05)
    assert not errors, errors
    # clients that vanish mid-stream: a preface and nothing more, a reset after the preface
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", _port(server))) as s:
            s.sendall(PREFACE)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    wait_until(lambda: _fds(server.proc.pid) <= before + 2,
               f"the server's descriptors back to about {before} (now {_fds(server.proc.pid)})", timeout=30)
    one_query()


def test_a_stalled_preface_is_closed_by_the_header_timeout(server_factory, admin_token, tmp_path):
    srv = server_factory(tmp_path / "s", admin_token, ["--http-header-timeout", "1s"])
    with socket.create_connection(("127.0.0.1", _port(srv))) as s:
        s.sendall(PREFACE[:10])  # neither HTTP/1.1 nor a whole preface yet
        s.settimeout(15)
        t0 = time.monotonic()
        assert s.recv(1) == b""  # closed by the server
        assert time.monotonic() - t0 < 14
    assert Http(srv.url, admin_token).request("GET", "/health").status == 200
