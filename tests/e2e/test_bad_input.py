"""Hostile bodies against a real `pe serve`: memory stays bounded, answers stay small and clear,
and the server goes on serving (issue 9, "Bounded memory on bad input").

The two bodies are the issue's: ~467 KiB whose every line adds a column to one table (it took
4 GB and got the server OOM-killed), and a small gzip request of ~100k bad lines (amplified
~175x in memory and ~25x in the answer)."""
from __future__ import annotations

import gzip
from pathlib import Path

import psutil
import pytest

from support.http import Http

MAX_REPORTED = 100
RSS_GROWTH_LIMIT = 200 * 1024 * 1024  # generous: the old code grew by gigabytes
ANSWER_LIMIT = 4 * MAX_REPORTED * 1024  # 100 errors of a cut line + message each, with room


BOMB_LINES = 20_800


def column_bomb() -> bytes:
    """~467 KiB, one line per new column of one table."""
    body = b"".join(b"bomb f%05d=1i %d\n" % (i, 1_000_000 + i) for i in range(BOMB_LINES))
    assert 460 * 1024 < len(body) < 475 * 1024
    return body


def bad_lines(n: int = 100_000) -> bytes:
    """~100k lines, every one rejected (a field value that is no value)."""
    return b"".join(b"cpu,host=h%d usage=oops%d\n" % (i % 50, i % 1000) for i in range(n))


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return psutil.Process(pid).memory_info().rss


def still_serves(http: Http, db: str) -> None:
    r = http.write(db, "after,host=a v=1 1700000000000000000", precision="nanosecond")
    assert r.status == 204, r.body
    assert http.rows(db, "SELECT host, v FROM after") == [{"host": "a", "v": 1.0}]


@pytest.fixture
def srv(server_factory, admin_token):
    s = server_factory(token=admin_token)
    http = Http(s.url, s.token)
    assert http.write("warm", "warm v=1 1", precision="nanosecond").status == 204  # load the write path
    return s, http


def test_column_bomb_gets_a_clear_answer_in_bounded_memory(srv):
    s, http = srv
    before = peak_rss(s.proc.pid)
    r = http.write("bombdb", column_bomb(), precision="nanosecond", timeout=120)
    grew = peak_rss(s.proc.pid) - before
    assert r.status == 400, r.body[:500]
    doc = r.json()
    assert doc["error"] == "partial write of line protocol occurred"
    assert len(doc["data"]) == MAX_REPORTED
    first = doc["data"][0]
    assert first["line_number"] == 500 and first["original_line"].startswith("bomb f00499=1i")
    assert first["error_message"] == "table 'bomb' would have 501 columns, over the limit of 500"
    assert doc["omitted_errors"] == BOMB_LINES - 499 - MAX_REPORTED
    assert len(r.body) < ANSWER_LIMIT, len(r.body)
    assert grew < RSS_GROWTH_LIMIT, f"server peak RSS grew by {grew / 2**20:.0f} MiB"
    assert http.rows("bombdb", "SELECT count(*) AS n FROM bomb") == [{"n": 499}]
    still_serves(http, "bombdb")


@pytest.mark.parametrize("path", ["/api/v3/write_lp", "/api/v2/write", "/write"])
def test_gzip_of_bad_lines_gets_a_capped_answer_in_bounded_memory(srv, path):
    s, http = srv
    raw = bad_lines()
    body = gzip.compress(raw)
    assert len(body) < 200 * 1024 < len(raw)
    query = {"db": "gz"} if path != "/api/v2/write" else {"bucket": "gz"}
    before = peak_rss(s.proc.pid)
    r = http.request("POST", path, query, body, {"Content-Encoding": "gzip"}, timeout=120)
    grew = peak_rss(s.proc.pid) - before
    assert r.status == 400, r.body[:500]
    doc = r.json()
    assert doc["error"] == "partial write of line protocol occurred"
    assert len(doc["data"]) == MAX_REPORTED and doc["omitted_errors"] == 100_000 - MAX_REPORTED
    assert doc["data"][0] == {
        "original_line": "cpu,host=h0 usage=oops0",
        "line_number": 1,
        "error_message": "invalid field value 'oops0' for field 'usage': expected a float, integer (i), "
                         "unsigned (u), quoted string or boolean",
    }
    assert len(r.body) < ANSWER_LIMIT, len(r.body)
    assert grew < RSS_GROWTH_LIMIT, f"server peak RSS grew by {grew / 2**20:.0f} MiB"
    still_serves(http, "gz")


def test_a_gzip_bomb_is_cut_off_at_the_limit(server_factory, admin_token):
    s = server_factory(token=admin_token, extra=["--max-request-bytes", "1MiB"])
    http = Http(s.url, s.token)
    bomb = gzip.compress(b"x" * (64 * 1024 * 1024))  # ~64 KiB that inflates to 64 MiB
    before = peak_rss(s.proc.pid)
    r = http.request("POST", "/api/v3/write_lp", {"db": "gzb"}, bomb, {"Content-Encoding": "gzip"})
    assert r.status == 413, r.body
    assert "decompressed request body is larger than the limit" in r.json()["error"]
    assert peak_rss(s.proc.pid) - before < 50 * 1024 * 1024
    still_serves(http, "gzb")


def test_small_gzip_that_inflates_to_a_million_bad_lines(srv):
    """~70 KiB of gzip, 30 MiB and 1.4M bad lines inflated: the answer stays the capped one and
    memory grows by about the inflated body, not by a multiple of it per line."""
    s, http = srv
    raw = b"cpu,host=a usage=oops\n" * (30 * 1024 * 1024 // 22)
    body = gzip.compress(raw)
    assert len(body) < 100 * 1024
    before = peak_rss(s.proc.pid)
    r = http.request("POST", "/api/v3/write_lp", {"db": "gzbig"}, body, {"Content-Encoding": "gzip"}, timeout=120)
    grew = peak_rss(s.proc.pid) - before
    assert r.status == 400, r.body[:500]
    doc = r.json()
    assert len(doc["data"]) == MAX_REPORTED and doc["omitted_errors"] == raw.count(b"\n") - MAX_REPORTED
    assert len(r.body) < ANSWER_LIMIT
    assert grew < RSS_GROWTH_LIMIT, f"server peak RSS grew by {grew / 2**20:.0f} MiB"
    still_serves(http, "gzbig")
