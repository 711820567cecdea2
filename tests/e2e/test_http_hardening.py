"""A real `pe serve` on loopback against clients that hold sockets: silent ones, ones that never
finish their headers or their body, more of them than the connection limit, and more than the
process has file descriptors for. The server closes what it must, keeps answering new clients,
and its log stays a few lines long."""
from __future__ import annotations

import http.client
import resource
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.servers import ServerProc, start_server

EOF_WAIT = 20.0  # a bound for "the server closed it", never a timing claim
LOG_LINES_MAX = 40  # start-up and shutdown lines are ~10; a flood would be thousands


def launch(data_dir: Path, extra: list[str], nofile: int | None = None) -> ServerProc:
    """`pe serve` with auth and Flight off; `nofile` lowers its open-files limit (set in the child)."""

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return start_server(data_dir, None, ["--without-auth", "--without-flight", *extra], preexec_fn=limit)


# One server for the tests of limits (each test leaves it with no connection of its own open).
LIMITED = ["--http-max-connections", "50", "--http-header-timeout", "1s", "--http-keepalive-timeout", "1s",
           "--http-body-timeout", "1s", "--http-max-keepalive-requests", "3"]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    srv = launch(tmp_path_factory.mktemp("limited") / "data", LIMITED)
    yield srv
    srv.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProc]]:
    started: list[ServerProc] = []

    def make(extra: list[str], nofile: int | None = None) -> ServerProc:
        srv = launch(tmp_path / f"data{len(started)}", extra, nofile)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def address(srv: ServerProc) -> tuple[str, int]:
    u = urllib.parse.urlsplit(srv.url)
    assert u.hostname and u.port
    return u.hostname, u.port


def open_sockets(srv: ServerProc, n: int, first_bytes: bytes = b"") -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(address(srv), timeout=EOF_WAIT)
        if first_bytes:
            s.sendall(first_bytes)
        out.append(s)
    return out


def closed_by_server(s: socket.socket) -> bool:
    """True once the server has closed `s` (EOF or reset); False if it is still open after EOF_WAIT."""
    s.settimeout(EOF_WAIT)
    try:
        while s.recv(65536):  # a response (a 408) may come before the close
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


def health(srv: ServerProc, timeout: float = EOF_WAIT) -> int:
    host, port = address(srv)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    finally:
        conn.close()


def assert_quiet_log(srv: ServerProc) -> None:
    assert len(srv.stderr_lines) < LOG_LINES_MAX, "".join(srv.stderr_lines[-60:])
    assert "Traceback" not in srv.stderr, srv.stderr[-4000:]


def test_silent_trickling_and_idle_connections_are_closed(limited: ServerProc) -> None:
    srv = limited
    silent = open_sockets(srv, 20)
    partial = open_sockets(srv, 5, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    kept = socket.create_connection(address(srv), timeout=EOF_WAIT)
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert kept.recv(65536).startswith(b"HTTP/1.1 200")  # then it idles on a kept-alive connection
    assert health(srv) == 200
    still_open = [s for s in [*silent, *partial, kept] if not closed_by_server(s)]
    assert not still_open, f"{len(still_open)} connections were not closed"
    assert health(srv) == 200
    assert_quiet_log(srv)


def test_more_idle_sockets_than_the_limit(limited: ServerProc) -> None:
    srv = limited
    idle = open_sockets(srv, 260)
    assert health(srv) == 200  # a new client is served while 260 sockets are held
    still_open = [s for s in idle if not closed_by_server(s)]
    assert not still_open, f"{len(still_open)} of 260 idle connections were not closed"
    assert health(srv) == 200
    assert_quiet_log(srv)


def test_out_of_file_descriptors_backs_off_with_one_log_line(serve) -> None:
    # A limit above what the process's 160 descriptors allow: accept itself runs out (EMFILE).
    srv = serve(["--http-max-connections", "1000", "--http-header-timeout", "1s"], nofile=160)
    idle = open_sockets(srv, 300)
    assert health(srv) == 200
    still_open = [s for s in idle if not closed_by_server(s)]
    assert not still_open, f"{len(still_open)} of 300 idle connections were not closed"
    assert health(srv) == 200
    emfile = [line for line in srv.stderr_lines if "cannot accept connections" in line]
    assert 1 <= len(emfile) <= 2, emfile  # out of descriptors it was, and said so once a minute at most
    assert "Too many open files" in emfile[0]
    assert_quiet_log(srv)


def test_a_stalled_body_gets_408(limited: ServerProc) -> None:
    srv = limited
    s = socket.create_connection(address(srv), timeout=EOF_WAIT)
    s.sendall(b"POST /api/v3/write_lp?db=stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nstall v=1")
    head = s.recv(65536)
    s.close()
    assert head.startswith(b"HTTP/1.1 408"), head
    assert health(srv) == 200
    assert_quiet_log(srv)


def test_keepalive_connection_serves_a_bounded_number_of_requests(limited: ServerProc) -> None:
    srv = limited
    host, port = address(srv)
    conn = http.client.HTTPConnection(host, port, timeout=EOF_WAIT)
    try:
        said = []
        for _ in range(3):
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            said.append((r.status, (r.getheader("Connection") or "").lower()))
        assert [status for status, _ in said] == [200, 200, 200], said
        assert [c == "close" for _, c in said] == [False, False, True], said
    finally:
        conn.close()
    assert_quiet_log(srv)
