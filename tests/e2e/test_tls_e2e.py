"""TLS on the one port, against a real `pe serve` with a self-signed certificate made here:
influxdb3-python (HTTP writes and gRPC queries), curl, the `pe` CLI, clients that speak the wrong
protocol, the minimum version, and bad certificate files at start-up."""
from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pyarrow.flight as flight
import pytest
from influxdb_client_3 import InfluxDBClient3

from support.servers import ServerProc

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return crt, key


@pytest.fixture
def tls_server(server_factory, admin_token, tmp_path, cert) -> ServerProc:
    crt, key = cert
    return server_factory(tmp_path / "tls", admin_token, ["--tls-cert", str(crt), "--tls-key", str(key)])


def _port(srv: ServerProc) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def _pe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pe_engine.cli", *args], capture_output=True, text=True, timeout=60)


def test_the_official_client_writes_and_queries_over_tls(tls_server: ServerProc, cert, unique_db: str):
    assert tls_server.url.startswith("https://")
    assert "Arrow Flight queries on grpc+tls://" in tls_server.stderr
    crt, _ = cert
    with InfluxDBClient3(host=tls_server.url, token=tls_server.token, database=unique_db,
                         ssl_ca_cert=str(crt)) as c:
        c.write(record="cpu,host=a usage=1.5 1")
        got = c.query("SELECT host, usage FROM cpu WHERE usage > $min", query_parameters={"min": 1})
        assert got.to_pylist() == [{"host": "a", "usage": 1.5}]
    # the same gRPC over TLS from pyarrow, with the CA given as bytes
    fc = flight.FlightClient(f"grpc+tls://127.0.0.1:{_port(tls_server)}", tls_root_certs=crt.read_bytes())
    ticket = flight.Ticket(json.dumps({"database": unique_db, "sql_query": "SELECT count(*) AS n FROM cpu",
                                       "query_type": "sql"}).encode())
    opts = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {tls_server.token}".encode())])
    assert fc.do_get(ticket, opts).read_all().column("n").to_pylist() == [1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_with_the_ca(tls_server: ServerProc, cert, unique_db: str):
    crt, _ = cert
    base = tls_server.url
    health = subprocess.run(["curl", "-sS", "--cacert", str(crt), f"{base}/health"],
                            capture_output=True, text=True, timeout=30)
    assert health.returncode == 0 and health.stdout.strip() == "OK", health.stderr
    auth = ["-H", f"Authorization: Bearer {tls_server.token}"]
    wrote = subprocess.run(["curl", "-sS", "--cacert", str(crt), *auth, "--data-binary", "m v=7i 1",
                            f"{base}/api/v3/write_lp?db={unique_db}"], capture_output=True, text=True, timeout=30)
    assert wrote.returncode == 0, wrote.stderr
    q = subprocess.run(["curl", "-sS", "--cacert", str(crt), *auth, "--get", "--data-urlencode",
                        "q=SELECT v FROM m", f"{base}/api/v3/query_sql?db={unique_db}"],
                       capture_output=True, text=True, timeout=30)
    assert json.loads(q.stdout) == [{"v": 7}], q.stdout + q.stderr
    # without the CA curl refuses the self-signed certificate
    refused = subprocess.run(["curl", "-sS", f"{base}/health"], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0


def test_the_pe_cli_with_tls_ca_and_no_verify(tls_server: ServerProc, cert, unique_db: str):
    crt, _ = cert
    common = ["--host", tls_server.url, "--token", tls_server.token or "", "-d", unique_db]
    w = _pe("write", *common, "--tls-ca", str(crt), "m v=1i 1")
    assert w.returncode == 0, w.stderr
    q = _pe("query", *common, "--tls-no-verify", "--format", "json", "SELECT v FROM m")
    assert q.returncode == 0 and json.loads(q.stdout) == [{"v": 1}], q.stderr
    bad = _pe("query", *common, "SELECT v FROM m")  # neither: the system's CAs do not know it
    assert bad.returncode != 0 and "--tls-ca" in bad.stderr, bad.stderr


def test_wrong_protocols_fail_clearly_and_the_server_goes_on(tls_server: ServerProc, cert, server_factory,
                                                            admin_token, tmp_path):
    crt, _ = cert
    port = _port(tls_server)
    # plain HTTP to the TLS port: the connection ends, the server logs one line
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 200")
    # TLS to a plain port: the handshake fails on the client with an SSL error
    plain = server_factory(tmp_path / "plain", admin_token, [])
    ctx = ssl.create_default_context(cafile=str(crt))
    with socket.create_connection(("127.0.0.1", _port(plain)), timeout=10) as s:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    # and both servers still answer
    ok = ssl.create_default_context(cafile=str(crt))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, \
            ok.wrap_socket(s, server_hostname="127.0.0.1") as t:
        t.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert t.recv(100).startswith(b"HTTP/1.1 200")
    assert "TLS handshake with a client failed" in tls_server.stderr


def test_minimum_version_refuses_an_older_client(server_factory, admin_token, tmp_path, cert):
    crt, key = cert
    srv = server_factory(tmp_path / "v13", admin_token, ["--tls-cert", str(crt), "--tls-key", str(key),
                                                         "--tls-minimum-version", "tls-1.3"])
    old = ssl.create_default_context(cafile=str(crt))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", _port(srv)), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(s, server_hostname="127.0.0.1")
    new = ssl.create_default_context(cafile=str(crt))
    with socket.create_connection(("127.0.0.1", _port(srv)), timeout=10) as s, \
            new.wrap_socket(s, server_hostname="127.0.0.1") as t:
        assert t.version() == "TLSv1.3"


def test_bad_certificate_settings_stop_the_start_with_one_clear_line(tmp_path, cert):
    crt, key = cert
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (["--tls-cert", str(crt)], "needs both --tls-cert and --tls-key"),
        (["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(key)], "certificate file not found"),
        (["--tls-cert", str(garbage), "--tls-key", str(key)], "cannot use the TLS certificate"),
    ]
    for extra, message in cases:
        r = _pe("serve", "--data-dir", str(tmp_path / "d"), "--http-bind", "127.0.0.1:0", "--without-auth", *extra)
        assert r.returncode == 1, r.stderr
        assert message in r.stderr, r.stderr
