"""Fetching 1,000,000 rows: Arrow Flight (one port and its own port), Flight SQL, /api/v3/query_sql.

Starts `pe serve` (fresh temp dir, loopback, free ports, auth on) with `--flight-bind` so Flight
is served both on the HTTP port (relayed, the default) and on a listener of its own, writes
1,000,000 cpu rows (1,000 hosts, 10 regions, 3 float fields, 1 integer field) over HTTP, then
fetches `SELECT * FROM cpu` these ways, each one warm-up then best of 3, timing until the data is
usable in Python:

- Flight: the official client with its defaults, `InfluxDBClient3(host, token, database).query()`
          -> pyarrow.Table, through the HTTP port;
- Flight direct: the same with `query_port_overwrite=<the --flight-bind port>` (no relay);
- Flight SQL: ADBC (`adbc_driver_flightsql`) on the HTTP port, `fetch_arrow_table()`;
- JSON:   GET /api/v3/query_sql?format=json, body read and `json.loads` -> list of dicts;
- Parquet: GET /api/v3/query_sql?format=parquet, body read and `pq.read_table` -> pyarrow.Table.

Then what the multiplexing costs writes: the same 200,000 rows written to this server and to one
started with `--without-flight` (no protocol sniffing), alternately, 3 rounds, best rows/s each.

Row counts are checked. Ratios are HTTP time / Flight time (how many times faster Flight is);
`flight_one_port_vs_direct_ratio` is one-port time / separate-listener time (the relay's cost).

    python benchmarks/flight_vs_http.py [--rows N]

Ends with:
    RESULT flight_fetch_ms <ms> ms
    RESULT flight_direct_fetch_ms <ms> ms
    RESULT flight_one_port_vs_direct_ratio <x> ratio
    RESULT flightsql_adbc_fetch_ms <ms> ms
    RESULT write_rows_per_s_one_port <n> rows/s
    RESULT write_rows_per_s_without_flight <n> rows/s
    RESULT http_json_fetch_ms <ms> ms
    RESULT http_parquet_fetch_ms <ms> ms
    RESULT flight_vs_http_json_ratio <x> ratio
    RESULT flight_vs_http_parquet_ratio <x> ratio
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"pe serving on http://([\d.]+):(\d+)")
EXTRA = re.compile(r"Arrow Flight queries also on grpc\+tcp://\S+:(\d+)")
SQL = "SELECT * FROM cpu"
BODY = 50_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data_dir: Path, token: str, extra: list[str]) -> tuple[subprocess.Popen, int, int | None, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PE_", "INFLUXDB3_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pe_engine.cli", "serve", "--data-dir", str(data_dir), "--http-bind", "127.0.0.1:0",
         "--admin-token", token, "--wal-flush-interval", "100ms", *extra],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found: dict[str, int] = {}
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if m := EXTRA.search(line):
                found["flight"] = int(m.group(1))
            if m := READY.search(line):
                found["http"] = int(m.group(2))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    ready.wait(60)
    if "http" not in found or ("--flight-bind" in extra and "flight" not in found):
        proc.kill()
        raise SystemExit("FAIL: pe serve did not start as asked:\n" + "".join(lines))
    return proc, found["http"], found.get("flight"), lines


def request(port: int, token: str, method: str, path: str, body: bytes | None = None) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status // 100 != 2:
            raise SystemExit(f"FAIL: {method} {path[:60]} -> {resp.status}: {data[:300]!r}")
        return data
    finally:
        conn.close()


def best(label: str, fn, n: int = 3) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    print(f"{label:<10} best of {n}: {min(times):9.1f} ms   (all: {', '.join(f'{x:.0f}' for x in times)})")
    return min(times)


def lp(rnd: random.Random, t0: int, base: int, n: int) -> bytes:
    return "\n".join(
        f"cpu,host=host-{h:04d},region=r{h % 10} usage_user={rnd.random() * 100:.3f},"
        f"usage_system={rnd.random() * 100:.3f},usage_idle={rnd.random() * 100:.3f},n={rnd.randrange(1000)}i "
        f"{t0 + (base + i) * 1000}"
        for i, h in ((i, rnd.randrange(1000)) for i in range(n))).encode()


def write_all(port: int, token: str, db: str, bodies: list[bytes]) -> None:
    for body in bodies:
        request(port, token, "POST", f"/api/v3/write_lp?db={db}", body)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(rows: int) -> int:
    import adbc_driver_flightsql.dbapi as adbc
    from influxdb_client_3 import InfluxDBClient3

    tmp = Path(tempfile.mkdtemp(prefix="pe-flight-bench-"))
    token = "apiv3_bench_" + secrets.token_urlsafe(16)
    proc = plain = None
    try:
        proc, hport, fport, _ = start(tmp / "data", token, ["--flight-bind", f"127.0.0.1:{free_port()}"])
        assert fport is not None
        rnd = random.Random(5)
        t0 = time.time_ns() - rows * 1000
        w = time.perf_counter()
        for base in range(0, rows, BODY):
            request(hport, token, "POST", "/api/v3/write_lp?db=bench", lp(rnd, t0, base, min(BODY, rows - base)))
        print(f"wrote {rows:,} rows in {time.perf_counter() - w:.1f} s")

        client = InfluxDBClient3(host=f"http://127.0.0.1:{hport}", token=token, database="bench")
        direct = InfluxDBClient3(host=f"http://127.0.0.1:{hport}", token=token, database="bench",
                                 query_port_overwrite=fport)
        conn = adbc.connect(f"grpc://127.0.0.1:{hport}", db_kwargs={
            "adbc.flight.sql.rpc.call_header.database": "bench",
            "adbc.flight.sql.authorization_header": f"Bearer {token}"})
        q = urllib.parse.quote(SQL)
        counts: dict[str, int] = {}

        def flight() -> None:
            counts["flight"] = client.query(SQL).num_rows

        def flight_direct() -> None:
            counts["direct"] = direct.query(SQL).num_rows

        def flightsql() -> None:
            with conn.cursor() as cur:
                cur.execute(SQL)
                counts["flightsql"] = cur.fetch_arrow_table().num_rows

        def as_json() -> None:
            counts["json"] = len(json.loads(request(hport, token, "GET", f"/api/v3/query_sql?db=bench&q={q}&format=json")))

        def as_parquet() -> None:
            data = request(hport, token, "GET", f"/api/v3/query_sql?db=bench&q={q}&format=parquet")
            counts["parquet"] = pq.read_table(io.BytesIO(data)).num_rows

        f_ms = best("flight", flight)
        d_ms = best("direct", flight_direct)
        s_ms = best("flightsql", flightsql)
        j_ms = best("json", as_json)
        p_ms = best("parquet", as_parquet)
        if set(counts.values()) != {rows}:
            print(f"FAIL: row counts {counts}, expected {rows}")
            return 1
        client.close()
        direct.close()
        conn.close()

        # writes: sniffing on (this server) vs off (--without-flight), alternately
        plain, pport, _, _ = start(tmp / "plain", token, ["--without-flight"])
        n_write = min(rows, 200_000)
        wrnd = random.Random(9)
        bodies = [lp(wrnd, t0, b, min(BODY // 5, n_write - b)) for b in range(0, n_write, BODY // 5)]
        rates: dict[str, list[float]] = {"one_port": [], "without_flight": []}
        for r in range(3):
            for name, port in (("one_port", hport), ("without_flight", pport)):
                t = time.perf_counter()
                write_all(port, token, f"w{r}", bodies)
                rates[name].append(n_write / (time.perf_counter() - t))
        for name, xs in rates.items():
            print(f"writes {name:<15} {', '.join(f'{x:,.0f}' for x in xs)} rows/s")
    finally:
        stop(proc)
        stop(plain)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"RESULT flight_fetch_ms {f_ms:.1f} ms")
    print(f"RESULT flight_direct_fetch_ms {d_ms:.1f} ms")
    print(f"RESULT flight_one_port_vs_direct_ratio {f_ms / d_ms:.2f} ratio")
    print(f"RESULT flightsql_adbc_fetch_ms {s_ms:.1f} ms")
    print(f"RESULT http_json_fetch_ms {j_ms:.1f} ms")
    print(f"RESULT http_parquet_fetch_ms {p_ms:.1f} ms")
    print(f"RESULT flight_vs_http_json_ratio {j_ms / f_ms:.1f} ratio")
    print(f"RESULT flight_vs_http_parquet_ratio {p_ms / f_ms:.1f} ratio")
    print(f"RESULT write_rows_per_s_one_port {max(rates['one_port']):,.0f} rows/s")
    print(f"RESULT write_rows_per_s_without_flight {max(rates['without_flight']):,.0f} rows/s")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    sys.exit(main(ap.parse_args().rows))
