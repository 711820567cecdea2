"""`pe serve` at start-up: damage it can recover from starts (and says so), anything else exits
non-zero within seconds with one line naming the reason — never an error logged and a hang."""
from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

from support.servers import ROOT, server_env, start_server

DB = "boot"
EXIT_WITHIN = 20.0  # seconds (a loaded 2-core box; the engine gives itself 5 s to exit)


def write(url: str, body: str) -> None:
    req = urllib.request.Request(f"{url}/api/v3/write_lp?db={DB}", data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204


def query(url: str, sql: str) -> list[dict]:
    q = urllib.parse.urlencode({"db": DB, "q": sql, "format": "parquet"})
    with urllib.request.urlopen(f"{url}/api/v3/query_sql?{q}", timeout=30) as resp:
        return pq.read_table(io.BytesIO(resp.read())).to_pylist()


def seed(data: Path, snapshots: bool = True) -> None:
    """A data directory with rows 1..20 of table t, in Parquet and in (small) WAL segments;
    without `snapshots` every row stays in the WAL (a snapshot may otherwise remove every segment)."""
    every = "1" if snapshots else str(10**9)
    srv = start_server(data, None, ["--without-auth", "--wal-segment-bytes", "1KiB", "--snapshot-every-flushes", every])
    try:
        write(srv.url, "".join(f"t,k=a v={i}i {i}\n" for i in range(1, 11)))
        write(srv.url, "".join(f"t,k=a v={i}i {i}\n" for i in range(11, 21)))
    finally:
        assert srv.stop() == 0, srv.stderr


def run_failing(args: list[str]) -> tuple[int, str, float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pe_engine.cli", "serve", *args], cwd=ROOT, env=server_env(),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    return p.returncode, p.stderr, time.monotonic() - t0


def test_corrupt_store_starts_with_a_rebuild(tmp_path):
    data = tmp_path / "data"
    seed(data)
    assert list((data / "parquet").rglob("*.parquet"))
    db = data / "pe.sqlite"
    db.write_bytes(b"garbage!" * 512 + db.read_bytes()[4096:])
    srv = start_server(data, None, ["--without-auth"])
    try:
        assert sorted(r["v"] for r in query(srv.url, "SELECT v FROM t")) == list(range(1, 21))
        kinds = {r["kind"] for r in query(srv.url, "SELECT kind FROM system.startup_problems")}
        assert {"catalog_corrupt", "catalog_rebuilt", "state_lost"} <= kinds
        assert "catalog_corrupt" in srv.stderr and "ERROR" in srv.stderr
    finally:
        assert srv.stop() == 0, srv.stderr
    assert list(data.glob("pe.sqlite.corrupt-*"))


def test_wal_segment_that_is_a_directory_starts_reports_and_serves(tmp_path):
    data = tmp_path / "data"
    seed(data, snapshots=False)
    segs = sorted((data / "wal").glob("*.wal"))
    assert segs
    bad = data / "wal" / f"{99999:020d}.wal"
    bad.mkdir()
    srv = start_server(data, None, ["--without-auth"])
    try:
        assert sorted(r["v"] for r in query(srv.url, "SELECT v FROM t")) == list(range(1, 21))
        rows = query(srv.url, "SELECT kind, path FROM system.startup_problems")
        assert any(r["kind"] == "wal_unreadable" and r["path"].endswith(bad.name) for r in rows), rows
        write(srv.url, "t,k=a v=21i 21\n")  # appends go to a new segment after it
        assert len(query(srv.url, "SELECT v FROM t")) == 21
    finally:
        assert srv.stop() == 0, srv.stderr


def test_deleted_middle_wal_segment_is_reported(tmp_path):
    data = tmp_path / "data"
    srv = start_server(data, None, ["--without-auth", "--wal-segment-bytes", "1"])
    try:
        for i in range(1, 4):
            write(srv.url, f"t,k=a v={i}i {i}\n")
    finally:
        assert srv.stop() == 0
    segs = sorted((data / "wal").glob("*.wal"))
    assert len(segs) >= 3
    segs[1].unlink()
    srv = start_server(data, None, ["--without-auth"])
    try:
        assert len(query(srv.url, "SELECT v FROM t")) == 2
        rows = query(srv.url, "SELECT kind, detail FROM system.startup_problems")
        assert [r["kind"] for r in rows].count("wal_gap") == 1, rows
        assert "wal_gap" in srv.stderr
    finally:
        assert srv.stop() == 0


def test_lock_held_exits_with_the_reason(tmp_path):
    data = tmp_path / "data"
    srv = start_server(data, None, ["--without-auth"])
    try:
        rc, err, took = run_failing(["--data-dir", str(data), "--http-bind", "127.0.0.1:0", "--without-auth"])
        assert rc != 0 and "in use by another pe process" in err, err
        assert took < EXIT_WITHIN
    finally:
        assert srv.stop() == 0


def test_port_in_use_exits_with_the_reason(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, err, took = run_failing(["--data-dir", str(tmp_path / "d"), "--http-bind", f"127.0.0.1:{port}",
                                     "--without-auth"])
    assert rc != 0 and "cannot serve on" in err, err
    assert took < EXIT_WITHIN


def test_unusable_data_dir_exits_with_the_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc, err, took = run_failing(["--data-dir", str(blocker / "data"), "--http-bind", "127.0.0.1:0",
                                 "--without-auth"])
    assert rc != 0 and "cannot start" in err and "Not a directory" in err, err
    assert took < EXIT_WITHIN
    assert len([ln for ln in err.splitlines() if "ERROR" in ln]) == 1, err


def test_newer_wal_format_exits_with_the_reason(tmp_path):
    data = tmp_path / "data"
    (data / "wal").mkdir(parents=True)
    (data / "wal" / f"{1:020d}.wal").write_bytes(b"PEWAL\x00\x09\x00" + b"\0" * 16)
    rc, err, took = run_failing(["--data-dir", str(data), "--http-bind", "127.0.0.1:0", "--without-auth"])
    assert rc != 0 and "unsupported format version" in err, err
    assert took < EXIT_WITHIN


def test_kill9_then_lost_sqlite_wal_recovers_every_row(tmp_path):
    """pe.sqlite-wal holds the last catalog commits until a checkpoint: lose it after a kill -9
    and the files those commits recorded are recovered, not deleted."""
    import signal

    data = tmp_path / "data"
    srv = start_server(data, None, ["--without-auth", "--snapshot-every-flushes", "1", "--wal-segment-bytes", "1KiB"])
    try:
        for i in range(1, 31):
            write(srv.url, f"t,k=a v={i}i {i}\n")
    finally:
        srv.stop(signal.SIGKILL)
    files = sorted((data / "parquet").rglob("*.parquet"))
    assert files
    (data / "pe.sqlite-wal").unlink(missing_ok=True)
    srv = start_server(data, None, ["--without-auth"])
    try:
        assert sorted(r["v"] for r in query(srv.url, "SELECT v FROM t")) == list(range(1, 31))
        assert all(f.exists() or (data / "parquet" / "_orphaned" / f.relative_to(data / "parquet")).exists()
                   for f in files)
    finally:
        assert srv.stop() == 0, srv.stderr
