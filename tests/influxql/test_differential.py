"""Differential InfluxQL: every query of tests/influxql/corpus.py against pe's v1 `/query` and
against a real InfluxDB 1.x loaded with the same data (tests/influxql/dataset.py), answers
compared by tests/influxql/compare.py.

Where pe deliberately differs or does not support a feature yet, the case is listed in
EXPECTED_DIFFERENCES with the reason: pe must then answer an error (a statement's or the whole
query's), never a different answer; a listed case that pe now answers like 1.x fails, so the
table is kept up to date.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from influxql import dataset
from influxql.compare import diff, errors_of, merge_chunks, short
from influxql.corpus import BY_ID, CASES, CHUNKED_CASES, EPOCH_CASES, SHAPE_ONLY, Case
from support.influx1 import influx1  # noqa: F401  (the fixture)
from support.servers import start_server

LOAD_TIMEOUT = 30.0

# case id -> why pe answers an error where 1.x answers: a feature pe does not support yet (or a
# deliberate refusal). pe must answer an error (the statement's or the whole query's) for these.
EXPECTED_DIFFERENCES: dict[str, str] = {
    "agg-integral-usage_user-t10m": "integral() with GROUP BY time is not supported by pe yet",
    "time-or-range": "time ranges joined with OR: pe refuses them by name (1.x silently answers nothing)",
    "err-group-time-zero": "GROUP BY time(0s): pe refuses it (1.x silently ignores the dimension)",
}

# case id -> why pe deliberately answers differently (not an error) from 1.x: xfail(strict=True),
# so a case that starts to agree is noticed.
DELIBERATE_DIFFERENCES: dict[str, str] = {
    "agg-p90-usage_user-host": "percentile() among equal values: pe picks the latest point, 1.x's unstable sort any",
    "agg-integral-usage_user-host": "integral(): pe answers the range start as time and series in tag order "
                                    "(1.x: 1970-01-01 and unsorted series)",
    "agg-integral-usage_user-all": "integral() over merged series with points at one time: pe orders them by "
                                   "series key, 1.x by storage order",
    "agg-integral-n-all": "integral() over merged series with points at one time (as above)",
    "offset-only": "OFFSET without LIMIT: pe skips OFFSET rows; 1.6.7 answers one row",
    "soffset-only": "SOFFSET without SLIMIT: pe skips SOFFSET series; 1.6.7 answers none",
}


def _marked(case: Case) -> object:
    reason = DELIBERATE_DIFFERENCES.get(case.id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def _request(url: str, data: bytes | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def query(base: str, q: str, **params: str) -> Answer:
    status, body = _request(base + "/query?" + urllib.parse.urlencode({"db": dataset.DB, "q": q, **params}))
    text = body.decode("utf-8", "replace")
    if params.get("chunked") == "true":
        try:
            chunks = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return Answer(status, {"error": f"not JSON lines (HTTP {status}): {text[:300]}"})
        return Answer(status, merge_chunks(chunks))
    try:
        return Answer(status, json.loads(text))
    except ValueError:
        return Answer(status, {"error": f"not JSON (HTTP {status}): {text[:300]}"})


def _expected_counts() -> dict[str, dict[str, int]]:
    """measurement -> {"count_<field>": points having that field}: what `SELECT count(*)` answers."""
    out: dict[str, Counter] = {}
    for m, _tags, fields, _t in dataset.POINTS:
        out.setdefault(m, Counter()).update(f"count_{f}" for f in fields)
    return {m: dict(c) for m, c in out.items()}


def _counts(base: str, measurement: str) -> dict[str, Any]:
    name = measurement.replace('"', '\\"')
    a = query(base, f'SELECT count(*) FROM "{name}"')
    try:
        s = a.body["results"][0]["series"][0]
        return dict(zip(s["columns"][1:], s["values"][0][1:]))
    except (KeyError, IndexError, TypeError):
        return {}


def load(base: str, label: str) -> None:
    for body in dataset.batches():
        status, reply = _request(base + f"/write?db={dataset.DB}", body.encode("utf-8"))
        assert status == 204, f"{label} /write answered {status}: {reply[:500]!r}"
    want = _expected_counts()
    deadline = time.monotonic() + LOAD_TIMEOUT
    while True:
        got = {m: _counts(base, m) for m in want}
        if all(got[m] == want[m] for m in want):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{label} did not answer the written counts in time:\nwant {want}\ngot  {got}")
        time.sleep(0.2)


@dataclass
class Pair:
    pe: str
    ref: str


@pytest.fixture(scope="module")
def servers(influx1, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:  # noqa: F811
    status, body = _request(influx1.url + "/query?" + urllib.parse.urlencode({"q": f"CREATE DATABASE {dataset.DB}"}),
                            b"")
    assert status == 200, body
    pe = start_server(tmp_path_factory.mktemp("pe-differential") / "data", None, ["--without-auth"])
    try:
        status, body = _request(pe.url + "/query?" + urllib.parse.urlencode({"q": f"CREATE DATABASE {dataset.DB}"}),
                                b"")
        assert status == 200, body
        load(influx1.url, "InfluxDB 1.x")
        load(pe.url, "pe")
        yield Pair(pe.url, influx1.url)
    finally:
        rc = pe.stop()
    assert rc == 0, f"pe serve exited with {rc}:\n{pe.stderr}"


def check(case: Case, pe: Answer, ref: Answer, options: str = "") -> None:
    where = f"[{case.id}]{options} {case.q}\n"
    d = diff(pe.body, ref.body, shape_only=case.id in SHAPE_ONLY)
    if d is None and (pe.status >= 400) != (ref.status >= 400):
        d = f"HTTP status: pe {pe.status}, 1.x {ref.status}\npe:  {short(pe.body)}\n1.x: {short(ref.body)}"
    reason = EXPECTED_DIFFERENCES.get(case.id)
    if reason is None:
        assert d is None, where + d
        return
    if d is None:
        assert errors_of(ref.body), (where + f"listed in EXPECTED_DIFFERENCES ({reason}) but pe now answers "
                                     "like InfluxDB 1.x: remove it from the table")
        return  # both answered an error
    assert errors_of(pe.body), (where + f"expected difference ({reason}): pe must answer an error, "
                                f"not a different answer:\n{d}")


@pytest.mark.parametrize("case", [_marked(c) for c in CASES])
def test_query(servers: Pair, case: Case) -> None:
    check(case, query(servers.pe, case.q), query(servers.ref, case.q))


@pytest.mark.parametrize("epoch", ["ms", "s"])
@pytest.mark.parametrize("case_id", EPOCH_CASES)
def test_query_epoch(servers: Pair, case_id: str, epoch: str) -> None:
    case = BY_ID[case_id]
    check(case, query(servers.pe, case.q, epoch=epoch), query(servers.ref, case.q, epoch=epoch), f" epoch={epoch}")


@pytest.mark.parametrize("case_id", CHUNKED_CASES)
def test_query_chunked(servers: Pair, case_id: str) -> None:
    case = BY_ID[case_id]
    params = {"chunked": "true", "chunk_size": "50"}
    check(case, query(servers.pe, case.q, **params), query(servers.ref, case.q, **params), " chunked")
