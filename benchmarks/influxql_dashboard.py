"""Grafana-style InfluxQL dashboard queries: pe vs InfluxDB 1.x on the same data, side by side.

Starts `pe serve` and InfluxDB 1.x (`influxd`, `peers.start_influxdb1`) on loopback in temp dirs
and writes the same line protocol to both (`POST /write?db=bench&precision=s`, bodies of 5,000
lines, a few writers per server): `--rows` rows of `cpu` (default 2,000,000 = 10 M field values)
with tags host (100 hosts) and region (4), fields usage_user, usage_system, usage_idle,
usage_steal (floats) and usage_iowait (integer), one point per host every 10 s ending at the
current minute, so `now()`-relative queries see data. It waits (bounded) until both answer
`SELECT count(usage_user) FROM cpu` with the row count, then for each of the dashboard queries
below: one warm-up request per server, a check that both answers have the same number of
series and rows (a WARN line if not; FAIL if pe answers an error), then `--rounds` rounds of
`GET /query?db=bench&q=...&epoch=ms` in alternating order (pe, 1.x, 1.x, pe, ...), each server
over one keep-alive connection, wall time per request.

Parse + plan time in pe needs no server: `parse_query` per query (median of 200 after a
warm-up), and parse + plan up to the first SQL statement the planner hands to DataFusion
(`run_query` with a schema for cpu and a SQL runner that stops at its first call).

For every query where 1.x is faster, the script splits pe's time: the planner runs in this
process with a SQL runner that sends each SQL statement it generates to pe's
`/api/v3/query_sql` (Parquet answer), timing each statement; the rest is InfluxQL shaping
(filling, splitting into series) here plus, on the server, the v1 JSON encoding. The same SQL
is also timed over `/api/v3/query_sql?format=json`. For the query with the lowest ratio it
records pe with py-spy (if `/work/venv/bin/py-spy` or `py-spy` on PATH exists) while looping
that query: `/tmp/influxql_profile.svg` (flame graph) and a collapsed-stacks file whose top
functions it prints.

    python benchmarks/influxql_dashboard.py                 # 2 M rows (10 M values)
    python benchmarks/influxql_dashboard.py --quick         # 200 k rows, 3 rounds
    python benchmarks/influxql_dashboard.py --rows 500000 --rounds 7 --no-profile

Ends with, per query N (1..12):
    RESULT influxql_q<N>_pe_ms <median> ms        (also ..._pe_min_ms)
    RESULT influxql_q<N>_influx1_ms <median> ms   (also ..._influx1_min_ms)
    RESULT influxql_q<N>_ratio <1.x median / pe median> ratio   (>= 1.0: pe at least as fast)
    RESULT influxql_parse_us_<N> <median> us, influxql_parse_us_max
    RESULT influxql_parse_plan_us_<N> <median> us, influxql_parse_plan_us_max
    RESULT influxql_ratio_min, influxql_ratio_geomean, influxql_queries_below_1
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from _harness import fail, log, read_collapsed, run_main  # noqa: E402

DB = "bench"
LINES_PER_BODY = 5_000
STEP_S = 10
REGIONS = ("us-east", "us-west", "eu-central", "ap-south")

# (label, InfluxQL); q1..q10 are the headline dashboard panels, q11/q12 extras.
QUERIES: list[tuple[str, str]] = [
    ("raw 1h one host",
     "SELECT usage_user, usage_system FROM cpu WHERE host = 'host_7' AND time > now() - 1h"),
    ("mean 1h by 1m fill(null)",
     "SELECT mean(usage_user) FROM cpu WHERE time > now() - 1h GROUP BY time(1m) fill(null)"),
    ("mean 6h by 1m,host fill(previous)",
     "SELECT mean(usage_user) FROM cpu WHERE time > now() - 6h GROUP BY time(1m), host fill(previous)"),
    ("max 1h by 5m,region fill(none)",
     "SELECT max(usage_user) FROM cpu WHERE time > now() - 1h GROUP BY time(5m), region fill(none)"),
    ("SHOW TAG VALUES host",
     "SHOW TAG VALUES FROM cpu WITH KEY = host"),
    ("top 10 points 1h",
     "SELECT top(usage_user, 10) FROM cpu WHERE time > now() - 1h"),
    ("last per host 1h (stat)",
     "SELECT last(usage_user) FROM cpu WHERE time > now() - 1h GROUP BY host"),
    ("count 24h by 1h",
     "SELECT count(usage_user) FROM cpu WHERE time > now() - 24h GROUP BY time(1h)"),
    ("non_negative_derivative 1h by 1m,host",
     "SELECT non_negative_derivative(mean(usage_user), 1s) FROM cpu WHERE time > now() - 1h "
     "GROUP BY time(1m), host"),
    ("p95 3h host=~/host_1.*/ by 10m",
     "SELECT percentile(usage_user, 95) FROM cpu WHERE time > now() - 3h AND host =~ /host_1.*/ "
     "GROUP BY time(10m)"),
    ("top 5 hosts by max (subquery)",
     "SELECT top(max_u, host, 5) FROM (SELECT max(usage_user) AS max_u FROM cpu WHERE time > now() - 1h "
     "GROUP BY host)"),
    ("SHOW FIELD KEYS",
     "SHOW FIELD KEYS FROM cpu"),
]


# --------------------------------------------------------------------------- data
def body_lines(start_row: int, n: int, hosts: int, first_s: int) -> bytes:
    """Rows start_row .. start_row+n-1 of the stream: row r is host r % hosts at
    first_s + (r // hosts) * STEP_S. Values are deterministic in r."""
    out = []
    append = out.append
    for r in range(start_row, start_row + n):
        h = r % hosts
        k = r // hosts
        # cheap deterministic pseudo-random values (a wave per host + a hash wobble)
        x = (r * 2654435761) & 0xFFFFFFFF
        user = 30.0 + 25.0 * math.sin(k / 40.0 + h) + (x % 1000) / 100.0
        system = 5.0 + (x >> 10) % 1500 / 100.0
        idle = max(0.0, 100.0 - user - system)
        append(f"cpu,host=host_{h},region={REGIONS[h % len(REGIONS)]} usage_user={user:.3f},"
               f"usage_system={system:.3f},usage_idle={idle:.3f},usage_iowait={(x >> 20) % 50}i,"
               f"usage_steal={(x % 200) / 100.0:.2f} {first_s + k * STEP_S}")
    return ("\n".join(out) + "\n").encode()


def make_bodies(rows: int, hosts: int, end_s: int) -> list[bytes]:
    times = rows // hosts
    first_s = end_s - (times - 1) * STEP_S
    return [body_lines(lo, min(LINES_PER_BODY, rows - lo), hosts, first_s)
            for lo in range(0, rows, LINES_PER_BODY)]


class Conn:
    """One keep-alive HTTP connection to a server; reconnects if the server closed it."""

    def __init__(self, peer: peers.Peer, timeout: float = 600.0) -> None:
        self.host, self.port, self.timeout = peer.host, peer.port, timeout
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                self.c.request(method, path, body=body)
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError,
                    ConnectionResetError):
                self.c.close()
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.c.close()


