"""Crash safety of a real `pe serve` process: kill -9 while writers are mid-request, restart, check.

The harness follows perf-reliability.md §5.3-5.4 (samyama REL-04 rules):

- `pe serve` runs as a subprocess on a loopback port; 3 writer threads each send numbered
  rows (`seq`, strictly increasing per `writer` tag, unique timestamps) in batches of 1-50
  lines over real HTTP (`/api/v3/write_lp`) and count a row as acknowledged only after
  the 204. A request in flight when the server dies is neither acknowledged nor required.
- After a seeded random delay (0.2-1.5 s) the server gets SIGKILL, is restarted on the same
  data directory, and we read every (writer, seq) back and assert, per writer:
    * every acknowledged seq is present (acknowledged-and-missing = failure),
    * no duplicates (also checked in SQL: count(*) = count of distinct (writer, seq)),
    * the survivors are exactly 1..k (holes = failure; an unacknowledged tail is allowed,
      but only rows that were actually sent, i.e. the in-flight batch),
  and that the control-plane SQLite file passes `PRAGMA integrity_check`.
- Several cycles on the same directory (duplication bugs live in recovery of a recovered
  store): 3 by default, 25 with `--run-slow`. Small flush interval, frequent snapshots and
  small WAL segments make snapshotting, segment rotation and deletion happen during the run.

The seed is random per run unless PE_CRASH_SEED is set; it is printed and put in every
assertion message. Timing (and so where the kill lands) is not reproducible, only the
schedule of delays and batch sizes is.

Not covered here (kill -9 lets the OS flush the page cache, so it cannot catch a missing
fsync): power-loss / torn-write classes, which need LazyFS or byte-level WAL truncation
tests (see tests/engine for the WAL's own torn-tail tests).
"""
from __future__ import annotations

import http.client
import io
import os
import random
import signal
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

DB = "crash"
TABLE = "t"
WRITERS = 3
MAX_BATCH = 50
T0 = 1_700_000_000 * 10**9  # fixed base timestamp: the same rows get the same times in every cycle

FAST = ["--without-auth", "--wal-flush-interval", "5ms", "--snapshot-every-flushes", "50",
        "--wal-segment-bytes", "64KiB"]
SNAPSHOT_HEAVY = ["--without-auth", "--wal-flush-interval", "5ms", "--snapshot-every-flushes", "1",
                  "--snapshot-max-buffer-rows", "200", "--wal-segment-bytes", "4KiB"]
# ... and compaction whenever a day has two files: kills land in merge, swap and delete steps too.
COMPACTION_HEAVY = SNAPSHOT_HEAVY + ["--compaction-min-files", "2", "--query-timeout", "1s"]


def _base_seed() -> int:
    env = os.environ.get("PE_CRASH_SEED")
    return int(env) if env else random.SystemRandom().randrange(1, 2**31)


# --------------------------------------------------------------------------- writers
class Writer(threading.Thread):
    """Sends `t,writer=w<id> seq=<n>i <ts>` rows in batches; tracks what was acknowledged."""

    def __init__(self, wid: int, url: str, first_seq: int, seed: int, no_sync: bool = False):
        super().__init__(name=f"crash-writer-{wid}", daemon=True)
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.wid = wid
        self.tag = f"w{wid}"
        self.next_seq = first_seq
        self.acked = first_seq - 1  # highest acknowledged seq (batches are sent one at a time, in order)
        self.acked_rows = 0  # acknowledged in this cycle
        self.requests = 0
        self.inflight: tuple[int, int] | None = None  # (first, last) seq of the request on the wire
        self.inflight_at_stop: tuple[int, int] | None = None
        self.error: BaseException | None = None  # what ended the loop (expected once the server dies)
        self.unexpected: list[str] = []  # non-204 answers: always a failure
        self.no_sync = no_sync
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.sent_max = first_seq - 1  # highest seq ever put on the wire

    def body(self, first: int, last: int) -> bytes:
        return "".join(
            f"{TABLE},writer={self.tag} seq={s}i {T0 + s * 1000 + self.wid}\n" for s in range(first, last + 1)
        ).encode()

    def run(self) -> None:
        path = f"/api/v3/write_lp?db={DB}&precision=nanosecond" + ("&no_sync=true" if self.no_sync else "")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            while not self.stop_event.is_set():
                n = self.rng.randint(1, MAX_BATCH)
                first, last = self.next_seq, self.next_seq + n - 1
                self.inflight = (first, last)
                self.sent_max = last
                conn.request("POST", path, body=self.body(first, last),
                             headers={"Content-Type": "text/plain; charset=utf-8"})
                resp = conn.getresponse()
                payload = resp.read()
                if resp.status != 204:
                    self.unexpected.append(f"{self.tag} seq {first}..{last}: HTTP {resp.status} {payload[:300]!r}")
                    break
                self.acked = last  # acknowledged: from here on this row must survive
                self.acked_rows += n
                self.requests += 1
                self.next_seq = last + 1
                self.inflight = None
        except (OSError, http.client.HTTPException) as e:  # server gone: the request in flight is unknown
            self.error = e
        finally:
            self.inflight_at_stop = self.inflight
            conn.close()


