"""Governed queries against a real `pe serve`: --query-timeout answers 504 and the pool is free
again, a client that hangs up or a Flight deadline cancels the query on the server, a query past
--query-memory-limit gets a clear error, a full queue answers 503 with Retry-After, and writes
keep completing while heavy queries run."""
from __future__ import annotations

import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator

import pyarrow.flight as flight
import pytest

from support.http import Http
from support.servers import ServerProc, start_server
from support.waiting import wait_until

MiB = 1024 * 1024
# each test adds "AND a.k <> 'kN'": its own text in system.queries, and still all the work (an
# equality filter left a join small enough to finish within the 2 s timeout on a quiet machine)
SLOW = "SELECT count(*) AS n FROM t a CROSS JOIN t b CROSS JOIN t c WHERE a.v + b.v + c.v = -1"
FLIGHT_LINE = re.compile(r"Arrow Flight queries on grpc\+tcp://(\S+):(\d+)")
TIMEOUT_S = 2


def start_governed(base, token: str, flags: list[str]) -> ServerProc:
    srv = start_server(base, token, flags)
    http = Http(srv.url, srv.token)
    assert http.write("gov", "\n".join(f"t,k=k{i % 7} v={i}i {i + 1}" for i in range(2000))).status == 204
    assert http.write("gov", "\n".join(f"big,k=k{i % 7} v={i}i {i + 1}" for i in range(10_000))).status == 204
    return srv


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[ServerProc]:
    """Short timeout, low memory limit."""
    srv = start_governed(tmp_path_factory.mktemp("governed"), admin_token, [
        "--query-timeout", f"{TIMEOUT_S}s", "--max-concurrent-queries", "10", "--max-queued-queries", "8",
    ])
    yield srv
    assert srv.stop() == 0, srv.stderr


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> Iterator[ServerProc]:
    """Long timeout, low memory limit, nine slots, no queue."""
    srv = start_governed(tmp_path_factory.mktemp("crowded"), admin_token, [
        "--query-timeout", "120s", "--query-memory-limit", "8MiB", "--query-memory-budget", "1GiB",
        "--max-concurrent-queries", "9", "--max-queued-queries", "0",
    ])
    yield srv
    assert srv.stop() == 0, srv.stderr


@pytest.fixture
def gov(governed: ServerProc) -> Http:
    return Http(governed.url, governed.token)


def records(http: Http, text: str) -> list[dict]:
    sql = "SELECT query_text, status, running, cancelled FROM system.queries"
    return [r for r in http.rows("gov", sql) if r["query_text"] == text]


def open_query(http: Http, token: str, sql: str) -> socket.socket:
    """A query whose client holds the connection until the socket is closed (then it hangs up)."""
    path = "/api/v3/query_sql?" + urllib.parse.urlencode({"db": "gov", "q": sql})
    s = socket.create_connection((http.host, http.port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return s


def in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


def test_timeout_answers_504_and_the_server_keeps_answering(gov: Http):
    sql = SLOW + " AND a.k <> 'k1'"
    runs = [in_thread(lambda: gov.query("gov", sql, timeout=60)) for _ in range(6)]  # more than the old pool
    for t, out in runs:
        t.join(60)
        assert out[0].status == 504, out[0].body
        assert f"within {TIMEOUT_S:g} s" in out[0].json()["error"]
    assert gov.rows("gov", "SELECT 1 AS one") == [{"one": 1}]
    got = records(gov, sql)
    assert len(got) == 6 and all(r["status"] == "timeout" and r["cancelled"] and not r["running"] for r in got)


def test_a_client_that_hangs_up_cancels_its_query(gov: Http, governed: ServerProc):
    sql = SLOW + " AND a.k <> 'k2'"
    with open_query(gov, governed.token, sql):
        wait_until(lambda: any(r["running"] for r in records(gov, sql)), "the query to run", 60)
    wait_until(lambda: [r["status"] for r in records(gov, sql)] == ["cancelled"], "the query to be cancelled", 60)


def flight_client(srv: ServerProc) -> flight.FlightClient:
    m = FLIGHT_LINE.search(srv.stderr)
    assert m, srv.stderr
    return flight.FlightClient(f"grpc+tcp://127.0.0.1:{m.group(2)}")


def flight_get(srv: ServerProc, sql: str, timeout: float | None = None):
    ticket = flight.Ticket(json.dumps({"database": "gov", "sql_query": sql, "query_type": "sql"}).encode())
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {srv.token}".encode())],
                                       timeout=timeout)
    return flight_client(srv).do_get(ticket, options).read_all()


def test_flight_deadline_cancels_the_query_on_the_server(gov: Http, governed: ServerProc):
    sql = SLOW + " AND a.k <> 'k3'"
    with pytest.raises(flight.FlightError):
        flight_get(governed, sql, timeout=0.3)
    wait_until(lambda: [r["status"] for r in records(gov, sql)] == ["cancelled"], "the Flight query cancelled")


def test_flight_query_timeout(gov: Http, governed: ServerProc):
    sql = SLOW + " AND a.k <> 'k4'"
    with pytest.raises(flight.FlightTimedOutError, match="did not finish"):
        flight_get(governed, sql)
    assert [r["status"] for r in records(gov, sql)] == ["timeout"]
    assert flight_get(governed, "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 2000


def test_cross_join_past_the_memory_limit_is_a_clear_error(crowded: ServerProc):
    gov = Http(crowded.url, crowded.token)
    r = gov.query("gov", "SELECT a.v AS x, b.v AS y FROM big a CROSS JOIN big b")  # 100M rows
    assert 400 <= r.status < 600, r.body
    assert f"query exceeded its memory limit of {8 * MiB} bytes" in r.json()["error"]
    assert gov.rows("gov", "SELECT count(*) AS n FROM big") == [{"n": 10_000}]


def test_writes_complete_while_eight_heavy_queries_run_then_503(crowded: ServerProc):
    http = Http(crowded.url, crowded.token)
    sql = SLOW + " AND a.k <> 'k5'"
    heavy = [open_query(http, crowded.token, sql) for _ in range(8)]
    try:
        wait_until(lambda: len([r for r in records(http, sql) if r["running"]]) == 8, "8 queries in flight", 60)
        for i in range(20):
            r = http.write("gov", f"w,k=a v={i}i {i + 1}")
            assert r.status == 204, r.body
        assert http.rows("gov", "SELECT count(*) AS n FROM w") == [{"n": 20}]
        # a ninth heavy query takes the last slot; with no queue the next one is turned away
        heavy.append(open_query(http, crowded.token, sql))
        wait_until(lambda: http.query("gov", "SELECT 1").status == 503, "every slot taken", 60)
        r = http.query("gov", "SELECT 1")
        assert r.status == 503 and int(r.headers["retry-after"]) >= 1, r.body
        assert "too many queries" in r.json()["error"]
    finally:
        for s in heavy:
            s.close()  # the clients hang up: their queries are cancelled
    wait_until(lambda: http.query("gov", "SELECT 1").status == 200, "a free slot again", 60)
    wait_until(lambda: sorted(r["status"] for r in records(http, sql)) == ["cancelled"] * 9,
               "the heavy queries cancelled", 60)
