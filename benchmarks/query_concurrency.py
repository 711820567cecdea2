"""Queries of one database side by side, and what they do to ingest.

Starts `pe serve` (fresh temp dir, loopback, free port, auth on), writes `--rows` cpu points
(1,000 hosts, 10 regions, 3 float fields) over HTTP into one database, then runs
`SELECT host, avg(usage_user), max(usage_system) FROM cpu GROUP BY host` over
/api/v3/query_sql for `--seconds` with 1 client, then with `--clients` clients at once (each
sends its next query when its answer is read). Throughput is queries answered per second; the
ratio is N clients over 1 client. During the N-client phase one writer sends a 100-line body
every 20 ms and records each write's latency (acknowledged after the WAL fsync): its p50/p99
next to the same writer's with no query running.

    python benchmarks/query_concurrency.py [--rows 1000000] [--clients 8] [--seconds 15]

Ends with:
    RESULT query_concurrency_1_client_qps <q/s> q/s
    RESULT query_concurrency_n_clients_qps <q/s> q/s
    RESULT query_concurrency_ratio <x> ratio
    RESULT query_concurrency_ingest_p50_ms <ms> ms
    RESULT query_concurrency_ingest_p99_ms <ms> ms
    RESULT query_concurrency_ingest_idle_p99_ms <ms> ms
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"pe serving on http://([\d.]+):(\d+)")
SQL = "SELECT host, avg(usage_user) AS u, max(usage_system) AS s FROM cpu GROUP BY host"
BODY = 50_000


def start(data_dir: Path, token: str) -> tuple[subprocess.Popen, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PE_", "INFLUXDB3_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pe_engine.cli", "serve", "--data-dir", str(data_dir), "--http-bind", "127.0.0.1:0",
         "--admin-token", token, "--wal-flush-interval", "10ms", "--without-flight"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict[str, int] = {}
    ready = threading.Event()
    lines: list[str] = []

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if m := READY.search(line):
                found["http"] = int(m.group(2))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    ready.wait(60)
    if "http" not in found:
        proc.kill()
        raise SystemExit("FAIL: pe serve did not start:\n" + "".join(lines))
    return proc, found["http"]


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


def query_phase(port: int, token: str, clients: int, seconds: float) -> float:
    """Queries per second with `clients` closed-loop clients."""
    path = "/api/v3/query_sql?" + urllib.parse.urlencode({"db": "bench", "q": SQL, "format": "json"})
    done = [0] * clients
    end = time.monotonic() + seconds

    def client(k: int) -> None:
        while time.monotonic() < end:
            request(port, token, "GET", path)
            done[k] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - t0)


def writer(port: int, token: str, stop: threading.Event, out: list[float]) -> None:
    n = 0
    while not stop.is_set():
        t = time.perf_counter()
        base = time.time_ns()
        body = "\n".join(f"ingest,w=a v={n + i}i {base + i}" for i in range(100))
        request(port, token, "POST", "/api/v3/write_lp?db=bench", body.encode())
        out.append((time.perf_counter() - t) * 1000)
        n += 100
        time.sleep(0.02)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pe-qconc-bench-"))
    token = "apiv3_bench_" + secrets.token_urlsafe(16)
    proc = None
    try:
        proc, port = start(tmp / "data", token)
        rnd = random.Random(7)
        t0 = time.time_ns() - args.rows * 1000
        w = time.perf_counter()
        for base in range(0, args.rows, BODY):
            body = "\n".join(
                f"cpu,host=host-{h:04d},region=r{h % 10} usage_user={rnd.random() * 100:.3f},"
                f"usage_system={rnd.random() * 100:.3f},usage_idle={rnd.random() * 100:.3f} {t0 + (base + i) * 1000}"
                for i, h in ((i, rnd.randrange(1000)) for i in range(min(BODY, args.rows - base))))
            request(port, token, "POST", "/api/v3/write_lp?db=bench", body.encode())
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - w:.1f} s", flush=True)
        query_phase(port, token, 1, 2.0)  # warm-up: decoded files, dedup checks

        idle: list[float] = []
        stop = threading.Event()
        wt = threading.Thread(target=writer, args=(port, token, stop, idle))
        wt.start()
        time.sleep(min(5.0, args.seconds / 2))
        stop.set()
        wt.join()

        one = query_phase(port, token, 1, args.seconds)
        print(f"1 client : {one:.2f} queries/s", flush=True)
        lat: list[float] = []
        stop = threading.Event()
        wt = threading.Thread(target=writer, args=(port, token, stop, lat))
        wt.start()
        many = query_phase(port, token, args.clients, args.seconds)
        stop.set()
        wt.join()
        print(f"{args.clients} clients: {many:.2f} queries/s; {len(lat)} writes during it, "
              f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms (idle p99 {pct(idle, 99):.1f} ms)", flush=True)
        print(f"RESULT query_concurrency_1_client_qps {one:.2f} q/s")
        print(f"RESULT query_concurrency_n_clients_qps {many:.2f} q/s")
        print(f"RESULT query_concurrency_ratio {many / one:.2f} ratio")
        print(f"RESULT query_concurrency_ingest_p50_ms {pct(lat, 50):.1f} ms")
        print(f"RESULT query_concurrency_ingest_p99_ms {pct(lat, 99):.1f} ms")
        print(f"RESULT query_concurrency_ingest_idle_p99_ms {pct(idle, 99):.1f} ms")
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