# --------------------------------------------------------------------------- checks
@dataclass
class CycleReport:
    cycle: int
    seed: int
    delay: float
    acked_rows: int = 0
    requests: int = 0
    inflight_at_kill: int = 0
    unacked_survivors: int = 0
    rows_total: int = 0
    parquet_files: int = 0
    wal_segments: int = 0
    replay_line: str = ""
    orphans: int = 0  # Parquet files on disk but not recorded at kill time (kill mid-snapshot)
    tmp_files: int = 0  # half-written Parquet *.tmp files left by the kill
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"cycle {self.cycle:2d} seed {self.seed} kill after {self.delay:.3f}s: "
                f"{self.acked_rows} rows acked in {self.requests} requests, "
                f"{self.inflight_at_kill} request(s) in flight at kill, "
                f"{self.unacked_survivors} unacked survivors; table now {self.rows_total} rows, "
                f"{self.parquet_files} parquet files, {self.wal_segments} WAL segments"
                + (f", kill left {self.orphans} unrecorded parquet file(s)" if self.orphans else "")
                + (f", {self.tmp_files} parquet .tmp file(s) on disk" if self.tmp_files else "")
                + f"; replay: {self.replay_line}")


def query_table(url: str, sql: str):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("GET", "/api/v3/query_sql?" + urllib.parse.urlencode({"db": DB, "q": sql, "format": "parquet"}))
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, f"query {sql!r}: HTTP {resp.status} {body[:500]!r}"
    return pq.read_table(io.BytesIO(body))


def survivors(url: str) -> tuple[dict[str, list[int]], int, int]:
    """(writer -> sorted seqs, SQL count(*), SQL count of distinct (writer, seq))."""
    rows = query_table(url, f"SELECT writer, seq FROM {TABLE}").to_pydict()
    by: dict[str, list[int]] = {}
    for w, s in zip(rows["writer"], rows["seq"]):
        by.setdefault(w, []).append(s)
    for v in by.values():
        v.sort()
    n = query_table(url, f"SELECT count(*) AS n FROM {TABLE}").column("n")[0].as_py()
    d = query_table(url, f"SELECT count(*) AS n FROM (SELECT DISTINCT writer, seq FROM {TABLE}) x").column("n")[0].as_py()
    return by, n, d


def check_survivors(url: str, acked: dict[str, int], sent: dict[str, int], ctx: str) -> dict[str, int]:
    """Assert the durability rules; return writer -> k (survivors are 1..k)."""
    by, n, distinct = survivors(url)
    total = sum(len(v) for v in by.values())
    assert n == total, f"{ctx}: count(*)={n} but SELECT returned {total} rows"
    assert n == distinct, f"{ctx}: {n - distinct} duplicate (writer, seq) rows after replay (count={n}, distinct={distinct})"
    tops: dict[str, int] = {}
    problems = []
    for tag in sorted(set(acked) | set(by)):
        got = by.get(tag, [])
        have = set(got)
        if len(have) != len(got):
            dup = sorted({s for s in got if got.count(s) > 1})[:20]
            problems.append(f"{tag}: duplicates {dup}")
        k = got[-1] if got else 0
        lost = [s for s in range(1, acked.get(tag, 0) + 1) if s not in have]
        if lost:
            problems.append(f"{tag}: {len(lost)} acknowledged rows missing, first {lost[:20]} (acked through {acked.get(tag, 0)})")
        holes = [s for s in range(1, k + 1) if s not in have]
        if holes and not lost:
            problems.append(f"{tag}: survivors are not a prefix: {len(holes)} holes below {k}, first {holes[:20]}")
        if k > sent.get(tag, 0):
            problems.append(f"{tag}: seq {k} survived but only 1..{sent.get(tag, 0)} were ever sent")
        tops[tag] = k
    assert not problems, f"{ctx}:\n  " + "\n  ".join(problems)
    return tops


