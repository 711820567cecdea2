"""Fetching 1,000,000 rows: Arrow Flight vs /api/v3/query_sql (JSON and Parquet).

Starts `pe serve` (fresh temp dir, loopback, free ports, auth on), writes 1,000,000 cpu rows
(1,000 hosts, 10 regions, 3 float fields, 1 integer field) over HTTP, then fetches
`SELECT * FROM cpu` three ways, each one warm-up then best of 3, timing until the data is usable
in Python:

- Flight: the official client, `InfluxDBClient3(..., query_port_overwrite=<flight port>).query()`
          -> pyarrow.Table;
- JSON:   GET /api/v3/query_sql?format=json, body read and `json.loads` -> list of dicts;
- Parquet: GET /api/v3/query_sql?format=parquet, body read and `pq.read_table` -> pyarrow.Table.

Row counts are checked. Ratios are HTTP time / Flight time (how many times faster Flight is).

    python benchmarks/flight_vs_http.py [--rows N]

Ends with:
    RESULT flight_fetch_ms <ms> ms
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
FLIGHT = re.compile(r"Arrow Flight queries on grpc\+tcp://\S+:(\d+)")
SQL = "SELECT * FROM cpu"
BODY = 50_000


def start(data_dir: Path, token: str) -> tuple[subprocess.Popen, int, int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PE_", "INFLUXDB3_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pe_engine.cli", "serve", "--data-dir", str(data_dir), "--http-bind", "127.0.0.1:0",
         "--admin-token", token, "--wal-flush-interval", "100ms"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found: dict[str, int] = {}
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if m := FLIGHT.search(line):
                found["flight"] = int(m.group(1))
            if m := READY.search(line):
                found["http"] = int(m.group(2))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    ready.wait(60)
    if "http" not in found or "flight" not in found:
        proc.kill()
        raise SystemExit("FAIL: pe serve did not start with Flight:\n" + "".join(lines))
    return proc, found["http"], found["flight"], lines


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


def main(rows: int) -> int:
    from influxdb_client_3 import InfluxDBClient3

    tmp = Path(tempfile.mkdtemp(prefix="pe-flight-bench-"))
    token = "apiv3_bench_" + secrets.token_urlsafe(16)
    proc = None
    try:
        proc, hport, fport, _ = start(tmp / "data", token)
        rnd = random.Random(5)
        t0 = time.time_ns() - rows * 1000
        w = time.perf_counter()
        for base in range(0, rows, BODY):
            body = "\n".join(
                f"cpu,host=host-{h:04d},region=r{h % 10} usage_user={rnd.random() * 100:.3f},"
                f"usage_system={rnd.random() * 100:.3f},usage_idle={rnd.random() * 100:.3f},n={rnd.randrange(1000)}i "
                f"{t0 + (base + i) * 1000}"
                for i, h in ((i, rnd.randrange(1000)) for i in range(min(BODY, rows - base))))
            request(hport, token, "POST", "/api/v3/write_lp?db=bench", body.encode())
        print(f"wrote {rows:,} rows in {time.perf_counter() - w:.1f} s")

        client = InfluxDBClient3(host=f"http://127.0.0.1:{hport}", token=token, database="bench",
                                 query_port_overwrite=fport)
        q = urllib.parse.quote(SQL)
        counts: dict[str, int] = {}

        def flight() -> None:
            counts["flight"] = client.query(SQL).num_rows

        def as_json() -> None:
            counts["json"] = len(json.loads(request(hport, token, "GET", f"/api/v3/query_sql?db=bench&q={q}&format=json")))

        def as_parquet() -> None:
            data = request(hport, token, "GET", f"/api/v3/query_sql?db=bench&q={q}&format=parquet")
            counts["parquet"] = pq.read_table(io.BytesIO(data)).num_rows

        f_ms = best("flight", flight)
        j_ms = best("json", as_json)
        p_ms = best("parquet", as_parquet)
        if set(counts.values()) != {rows}:
            print(f"FAIL: row counts {counts}, expected {rows}")
            return 1
        client.close()
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"RESULT flight_fetch_ms {f_ms:.1f} ms")
    print(f"RESULT http_json_fetch_ms {j_ms:.1f} ms")
    print(f"RESULT http_parquet_fetch_ms {p_ms:.1f} ms")
    print(f"RESULT flight_vs_http_json_ratio {j_ms / f_ms:.1f} ratio")
    print(f"RESULT flight_vs_http_parquet_ratio {p_ms / f_ms:.1f} ratio")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    sys.exit(main(ap.parse_args().rows))
