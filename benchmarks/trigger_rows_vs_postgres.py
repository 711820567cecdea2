"""Per-row cost of handing a 100,000-row write batch to a plugin that sums one field:
pe WAL trigger vs PostgreSQL 15 AFTER INSERT ... FOR EACH STATEMENT trigger in PL/Python.

pe (in-process Engine, same run): one `write_lp` of 100,000 cpu lines (lpgen.py: 3 tags,
5 fields) -> one WAL flush -> one activation of a `table:cpu` trigger. Two plugins, run
one after the other (never at the same time):
  rows   plugins/sum_rows.py:  sum(r["usage_user"] for r in tb["rows"])   (InfluxDB 3 style;
         `rows` is built lazily by pe_engine.processing.py_api.batch_to_rows on first access)
  arrow  plugins/sum_arrow.py: pyarrow.compute.sum(tb["arrow"].column("usage_user"))
Cost = the activation's run_time (worker started -> plugin returned: executor set-up, module
exec, rows/Arrow hand-over, the sum) / rows. The dispatch latency (job created -> worker
started) and the time spent inside the plugin function are printed too.

PostgreSQL 15 (benchmarks/peers.py start_postgres, fsync=on): one psql session runs
`INSERT INTO <t> SELECT * FROM src` (100,000 rows, same 9 columns) into a table without a
trigger and into tables with a statement trigger `REFERENCING NEW TABLE AS new_rows`, in
rotating order, TRUNCATE before each, several repetitions. Trigger cost = INSERT time with
the trigger - without, / rows. Trigger bodies (PL/Python, plpy.execute over new_rows):
  star  rows = plpy.execute("SELECT * FROM new_rows"); sum(r["usage_user"] for r in rows)
        (every column of every row as a Python dict, like pe's `rows`)  <- the headline
  col   rows = plpy.execute("SELECT usage_user FROM new_rows"); sum(...)
  sql   plpy.execute("SELECT sum(usage_user) AS s FROM new_rows")[0]["s"]  (sum in C, like
        pe's Arrow plugin)

    python benchmarks/trigger_rows_vs_postgres.py            # 7 repetitions each
    python benchmarks/trigger_rows_vs_postgres.py --reps 3 --rows 20000
    python benchmarks/trigger_rows_vs_postgres.py --profile  # cProfile of batch_to_rows

Ends with:
    RESULT trigger_rows_pe_rows_us_per_row <v> us/row
    RESULT trigger_rows_pe_arrow_us_per_row <v> us/row
    RESULT trigger_rows_postgres_us_per_row <v> us/row          (star variant)
    RESULT trigger_rows_ratio_rows_vs_postgres <pe_rows/pg> ratio
    RESULT trigger_rows_ratio_arrow_vs_postgres <pe_arrow/pg> ratio
Target: pe <= 0.5x PostgreSQL. Prerequisites: apt-get install -y postgresql-15 postgresql-plpython3-15
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PLUGINS = HERE / "plugins"
for p in (str(REPO), str(HERE), str(PLUGINS)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_probe  # noqa: E402
import lpgen  # noqa: E402
import peers  # noqa: E402
from _harness import fail

PG_APT = "apt-get install -y postgresql-15 postgresql-plpython3-15"
TARGET_RATIO = 0.5


def log(msg: str = "") -> None:
    print(msg, flush=True)


def check_postgres() -> None:
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not os.access(peers.PG_BIN / b, os.X_OK)]
    if missing:
        fail(f"PostgreSQL 15 not found ({', '.join(str(peers.PG_BIN / b) for b in missing)}). Install with:\n    {PG_APT}")
    if not list(Path("/usr/lib/postgresql/15/lib").glob("plpython3*")):
        fail(f"PL/Python for PostgreSQL 15 not found (/usr/lib/postgresql/15/lib/plpython3.so). Install with:\n    {PG_APT}")


# --------------------------------------------------------------------------- pe
async def pe_side(tmp: Path, body: bytes, n_rows: int, reps: int, profile: bool, isolation: str = "thread") -> dict:
    from pe_engine.config import EngineConfig
    from pe_engine.engine import Engine
    from pe_engine.events import ActivationFinished

    pdir = tmp / "plugins"
    pdir.mkdir(parents=True)
    for f in ("sum_rows.py", "sum_arrow.py"):
        shutil.copy(PLUGINS / f, pdir / f)
    bench_probe.reset()
    out: dict = {}
    cfg = EngineConfig(data_dir=tmp / "data", plugin_dir=pdir, wal_flush_interval=0.05, plugin_isolation=isolation)
    async with Engine(cfg) as e:
        pe = e.processing
        await e.create_database("db")
        await e.write_lp("db", body)  # table + schema exist; parse/alloc paths warm
        sub = e.bus.subscribe(maxlen=100_000)
        for kind, plugin in (("rows", "sum_rows.py"), ("arrow", "sum_arrow.py")):
            name = f"sum_{kind}"
            await pe.create_trigger("db", name, plugin, "table:cpu")
            recs, inner, sums = [], [], []
            for i in range(-1, reps):  # one warm-up activation
                bench_probe.sums.clear()
                sub.drain()
                res = await e.write_lp("db", body)
                if res.rows != n_rows:
                    fail(f"pe accepted {res.rows} of {n_rows} rows: {res.errors[:1]}")
                deadline = time.monotonic() + 120
                rec = None
                while rec is None:
                    bench_probe.collect()
                    for ev in sub.drain():
                        if isinstance(ev, ActivationFinished) and ev.record.trigger == name:
                            rec = ev.record
                    if time.monotonic() > deadline:
                        fail(f"no activation of {name} within 120 s")
                    await asyncio.sleep(0.005)
                bench_probe.collect()
                if rec.status != "ok":
                    fail(f"{name} failed: {rec.status}: {rec.error}\n{rec.traceback}")
                if rec.rows_in != n_rows or not bench_probe.sums or bench_probe.sums[-1][4] != n_rows:
                    fail(f"{name}: expected one {n_rows}-row batch, got rows_in={rec.rows_in} probe={bench_probe.sums}")
                _, t0, t1, total, _ = bench_probe.sums[-1]
                if i >= 0:
                    recs.append(rec)
                    inner.append(t1 - t0)
                    sums.append(total)
            await pe.disable_trigger("db", name)
            await pe.delete_trigger("db", name)
            run = [r.run_time for r in recs]
            out[kind] = {
                "run": run, "inner": inner, "disp": [r.dispatch_latency for r in recs],
                "cpu": [r.cpu_time for r in recs], "mem": [r.memory_peak or 0 for r in recs], "sum": sums[0],
            }
        e.bus.unsubscribe(sub)
        px = pe.executor.describe().get("process")
        if px:
            out["transfer"] = px["transfer"]
        await asyncio.sleep(2.5)
    if not math.isclose(out["rows"]["sum"], out["arrow"]["sum"], rel_tol=1e-9):
        fail(f"rows and arrow plugins disagree: {out['rows']['sum']} vs {out['arrow']['sum']}")
    if profile:
        out["profile"] = profile_batch_to_rows(body)
    return out


def profile_batch_to_rows(body: bytes) -> dict:
    """batch_to_rows on the same 100k-row batch: total, its steps, and a cProfile."""
    import cProfile
    import io
    import pstats

    import pyarrow as pa

    from pe_engine.processing.py_api import batch_to_rows
    from pe_engine.lineprotocol.parse import parse_lp
    from pe_engine.storage.batch import to_record_batch
    from pe_engine.storage.catalog import Catalog, DatabaseDef

    cat = Catalog(10, 100, 500)
    db = cat.create_db("p")
    parsed = parse_lp(body, "ns", time.time_ns())
    plan = cat.plan_write(db, parsed.tables)
    cat.apply_plan(db, plan)
    (name, (pt, keep)), = plan.accepted.items()
    batch = to_record_batch(db.tables[name], pt, keep)

    def best(fn, n=5):
        b = float("inf")
        for _ in range(n):
            t = time.perf_counter()
            fn()
            b = min(b, time.perf_counter() - t)
        return b

    names = batch.schema.names
    res = {"total": best(lambda: batch_to_rows(batch))}
    cols = []

    def to_py():
        cols.clear()
        for col in batch.columns:
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            elif pa.types.is_timestamp(col.type):
                col = col.cast(pa.int64())
            cols.append(col.to_pylist())
    res["casts + to_pylist (9 columns)"] = best(to_py)
    res["zip + dict() per row"] = best(lambda: [dict(zip(names, v)) for v in zip(*cols)])
    rows = [dict(zip(names, v)) for v in zip(*cols)]
    res["sum over the dicts"] = best(lambda: sum(r["usage_user"] for r in rows))
    del rows
    assert candidate_batch_to_rows(batch) == batch_to_rows(batch)
    res["candidate batch_to_rows (not in pe)"] = best(lambda: candidate_batch_to_rows(batch))
    res["candidate + GC paused while building (not in pe)"] = best(lambda: candidate_batch_to_rows(batch, pause_gc=True))
    per_col = {}
    for nm, col in zip(names, batch.columns):
        c = col
        per_col[f"{nm} ({col.type})"] = best(lambda c=c: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type)
                                                           else c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist())
    res["per_column"] = per_col
    prof = cProfile.Profile()
    prof.enable()
    batch_to_rows(batch)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(8)
    res["cprofile"] = s.getvalue()
    res["rows"] = batch.num_rows
    return res


def candidate_batch_to_rows(batch, pause_gc: bool = False) -> list[dict]:
    """A faster batch_to_rows measured for the report (NOT used by pe): same output.

    - dictionary tag columns: convert the (small) dictionary once and index it, instead of
      casting to a full string column and making one str object per row;
    - rows built with map(dict, map(zip, repeat(names), rows)) (no list-comprehension frame);
    - optionally pause the cyclic GC while the row dicts are allocated (100k new containers
      otherwise trigger ~140 young collections and possibly a full one over the engine's heap).
    """
    import gc
    from itertools import repeat

    import pyarrow as pa

    names = batch.schema.names
    cols = []
    has_nulls = False
    for col in batch.columns:
        t = col.type
        if col.null_count:
            has_nulls = True
        if pa.types.is_dictionary(t) and not col.null_count:
            d = col.dictionary
            cols.append(list(map(d.to_pylist().__getitem__, col.indices.to_pylist())))
        elif pa.types.is_dictionary(t):
            cols.append(col.cast(t.value_type).to_pylist())
        elif pa.types.is_timestamp(t):
            cols.append(col.cast(pa.int64()).to_pylist())
        else:
            cols.append(col.to_pylist())
    was = pause_gc and gc.isenabled()
    if was:
        gc.disable()
    try:
        if not has_nulls:
            return list(map(dict, map(zip, repeat(names), zip(*cols))))
        return [{k: v for k, v in zip(names, vals) if v is not None} for vals in zip(*cols)]
    finally:
        if was:
            gc.enable()


# --------------------------------------------------------------------------- PostgreSQL
TRIGGERS = {
    "star": 'rows = plpy.execute("SELECT * FROM new_rows")\n'
            'GD["sum_star"] = sum(r["usage_user"] for r in rows)\n',
    "col": 'rows = plpy.execute("SELECT usage_user FROM new_rows")\n'
           'GD["sum_col"] = sum(r["usage_user"] for r in rows)\n',
    "sql": 'GD["sum_sql"] = plpy.execute("SELECT sum(usage_user) AS s FROM new_rows")[0]["s"]\n',
}


def pg_script(n_rows: int, reps: int) -> str:
    q = []
    q.append("\\set ON_ERROR_STOP 1")
    q.append("SET client_min_messages = warning;")
    q.append(f"""CREATE TABLE src AS SELECT
  to_timestamp(1700000000) + g * interval '1 microsecond' AS time,
  'host_' || lpad((g % 1000)::text, 5, '0') AS host,
  (ARRAY['us-east-1','us-west-2','eu-west-1','eu-central-1','ap-southeast-1'])[1 + g % 5] AS region,
  (ARRAY['us-east-1a','us-west-2b','eu-west-1c','eu-central-1a','ap-southeast-1b'])[1 + g % 5] AS az,
  random() * 60 AS usage_user, random() * 20 AS usage_system, random() * 100 AS usage_idle,
  (random() * 50)::bigint AS usage_iowait, random() * 2 AS usage_steal
FROM generate_series(1, {n_rows}) AS g;""")
    q.append("VACUUM ANALYZE src;")
    tables = ["plain"] + list(TRIGGERS)
    for t in tables:
        q.append(f"CREATE TABLE cpu_{t} (LIKE src);")
    for t, body in TRIGGERS.items():
        q.append(f"CREATE FUNCTION trg_{t}() RETURNS trigger LANGUAGE plpython3u AS $py$\n{body}return None\n$py$;")
        q.append(f"CREATE TRIGGER sum_{t} AFTER INSERT ON cpu_{t} REFERENCING NEW TABLE AS new_rows "
                 f"FOR EACH STATEMENT EXECUTE FUNCTION trg_{t}();")
    q.append("CREATE FUNCTION gd(k text) RETURNS float8 LANGUAGE plpython3u AS $py$\nreturn GD.get(k)\n$py$;")
    q.append("\\timing on")
    for rep in range(-1, reps):  # rep -1 warms up (PL/Python interpreter, buffers)
        order = tables[rep % len(tables):] + tables[:rep % len(tables)]
        for t in order:
            q.append(f"TRUNCATE cpu_{t};")
            q.append(f"\\echo MARK {rep} {t}")
            q.append(f"INSERT INTO cpu_{t} SELECT * FROM src;")
    q.append("\\timing off")
    q.append("\\echo SUMS")
    q.append("SELECT sum(usage_user), gd('sum_star'), gd('sum_col'), gd('sum_sql') FROM src;")
    return "\n".join(q) + "\n"


def pg_side(tmp: Path, n_rows: int, reps: int) -> dict:
    peer = peers.start_postgres(tmp)
    try:
        pyver = peers.create_plpython3u(peer)
        script = tmp / "bench.sql"
        script.write_text(pg_script(n_rows, reps))
        os.chmod(script, 0o644)
        info = peer.info
        cmd = [info["psql"], "-X", "-q", "-A", "-t", "-h", peer.host, "-p", str(peer.port), "-U", info["user"],
               "-d", info["dbname"], "-f", str(script)]
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            fail(f"psql failed ({r.returncode}):\n{r.stderr[-3000:]}\n{r.stdout[-2000:]}")
        wall = time.monotonic() - t0
        times: dict[str, list[float]] = {}
        mark = None
        lines = r.stdout.splitlines()
        vals = None
        for i, line in enumerate(lines):
            if line.startswith("MARK "):
                _, rep, t = line.split()
                mark = (int(rep), t)
            elif line.startswith("Time: ") and mark is not None:
                ms = float(re.match(r"Time: ([0-9.]+) ms", line).group(1))
                if mark[0] >= 0:
                    times.setdefault(mark[1], []).append(ms / 1e3)
                mark = None
            elif line == "SUMS":
                vals = [float(v) for v in lines[i + 1].split("|")]
        if vals is None or not all(math.isclose(vals[0], v, rel_tol=1e-9) for v in vals[1:]):
            fail(f"PostgreSQL trigger sums disagree with SELECT sum(): {vals}")
        if any(len(v) != reps for v in times.values()) or len(times) != 1 + len(TRIGGERS):
            fail(f"could not parse psql timings: {times}\n{r.stdout[-2000:]}")
        return {"times": times, "version": peer.version, "plpython": pyver, "wall": wall,
                "server": peer.psql("SHOW server_version"), "fsync": peer.info.get("fsync"),
                "sync_commit": peer.psql("SHOW synchronous_commit")}
    finally:
        peer.stop()


# --------------------------------------------------------------------------- main
def us(x: float, n: int) -> float:
    return x / n * 1e6


def print_pe(pe: dict, n: int) -> None:
    for kind in ("rows", "arrow"):
        d = pe[kind]
        log(f"  {kind:5s} run_time best {min(d['run']) * 1e3:8.2f} ms  median {statistics.median(d['run']) * 1e3:8.2f} ms"
            f"  = {us(min(d['run']), n):.3f} / {us(statistics.median(d['run']), n):.3f} µs/row   "
            f"inside the function (median) {statistics.median(d['inner']) * 1e3:.2f} ms, "
            f"cpu {statistics.median(d['cpu']) * 1e3:.2f} ms, memory peak {statistics.median(d['mem']) / 1e6:.1f} MB, "
            f"dispatch latency median {statistics.median(d['disp']) * 1e3:.3f} ms (max {max(d['disp']) * 1e3:.3f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="rows per batch (default 100000)")
    ap.add_argument("--reps", type=int, default=7, help="measured repetitions per variant (default 7)")
    ap.add_argument("--profile", action="store_true", help="break down and cProfile batch_to_rows")
    ap.add_argument("--skip-postgres", action="store_true", help="pe only (no ratio)")
    ap.add_argument("--isolation", default="thread,process", help="comma-separated modes (default thread,process)")
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 3 repetitions")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.reps = min(args.rows, 20_000), min(args.reps, 3)
    modes = [x.strip() for x in args.isolation.split(",") if x.strip()]
    if not modes or any(m not in ("thread", "process") for m in modes):
        ap.error("--isolation: thread and/or process")
    bench_probe.listen()
    if not 1_000 <= args.rows <= 2_000_000 or not 1 <= args.reps <= 50:
        ap.error("need 1000 <= rows <= 2000000 and 1 <= reps <= 50")
    if not args.skip_postgres:
        check_postgres()
    n = args.rows
    log(f"trigger rows vs PostgreSQL: {n:,}-row batches of cpu lines (3 tags, 5 fields), {args.reps} repetitions "
        f"each (+1 warm-up); best and median")
    body = ("\n".join(lpgen.cpu_lines(n, lpgen.default_start_ns(), hosts=1000)) + "\n").encode()
    import pyarrow
    log(f"python {sys.version.split()[0]}, pyarrow {pyarrow.__version__}; machine: {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}")

    tmp = Path(tempfile.mkdtemp(prefix="pe-bench-trows-"))
    try:
        pes = {}
        for mode in modes:
            log(f"\n== pe, {mode} isolation (in-process Engine, table:cpu WAL trigger, one {n:,}-row flush per activation) ==")
            pes[mode] = pe = asyncio.run(pe_side(tmp / f"pe-{mode}", body, n, args.reps, args.profile and mode == modes[0], mode))
            print_pe(pe, n)
            if "transfer" in pe:
                log(f"  transfer: {pe['transfer']}")
        pe = pes[modes[0]]
        if "profile" in pe:
            p = pe["profile"]
            log(f"\n  batch_to_rows on a {p['rows']:,}-row batch (best of 5, no contention): {p['total'] * 1e3:.1f} ms "
                f"= {us(p['total'], p['rows']):.3f} µs/row")
            for k in ("casts + to_pylist (9 columns)", "zip + dict() per row", "sum over the dicts",
                      "candidate batch_to_rows (not in pe)", "candidate + GC paused while building (not in pe)"):
                log(f"    {p[k] * 1e3:8.1f} ms  {us(p[k], p['rows']):.3f} µs/row  {k}")
            log("    to_pylist per column (with its cast):")
            for k, v in p["per_column"].items():
                log(f"      {v * 1e3:7.1f} ms  {k}")
            log("  cProfile of one batch_to_rows call (top by own time):")
            for line in p["cprofile"].splitlines():
                if line.strip():
                    log("    " + line)

        if args.skip_postgres:
            pg = None
        else:
            log("\n== PostgreSQL 15 (AFTER INSERT ... FOR EACH STATEMENT, REFERENCING NEW TABLE, PL/Python) ==")
            pg = pg_side(tmp / "pg", n, args.reps)
            log(f"  {pg['version']}; server {pg['server']}; PL/Python runs Python {pg['plpython']}; "
                f"fsync={pg['fsync']} synchronous_commit={pg['sync_commit']}; psql session {pg['wall']:.1f}s")
            t = pg["times"]
            bp, mp = min(t["plain"]), statistics.median(t["plain"])
            log(f"  INSERT {n:,} rows, no trigger: best {bp * 1e3:8.2f} ms  median {mp * 1e3:8.2f} ms")
            pg["cost"] = {}
            for k in TRIGGERS:
                bt, mt = min(t[k]), statistics.median(t[k])
                pg["cost"][k] = (bt - bp, mt - mp)
                log(f"  INSERT with trigger '{k}': best {bt * 1e3:8.2f} ms  median {mt * 1e3:8.2f} ms  -> trigger cost "
                    f"best {us(bt - bp, n):.3f} µs/row, median {us(mt - mp, n):.3f} µs/row")
            for k, body_ in TRIGGERS.items():
                log(f"    '{k}': " + " ".join(body_.split()))

        log("\nsummary (µs per row; medians)")
        per = {m: (us(statistics.median(pes[m]["rows"]["run"]), n), us(statistics.median(pes[m]["arrow"]["run"]), n))
               for m in modes}
        for m in modes:
            log(f"  pe rows plugin, {m:7s}  {per[m][0]:7.3f}")
            log(f"  pe arrow plugin, {m:7s} {per[m][1]:7.3f}")
        rows_us, arrow_us = per[modes[0]]
        if pg:
            for k in TRIGGERS:
                log(f"  PostgreSQL '{k}'  {us(pg['cost'][k][1], n):7.3f}")
            pg_us = us(pg["cost"]["star"][1], n)
            for m in modes:
                log(f"  ratios vs PostgreSQL 'star' (every column as dicts, summed in Python), {m}: rows "
                    f"{per[m][0] / pg_us:.3f}, arrow {per[m][1] / pg_us:.3f}  (target <= {TARGET_RATIO})")
            log(f"  other pairings: rows vs 'col' {rows_us / us(pg['cost']['col'][1], n):.3f}; "
                f"arrow vs 'sql' (both sum in C) {arrow_us / us(pg['cost']['sql'][1], n):.3f}")
        if "thread" in per:  # the names before process isolation existed: thread mode
            log(f"RESULT trigger_rows_pe_rows_us_per_row {per['thread'][0]:.4f} us/row")
            log(f"RESULT trigger_rows_pe_arrow_us_per_row {per['thread'][1]:.4f} us/row")
        for m in modes:
            log(f"RESULT trigger_rows_pe_{m}_rows_us_per_row {per[m][0]:.4f} us/row")
            log(f"RESULT trigger_rows_pe_{m}_arrow_us_per_row {per[m][1]:.4f} us/row")
        if pg:
            log(f"RESULT trigger_rows_postgres_us_per_row {pg_us:.4f} us/row")
            log(f"RESULT trigger_rows_postgres_col_us_per_row {us(pg['cost']['col'][1], n):.4f} us/row")
            log(f"RESULT trigger_rows_postgres_sql_us_per_row {us(pg['cost']['sql'][1], n):.4f} us/row")
            if "thread" in per:
                log(f"RESULT trigger_rows_ratio_rows_vs_postgres {per['thread'][0] / pg_us:.3f} ratio")
                log(f"RESULT trigger_rows_ratio_arrow_vs_postgres {per['thread'][1] / pg_us:.3f} ratio")
            for m in modes:
                log(f"RESULT trigger_rows_{m}_ratio_rows_vs_postgres {per[m][0] / pg_us:.3f} ratio")
                log(f"RESULT trigger_rows_{m}_ratio_arrow_vs_postgres {per[m][1] / pg_us:.3f} ratio")
    finally:
        peers.stop_peers_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except peers.PeerError as e:
        fail(str(e))