def integrity_check(data_dir: Path, ctx: str) -> None:
    path = data_dir / "pe.sqlite"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        result = [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()
    assert result == ["ok"], f"{ctx}: PRAGMA integrity_check on {path}: {result}"


def disk_state(data_dir: Path) -> tuple[int, int]:
    parquet = sum(1 for _ in (data_dir / "parquet").rglob("*.parquet"))
    wal = sum(1 for p in (data_dir / "wal").iterdir() if p.suffix == ".wal")
    return parquet, wal


def unrecorded_parquet(data_dir: Path) -> tuple[int, int]:
    """After a kill, before restart: (Parquet files not in the store, *.parquet.tmp files)."""
    con = sqlite3.connect(f"file:{data_dir / 'pe.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        known = {r[0] for r in con.execute("SELECT path FROM parquet_files")}
    finally:
        con.close()
    on_disk = {str(p) for p in (data_dir / "parquet").rglob("*.parquet")}
    tmp = sum(1 for _ in (data_dir / "parquet").rglob("*.parquet.tmp"))
    return len(on_disk - known), tmp


def replay_line(srv) -> str:
    """The last 'WAL replay: ...' line (and any recovery warnings) the server printed."""
    lines = [ln.strip() for ln in srv.stderr_lines]
    replay = [ln for ln in lines if "WAL replay:" in ln]
    text = replay[-1].split("WAL replay: ", 1)[-1] if replay else "(no replay line)"
    warns = [ln.split("WAL recovery: ", 1)[-1] for ln in lines if "WAL recovery:" in ln]
    return text + ("; recovery: " + " | ".join(warns) if warns else "")


# --------------------------------------------------------------------------- the harness
def kill_cycles(server_factory: Callable, data_dir: Path, cycles: int, extra: list[str],
                label: str, lose_store: bool = False) -> list[CycleReport]:
    """`lose_store`: delete pe.sqlite (and its -wal/-shm) after every kill, so every restart
    rebuilds the catalog from Parquet metadata and the WAL."""
    base = _base_seed()
    print(f"\n[{label}] base seed {base} (set PE_CRASH_SEED={base} to replay the schedule); "
          f"{cycles} cycles; server args {' '.join(extra)}")
    tops = {f"w{i}": 0 for i in range(WRITERS)}  # survivors so far are 1..k per writer
    acked = dict(tops)
    sent = dict(tops)
    reports: list[CycleReport] = []
    srv = server_factory(data_dir, token=None, extra=extra)
    for cycle in range(1, cycles + 1):
        seed = base * 1000 + cycle
        rng = random.Random(seed)
        delay = rng.uniform(0.2, 1.5)
        rep = CycleReport(cycle, seed, delay)
        ctx = f"[{label}] cycle {cycle}/{cycles}, seed {seed} (base {base}), kill after {delay:.3f}s"
        writers = [Writer(i, srv.url, tops[f"w{i}"] + 1, rng.randrange(2**31)) for i in range(WRITERS)]
        for w in writers:
            w.start()
        time.sleep(delay)
        inflight = sum(1 for w in writers if w.inflight is not None)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(10)
        for w in writers:
            w.stop_event.set()
        for w in writers:
            w.join(30)
            assert not w.is_alive(), f"{ctx}: writer {w.tag} hung after the kill"
        unexpected = [u for w in writers for u in w.unexpected]
        assert not unexpected, f"{ctx}: non-204 answers before the kill:\n" + "\n".join(unexpected)
        for w in writers:
            acked[w.tag] = max(acked[w.tag], w.acked)
            sent[w.tag] = max(sent[w.tag], w.sent_max)
        rep.acked_rows = sum(w.acked_rows for w in writers)
        rep.requests = sum(w.requests for w in writers)
        rep.inflight_at_kill = inflight
        assert rep.acked_rows > 0, f"{ctx}: no write was acknowledged before the kill"
        integrity_check(data_dir, ctx + ", right after the kill")
        rep.orphans, _ = unrecorded_parquet(data_dir)
        if lose_store:
            for suffix in ("", "-wal", "-shm"):
                (data_dir / f"pe.sqlite{suffix}").unlink(missing_ok=True)
            rep.notes.append("pe.sqlite deleted")

        srv = server_factory(data_dir, token=None, extra=extra)
        rep.replay_line = replay_line(srv)
        new_tops = check_survivors(srv.url, acked, sent, ctx)
        rep.unacked_survivors = sum(new_tops[t] - acked[t] for t in new_tops)
        rep.rows_total = sum(new_tops.values())
        integrity_check(data_dir, ctx)
        rep.parquet_files, rep.wal_segments = disk_state(data_dir)
        _, rep.tmp_files = unrecorded_parquet(data_dir)
        tops = new_tops
        # A row that survived unacknowledged is durable now; later cycles must keep it too.
        acked = {t: max(acked[t], tops[t]) for t in tops}
        reports.append(rep)
        print(rep.line())

    # Finally a clean stop and one more restart: nothing changes.
    rc = srv.stop(signal.SIGTERM)
    assert rc == 0, f"[{label}] SIGTERM exit code {rc}:\n{srv.stderr[-3000:]}"
    integrity_check(data_dir, f"[{label}] after clean stop")
    srv = server_factory(data_dir, token=None, extra=extra)
    final = check_survivors(srv.url, acked, sent, f"[{label}] restart after clean stop (base seed {base})")
    assert final == tops, f"[{label}] clean restart changed the data: {tops} -> {final}"
    srv.stop(signal.SIGTERM)
    total_acked = sum(r.acked_rows for r in reports)
    print(f"[{label}] {cycles} kills, {total_acked} rows acknowledged in "
          f"{sum(r.requests for r in reports)} requests, 0 lost, 0 duplicates, 0 holes; "
          f"{sum(r.unacked_survivors for r in reports)} unacked in-flight rows survived; "
          f"{sum(1 for r in reports if r.orphans)} kill(s) landed between a Parquet write and its record; "
          f"final table {sum(final.values())} rows")
    return reports


def test_kill9_during_writes_loses_nothing_acknowledged(server_factory, tmp_path):
    kill_cycles(server_factory, tmp_path / "data", 3, FAST, "kill9")


@pytest.mark.slow
def test_kill9_during_writes_many_cycles(server_factory, tmp_path):
    kill_cycles(server_factory, tmp_path / "data", 25, FAST, "kill9-soak")


def test_kill9_during_snapshots_no_loss_no_duplicates(server_factory, tmp_path):
    """Snapshot after every flush, 4 KiB WAL segments: kills land in snapshot/record/delete steps;
    a WAL record replayed on top of the Parquet file that already holds it would show as duplicates."""
    kill_cycles(server_factory, tmp_path / "data", 2, SNAPSHOT_HEAVY, "kill9-snapshots")


@pytest.mark.slow
def test_kill9_during_snapshots_many_cycles(server_factory, tmp_path):
    kill_cycles(server_factory, tmp_path / "data", 25, SNAPSHOT_HEAVY, "kill9-snapshots-soak")


def test_kill9_then_lose_the_store_no_loss_no_duplicates(server_factory, tmp_path):
    """kill -9, then delete pe.sqlite before every restart: the catalog is rebuilt from Parquet
    metadata and the WAL, every acknowledged row is still there and answers hold each once
    (files the rebuild cannot tell apart from the WAL are set aside; any overlap left is removed
    by query-time dedup). No Parquet file is ever deleted."""
    data = tmp_path / "data"
    kill_cycles(server_factory, data, 3, SNAPSHOT_HEAVY, "kill9-lose-store", lose_store=True)
    assert list((data / "parquet").rglob("*.parquet")), "snapshots wrote no Parquet file"


@pytest.mark.slow
def test_kill9_then_lose_the_store_many_cycles(server_factory, tmp_path):
    kill_cycles(server_factory, tmp_path / "data", 25, SNAPSHOT_HEAVY, "kill9-lose-store-soak", lose_store=True)


def test_kill9_during_compaction_no_loss_no_duplicates(server_factory, tmp_path):
    """Snapshot after every flush and compact every day with two files: every acknowledged row is
    present exactly once after each kill, whichever compaction step the kill interrupted."""
    kill_cycles(server_factory, tmp_path / "data", 3, COMPACTION_HEAVY, "kill9-compaction")


@pytest.mark.slow
def test_kill9_during_compaction_many_cycles(server_factory, tmp_path):
    kill_cycles(server_factory, tmp_path / "data", 25, COMPACTION_HEAVY, "kill9-compaction-soak")


def test_sigterm_during_writes_loses_nothing_including_no_sync(server_factory, tmp_path):
    """Clean shutdown while writers (one with no_sync=true) are mid-request: everything that got
    a 204 survives the restart, no_sync rows included (they are flushed on shutdown)."""
    data = tmp_path / "data"
    extra = ["--without-auth", "--wal-flush-interval", "5ms", "--snapshot-every-flushes", "50"]
    base = _base_seed()
    rng = random.Random(base)
    ctx = f"[sigterm] seed {base}"
    srv = server_factory(data, token=None, extra=extra)
    # Writer 0 and 1 wait for the WAL, writer 2 (no_sync) is answered from memory.
    writers = [Writer(i, srv.url, 1, rng.randrange(2**31), no_sync=(i == 2)) for i in range(WRITERS)]
    for w in writers:
        w.start()
    time.sleep(rng.uniform(0.5, 1.0))
    rc = srv.stop(signal.SIGTERM)
    for w in writers:
        w.stop_event.set()
    for w in writers:
        w.join(30)
    assert rc == 0, f"{ctx}: SIGTERM exit code {rc}:\n{srv.stderr[-3000:]}"
    unexpected = [u for w in writers for u in w.unexpected if "503" not in u]
    assert not unexpected, f"{ctx}: unexpected answers:\n" + "\n".join(unexpected)
    acked = {w.tag: w.acked for w in writers}
    sent = {w.tag: w.sent_max for w in writers}
    assert acked["w2"] > 0, f"{ctx}: no no_sync write was acknowledged"
    integrity_check(data, ctx)

    srv = server_factory(data, token=None, extra=extra)
    tops = check_survivors(srv.url, acked, sent, ctx + ", first restart")
    integrity_check(data, ctx + ", first restart")
    # Now a burst of no_sync writes acknowledged just before SIGTERM: nothing has flushed them yet
    # except the shutdown itself (flush interval 1 h).
    assert srv.stop(signal.SIGTERM) == 0
    srv = server_factory(data, token=None, extra=extra + ["--wal-flush-interval", "1h"])
    w = Writer(2, srv.url, tops["w2"] + 1, rng.randrange(2**31), no_sync=True)
    w.stop_event.set()  # run() sends nothing; we drive it by hand below
    u = urllib.parse.urlsplit(srv.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    first = tops["w2"] + 1
    last = first + 999
    for s in range(first, last + 1, 100):
        conn.request("POST", f"/api/v3/write_lp?db={DB}&precision=nanosecond&no_sync=true", body=w.body(s, s + 99))
        resp = conn.getresponse()
        assert resp.status == 204, resp.read()
        resp.read()
    conn.close()
    assert srv.stop(signal.SIGTERM) == 0, srv.stderr[-3000:]
    acked2 = dict(tops)
    acked2["w2"] = last
    sent2 = dict(acked2)
    srv = server_factory(data, token=None, extra=extra)
    final = check_survivors(srv.url, acked2, sent2, ctx + ", no_sync burst then SIGTERM")
    assert final == acked2, f"{ctx}: {final} != {acked2}"
    integrity_check(data, ctx + ", final")
    srv.stop(signal.SIGTERM)
    print(f"\n[sigterm] seed {base}: {sum(w.acked_rows for w in writers)} rows acked under load "
          f"(no_sync writer: {writers[2].acked_rows}), {sum(tops.values())} survived; "
          f"then 1000 no_sync rows with a 1 h flush interval survived SIGTERM; final {sum(final.values())} rows")