def write_all(servers: dict[str, peers.Peer], bodies: list[bytes], writers: int) -> dict[str, float]:
    """Every body to every server, `writers` connections per server, all servers at once."""
    errors: list[str] = []
    elapsed: dict[str, float] = {}

    def one_server(name: str, peer: peers.Peer) -> None:
        nxt = [0]
        lock = threading.Lock()

        def worker() -> None:
            conn = Conn(peer)
            try:
                while not errors:
                    with lock:
                        i = nxt[0]
                        nxt[0] += 1
                    if i >= len(bodies):
                        return
                    status, data = conn.request("POST", f"/write?db={DB}&precision=s", bodies[i])
                    if status // 100 != 2:
                        errors.append(f"{name}: POST /write body {i} -> {status}: {data[:300]!r}")
                        return
            finally:
                conn.close()

        t0 = time.perf_counter()
        ts = [threading.Thread(target=worker) for _ in range(writers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        elapsed[name] = time.perf_counter() - t0

    threads = [threading.Thread(target=one_server, args=(n, p)) for n, p in servers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail(errors[0])
    return elapsed


def query_path(q: str) -> str:
    return "/query?" + urllib.parse.urlencode({"db": DB, "q": q, "epoch": "ms"})


def shape(body: bytes) -> tuple[str | None, int, int]:
    """(error, series, rows) of a v1 answer."""
    try:
        js = json.loads(body)
    except ValueError as e:
        return f"not JSON: {e}: {body[:200]!r}", 0, 0
    if "error" in js:
        return str(js["error"]), 0, 0
    series = rows = 0
    for r in js.get("results", []):
        if "error" in r:
            return str(r["error"]), 0, 0
        for s in r.get("series", []) or []:
            series += 1
            rows += len(s.get("values", []) or [])
    return None, series, rows


def count_of(conn: Conn) -> int | None:
    status, body = conn.request("GET", query_path("SELECT count(usage_user) FROM cpu"))
    if status != 200:
        return None
    try:
        series = json.loads(body)["results"][0].get("series") or []
        return int(series[0]["values"][0][1]) if series else 0
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def wait_for_count(conns: dict[str, Conn], want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: dict[str, int | None] = {}
    while True:
        last = {n: count_of(c) for n, c in conns.items()}
        if all(v == want for v in last.values()):
            log(f"both servers count {want:,} points of usage_user")
            return
        if time.monotonic() > deadline:
            fail(f"count(usage_user) after {timeout:.0f} s: {last} (want {want:,})")
        time.sleep(1.0)


# --------------------------------------------------------------------------- parse + plan
class _Stop(Exception):
    pass


def cpu_schema():
    from pe_engine.influxql.context import FieldKind, MeasurementSchema
    return MeasurementSchema("cpu", ("host", "region"), {
        "usage_user": FieldKind.FLOAT, "usage_system": FieldKind.FLOAT, "usage_idle": FieldKind.FLOAT,
        "usage_iowait": FieldKind.INTEGER, "usage_steal": FieldKind.FLOAT})


class StaticSchema:
    def __init__(self) -> None:
        self._cpu = cpu_schema()

    def databases(self) -> list[str]:
        return [DB]

    def measurements(self, db: str) -> list[str]:
        return ["cpu"] if db == DB else []

    def schema(self, db: str, measurement: str):
        return self._cpu if db == DB and measurement == "cpu" else None

    def tag_values(self, db: str, measurement: str, tag: str):
        return None  # no index here: plan the scan, as a cold server does


def parse_plan_times(reps: int) -> tuple[list[float], list[float]]:
    """Median µs per query: parse alone; parse + plan up to the first SQL statement."""
    from pe_engine.influxql.context import QueryContext
    from pe_engine.influxql.executor import run_query
    from pe_engine.influxql.parser import parse_query

    t0 = time.perf_counter()
    parse_query(QUERIES[0][1])  # builds the grammar once
    log(f"grammar built and first parse in {(time.perf_counter() - t0) * 1000:.0f} ms (not counted)")
    schema = StaticSchema()

    def stop_sql(db: str, sql: str):
        raise _Stop

    parse_us, plan_us = [], []
    for _, q in QUERIES:
        parse_query(q)
        p_ts, pp_ts = [], []
        for i in range(reps + 1):  # interleaved, so drift on a shared machine hits both alike
            t = time.perf_counter_ns()
            parse_query(q)
            p_ts.append((time.perf_counter_ns() - t) / 1000)
            ctx = QueryContext(database=DB, schema=schema, run_sql=stop_sql, now_ns=time.time_ns())
            t = time.perf_counter_ns()
            try:
                run_query(parse_query(q), ctx)
            except _Stop:
                pass
            pp_ts.append((time.perf_counter_ns() - t) / 1000)
        parse_us.append(statistics.median(p_ts[1:]))
        plan_us.append(statistics.median(pp_ts[1:]))
    return parse_us, plan_us


# --------------------------------------------------------------------------- where pe's time goes
def query_seconds(conn: Conn) -> tuple[float, float]:
    """pe's (count, sum) of `pe_http_query_duration_seconds`: time /query and query_sql requests
    spent in the engine (for /query: planning, SQL and shaping; result encoding excluded)."""
    status, body = conn.request("GET", "/metrics")
    count = total = None
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("pe_http_query_duration_seconds_count"):
            count = float(line.split()[-1])
        elif line.startswith("pe_http_query_duration_seconds_sum"):
            total = float(line.split()[-1])
    if status != 200 or count is None or total is None:
        raise RuntimeError(f"/metrics has no pe_http_query_duration_seconds ({status})")
    return count, total


def server_ms(conn: Conn, path: str, reps: int) -> tuple[float, float]:
    """(mean ms pe spent in the engine per request of `path`, from /metrics before and after;
    median wall ms of the same requests)."""
    c0, s0 = query_seconds(conn)
    wall = []
    for _ in range(reps):
        t = time.perf_counter()
        conn.request("GET", path)
        wall.append((time.perf_counter() - t) * 1000)
    c1, s1 = query_seconds(conn)
    return (s1 - s0) / max(1.0, c1 - c0) * 1000, statistics.median(wall)


def sql_breakdown(pe: peers.Peer, q: str, reps: int) -> dict:
    """Where pe's time goes for one InfluxQL query, from pe's own query-time counter:
    /query's time in the engine (plan + SQL + shaping) vs the same SQL statements alone over
    /api/v3/query_sql. The statements come from running the planner here with a SQL runner that
    sends each one to pe (so the SQL is exactly what the server runs, up to now())."""
    import pyarrow.parquet as pq

    from pe_engine.influxql.context import QueryContext
    from pe_engine.influxql.executor import run_query
    from pe_engine.influxql.parser import parse_query

    conn = Conn(pe)
    sqls: list[str] = []

    def remote_sql(db: str, sql: str):
        sqls.append(sql)
        path = "/api/v3/query_sql?" + urllib.parse.urlencode({"db": db, "q": sql, "format": "parquet"})
        status, body = conn.request("GET", path)
        if status != 200:
            raise RuntimeError(f"query_sql -> {status}: {body[:300]!r}")
        return pq.read_table(io.BytesIO(body))

    ctx = QueryContext(database=DB, schema=StaticSchema(), run_sql=remote_sql, now_ns=time.time_ns())
    run_query(parse_query(q), ctx)
    path = query_path(q)
    conn.request("GET", path)
    influxql_ms, wall_ms = server_ms(conn, path, reps)
    per_sql = []
    for sql in sqls:
        sp = "/api/v3/query_sql?" + urllib.parse.urlencode({"db": DB, "q": sql, "format": "parquet"})
        conn.request("GET", sp)
        per_sql.append((sql, server_ms(conn, sp, reps)[0]))
    conn.close()
    return {"wall_ms": wall_ms, "influxql_ms": influxql_ms, "sql_ms": sum(t for _, t in per_sql), "calls": per_sql}


def find_py_spy() -> str | None:
    p = Path(sys.executable).with_name("py-spy")
    if p.exists():
        return str(p)
    p2 = Path("/work/venv/bin/py-spy")
    if p2.exists():
        return str(p2)
    return shutil.which("py-spy")


def profile(pe: peers.Peer, q: str, seconds: int, svg: Path | None, collapsed: Path, top: int = 18) -> None:
    spy = find_py_spy()
    if spy is None:
        log("py-spy not found: no profile (pip install py-spy)")
        return
    stop = threading.Event()
    done = [0]

    def loop() -> None:
        conn = Conn(pe)
        path = query_path(q)
        while not stop.is_set():
            conn.request("GET", path)
            done[0] += 1
        conn.close()

    outputs = ([("flamegraph", svg)] if svg is not None else []) + [("raw", collapsed)]
    for fmt, out in outputs:
        stop.clear()
        done[0] = 0
        th = threading.Thread(target=loop, daemon=True)
        th.start()
        time.sleep(0.3)
        cmd = [spy, "record", "-o", str(out), "--pid", str(pe.pid), "--duration", str(seconds),
               "--format", fmt, "--nonblocking"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        stop.set()
        th.join(timeout=120)
        if r.returncode != 0:
            log(f"py-spy failed ({r.returncode}): {r.stderr.strip()[-500:]}")
            return
        log(f"py-spy {fmt}: {out} ({done[0]} queries while recording)")
    summarize_collapsed(collapsed, top)


IDLE_LEAVES = ("Selector.select (selectors.py", "_worker (concurrent/futures/thread.py", "Condition.wait (threading.py")


def category(frames: list[str]) -> str:
    text = ";".join(frames)
    if "influxql_runner.py" in text:
        return "SQL (governor + DataFusion)"
    if "influxql/subquery.py" in text and "datafusion/" in text:
        return "local DataFusion (subquery)"
    if "influxql/results.py" in text or "json/" in text:
        return "v1 JSON"
    if "pe_engine/influxql/" in text:
        return "InfluxQL parse/plan/shape"
    return "HTTP, event loop, other"


def summarize_collapsed(path: Path, top: int = 18) -> None:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    total = idle = 0
    for frames, c in read_collapsed(path):
        while frames and frames[0].startswith(("process ", "thread ")):
            frames = frames[1:]
        frames = [f for f in frames if f]
        if not frames:  # a thread without Python frames: DataFusion's own worker threads
            total += c
            cats["DataFusion threads (no Python frames)"] += c
            self_c["(native thread, no Python frames)"] += c
            continue
        if any(k in frames[-1] for k in IDLE_LEAVES):
            idle += c
            continue
        total += c
        self_c[frames[-1]] += c
        cats[category(frames)] += c
        for f in set(frames):
            incl[f] += c
    if not total:
        log("profile: no samples")
        return
    log(f"profile: {total} busy samples ({idle} more in idle waits left out: selector, pool workers waiting)")
    log("  split: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in cats.most_common()))
    log("  top by self time:")
    for f, c in self_c.most_common(top):
        log(f"    self {100 * c / total:5.1f}%  {f}")
    log("  top by inclusive time (pe_engine / datafusion / pyarrow frames):")
    shown = 0
    for f, c in incl.most_common():
        if any(k in f for k in ("pe_engine/influxql", "pe_engine/storage", "pe_engine/http/influxql", "datafusion/",
                                "pyarrow", "influxql_runner", "engine.py")):
            log(f"    incl {100 * c / total:5.1f}%  {f}")
            shown += 1
            if shown >= top:
                break


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000, help="cpu rows (5 field values each)")
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="200,000 rows, 3 rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--writers", type=int, default=4, help="concurrent writers per server")
    ap.add_argument("--parse-reps", type=int, default=200)
    ap.add_argument("--count-wait", type=float, default=300.0, help="longest wait for the counts (s)")
    ap.add_argument("--pe-args", default="--wal-flush-interval 100ms --snapshot-every-flushes 100",
                    help="extra `pe serve` arguments")
    ap.add_argument("--no-profile", action="store_true", help="skip py-spy")
    ap.add_argument("--profile-seconds", type=int, default=10)
    ap.add_argument("--only", type=str, default="", help="comma-separated query numbers to run (e.g. 3,5)")
    args = ap.parse_args()
    if args.quick:
        args.rows = min(args.rows, 200_000)
        args.rounds = min(args.rounds, 3)
    rows = args.rows // args.hosts * args.hosts
    selected = [int(x) for x in args.only.split(",") if x.strip()] or list(range(1, len(QUERIES) + 1))

    log(f"influxql_dashboard: {rows:,} rows x 5 fields = {rows * 5:,} field values, {args.hosts} hosts, "
        f"one point per host every {STEP_S} s ({rows // args.hosts * STEP_S / 3600:.1f} h), {args.rounds} rounds")

    # parse + plan first: no server needed, and nothing else is running
    parse_us, plan_us = parse_plan_times(args.parse_reps)
    for i, (label, _) in enumerate(QUERIES):
        log(f"  q{i + 1:<2} parse {parse_us[i]:7.1f} us  parse+plan {plan_us[i]:7.1f} us  {label}")

    end_s = int(time.time()) // 60 * 60
    t = time.perf_counter()
    bodies = make_bodies(rows, args.hosts, end_s)
    log(f"generated {len(bodies)} bodies ({sum(map(len, bodies)) / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s; "
        f"last point at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(end_s))}")

    tmp = peers.make_tmpdir("pe-influxql-dash-")
    influx = peers.start_influxdb1(tmp)
    pe = peers.start_pe(tmp, args.pe_args.split())
    servers = {"pe": pe, "influx1": influx}
    log(f"InfluxDB {influx.info.get('server_version') or influx.version}; pe {pe.version} pid {pe.pid}")
    try:
        elapsed = write_all(servers, bodies, args.writers)
        for n, s in elapsed.items():
            log(f"wrote {rows:,} rows to {n} in {s:.1f} s ({rows / s:,.0f} rows/s, {args.writers} writers, "
                f"both servers at once)")
        del bodies
        conns = {n: Conn(p) for n, p in servers.items()}
        wait_for_count(conns, rows, args.count_wait)

        results: dict[int, dict] = {}
        breakdown: dict[int, dict] = {}
        differ: list[str] = []
        for n in selected:
            label, q = QUERIES[n - 1]
            path = query_path(q)
            # warm-up + shape check: pe, 1.x, pe (a now() boundary may pass between two requests)
            st_pe, b_pe = conns["pe"].request("GET", path)
            st_in, b_in = conns["influx1"].request("GET", path)
            st_pe2, b_pe2 = conns["pe"].request("GET", path)
            e_pe, s_pe, r_pe = shape(b_pe) if st_pe == 200 else (f"HTTP {st_pe}: {b_pe[:300]!r}", 0, 0)
            e_in, s_in, r_in = shape(b_in) if st_in == 200 else (f"HTTP {st_in}: {b_in[:300]!r}", 0, 0)
            if e_pe is not None:
                fail(f"q{n} ({q}): pe answered an error: {e_pe}")
            if e_in is not None:
                log(f"WARN q{n}: InfluxDB 1.x answered an error: {e_in}")
            _, s_pe2, r_pe2 = shape(b_pe2)
            if e_in is None and (s_pe, r_pe) != (s_in, r_in) and (s_pe2, r_pe2) != (s_in, r_in):
                msg = (f"q{n}: pe {s_pe} series / {r_pe} rows, InfluxDB 1.x {s_in} series / {r_in} rows "
                       f"-- {q}")
                log("WARN " + msg)
                differ.append(msg)
            times: dict[str, list[float]] = {"pe": [], "influx1": []}
            for r in range(args.rounds):
                order = ("pe", "influx1") if r % 2 == 0 else ("influx1", "pe")
                for name in order:
                    t = time.perf_counter()
                    status, body = conns[name].request("GET", path)
                    times[name].append((time.perf_counter() - t) * 1000)
                    if name == "pe" and status != 200:
                        fail(f"q{n}: pe -> {status}: {body[:300]!r}")
            res = {"label": label, "q": q, "series": s_pe, "rows": r_pe, "bytes_pe": len(b_pe),
                   "bytes_in": len(b_in)}
            for name in ("pe", "influx1"):
                res[f"{name}_med"] = statistics.median(times[name])
                res[f"{name}_min"] = min(times[name])
            res["ratio"] = res["influx1_med"] / res["pe_med"] if res["pe_med"] > 0 else float("inf")
            results[n] = res
            log(f"q{n:<2} pe {res['pe_med']:8.2f} ms (min {res['pe_min']:.2f})  1.x {res['influx1_med']:8.2f} ms "
                f"(min {res['influx1_min']:.2f})  ratio {res['ratio']:6.2f}  [{s_pe} series, {r_pe} rows, "
                f"{len(b_pe) / 1024:.0f} KiB]  {label}")

        # where pe's time goes, for the queries 1.x answers faster
        slow = sorted((n for n in results if results[n]["ratio"] < 1.0), key=lambda n: results[n]["ratio"])
        for n in slow:
            b = sql_breakdown(pe, results[n]["q"], max(5, args.rounds))
            b["shape_ms"] = b["influxql_ms"] - b["sql_ms"]
            b["rest_ms"] = b["wall_ms"] - b["influxql_ms"]
            breakdown[n] = b
            sub = " (incl. the outer statement over the subquery's table)" if "FROM (" in results[n]["q"] else ""
            log(f"q{n} where pe's time goes: /query {b['wall_ms']:.2f} ms wall = in the engine "
                f"{b['influxql_ms']:.2f} ms [SQL {b['sql_ms']:.2f} ms in {len(b['calls'])} statement(s) + InfluxQL "
                f"planning/shaping {b['shape_ms']:.2f} ms{sub}] + HTTP, parse, v1 JSON {b['rest_ms']:.2f} ms")
            for sql, ms in b["calls"]:
                log(f"    SQL {ms:7.2f} ms: {sql}")
        if slow and not args.no_profile:
            worst = slow[0]
            log(f"profiling pe on q{worst} ({results[worst]['label']}) for {args.profile_seconds} s")
            profile(pe, results[worst]["q"], args.profile_seconds, Path("/tmp/influxql_profile.svg"),
                    Path("/tmp/influxql_profile.collapsed.txt"))
            for n in slow[1:]:
                secs = max(3, args.profile_seconds // 2)
                log(f"profiling pe on q{n} ({results[n]['label']}) for {secs} s")
                profile(pe, results[n]["q"], secs, None, Path(f"/tmp/influxql_profile_q{n}.collapsed.txt"), top=8)
        for c in conns.values():
            c.close()
    finally:
        pe.stop()
        influx.stop()

    log("")
    log(f"{'query':<44} {'pe ms':>9} {'1.x ms':>9} {'ratio':>7}   "
        "(ratio < 1: pe's SQL / InfluxQL plan+shape / HTTP+parse+JSON ms)")
    for n, res in results.items():
        extra = ""
        if n in breakdown:
            b = breakdown[n]
            extra = f"   {b['sql_ms']:.2f} / {b['shape_ms']:.2f} / {b['rest_ms']:.2f}"
        log(f"q{n:<3}{res['label']:<40} {res['pe_med']:9.2f} {res['influx1_med']:9.2f} {res['ratio']:7.2f}{extra}")
    if differ:
        log("answers that differed in series/rows:")
        for d in differ:
            log("  " + d)
    for n, res in results.items():
        print(f"RESULT influxql_q{n}_pe_ms {res['pe_med']:.2f} ms")
        print(f"RESULT influxql_q{n}_pe_min_ms {res['pe_min']:.2f} ms")
        print(f"RESULT influxql_q{n}_influx1_ms {res['influx1_med']:.2f} ms")
        print(f"RESULT influxql_q{n}_influx1_min_ms {res['influx1_min']:.2f} ms")
        print(f"RESULT influxql_q{n}_ratio {res['ratio']:.3f} ratio")
    ratios = [res["ratio"] for res in results.values()]
    if ratios:
        print(f"RESULT influxql_ratio_min {min(ratios):.3f} ratio")
        print(f"RESULT influxql_ratio_geomean {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f} ratio")
        print(f"RESULT influxql_queries_below_1 {sum(r < 1.0 for r in ratios)} queries")
    print(f"RESULT influxql_answers_differing {len(differ)} queries")
    for i in range(len(QUERIES)):
        print(f"RESULT influxql_parse_us_{i + 1} {parse_us[i]:.1f} us")
    print(f"RESULT influxql_parse_us_max {max(parse_us):.1f} us")
    for i in range(len(QUERIES)):
        print(f"RESULT influxql_parse_plan_us_{i + 1} {plan_us[i]:.1f} us")
    print(f"RESULT influxql_parse_plan_us_max {max(plan_us):.1f} us")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    run_main(main)
