"""The InfluxQL planner over real DataFusion (a session context holding small hand-made tables),
answers worked out by hand. The differential suite (tests/influxql/) checks the same ground
against InfluxDB 1.x when it is installed; these hold without it."""
from __future__ import annotations

import datafusion
import pyarrow as pa
import pytest

from pe_engine.influxql.context import FieldKind, MeasurementSchema, QueryContext
from pe_engine.influxql.executor import run_query
from pe_engine.influxql.parser import parse_query
from pe_engine.influxql.results import result_json
from pe_engine.influxql.service import as_table

S = 1_000_000_000
M = 60 * S


def _table(rows: list[dict]) -> pa.Table:
    cols = {k: [r.get(k) for r in rows] for k in dict.fromkeys(k for r in rows for k in r)}
    out = {}
    for k, v in cols.items():
        if k == "time":
            out[k] = pa.array(v, pa.int64()).cast(pa.timestamp("ns"))
        elif k in ("host", "region"):
            out[k] = pa.array(v, pa.string()).dictionary_encode()  # as the engine answers tags
        else:
            out[k] = pa.array(v)
    return pa.table(out)


CPU = _table([
    {"time": 0 * M, "host": "a", "region": "us", "usage": 1.0, "n": 10},
    {"time": 1 * M, "host": "a", "region": "us", "usage": 3.0, "n": 20},
    {"time": 2 * M, "host": "a", "region": "us", "usage": 2.0, "n": 30},
    {"time": 5 * M, "host": "a", "region": "us", "usage": 6.0, "n": 40},
    {"time": 0 * M, "host": "b", "region": "eu", "usage": 10.0, "n": 1},
    {"time": 3 * M, "host": "b", "region": "eu", "usage": 30.0, "n": 1},
    {"time": 4 * M, "host": "b", "region": "eu", "usage": None, "n": 2},
])
MEM = _table([{"time": 0, "host": "a", "used": 5}, {"time": 7 * M, "host": "a", "used": 9}])


class Schemas:
    def __init__(self, tables: dict[str, tuple[MeasurementSchema, pa.Table]]):
        self.tables = tables

    def databases(self) -> list[str]:
        return ["db"]

    def measurements(self, db: str) -> list[str]:
        return sorted(self.tables) if db == "db" else []

    def schema(self, db: str, m: str) -> MeasurementSchema | None:
        return self.tables[m][0] if db == "db" and m in self.tables else None

    def tag_values(self, db: str, m: str, tag: str) -> list[str] | None:
        return None  # no index: SHOW TAG VALUES scans


@pytest.fixture(scope="module")
def ctx() -> QueryContext:
    df = datafusion.SessionContext()
    df.register_record_batches("cpu", [CPU.to_batches()])
    df.register_record_batches("mem", [MEM.to_batches()])
    schemas = Schemas({
        "cpu": (MeasurementSchema("cpu", ("host", "region"), {"usage": FieldKind.FLOAT, "n": FieldKind.INTEGER}), CPU),
        "mem": (MeasurementSchema("mem", ("host",), {"used": FieldKind.INTEGER}), MEM),
    })
    return QueryContext(database="db", schema=schemas, run_sql=lambda _db, sql: df.sql(sql).to_arrow_table(),
                        now_ns=10 * M)


def q(ctx: QueryContext, text: str, epoch: str | None = "m") -> list[dict]:
    return [result_json(r, epoch) for r in run_query(parse_query(text), ctx)]


def values(ctx: QueryContext, text: str, epoch: str | None = "m") -> list[list]:
    (r,) = q(ctx, text, epoch)
    assert "error" not in r, r
    return [s["values"] for s in r.get("series", [])]


def test_raw_rows_merge_series_in_time_then_series_order(ctx):
    got = values(ctx, "SELECT usage, host FROM cpu WHERE time < 2m")
    assert got == [[[0, 1.0, "a"], [0, 10.0, "b"], [1, 3.0, "a"]]]
    assert values(ctx, "SELECT usage FROM cpu WHERE host = 'a' ORDER BY time DESC LIMIT 2") == [[[5, 6.0], [2, 2.0]]]


def test_group_by_time_fill_modes(ctx):
    base = "SELECT max(usage) FROM cpu WHERE host = 'a' AND time >= 0 AND time < 6m GROUP BY time(2m)"
    assert values(ctx, base) == [[[0, 3.0], [2, 2.0], [4, 6.0]]]
    sparse = "SELECT max(usage) FROM cpu WHERE host = 'b' AND time >= 0 AND time < 6m GROUP BY time(1m)"
    assert values(ctx, sparse) == [[[0, 10.0], [1, None], [2, None], [3, 30.0], [4, None], [5, None]]]
    assert values(ctx, sparse + " fill(none)") == [[[0, 10.0], [3, 30.0]]]
    assert values(ctx, sparse + " fill(-1)") == [[[0, 10.0], [1, -1], [2, -1], [3, 30.0], [4, -1], [5, -1]]]
    assert values(ctx, sparse + " fill(previous)") == [[[0, 10.0], [1, 10.0], [2, 10.0], [3, 30.0], [4, 30.0],
                                                        [5, 30.0]]]
    assert values(ctx, sparse + " fill(linear)") == [[[0, 10.0], [1, pytest.approx(10.0 + 20 / 3)],
                                                      [2, pytest.approx(10.0 + 40 / 3)], [3, 30.0], [4, None], [5, None]]]


def test_group_by_time_offset_and_tags(ctx):
    got = q(ctx, "SELECT count(n) FROM cpu WHERE time >= 0 AND time < 6m GROUP BY time(3m, 1m), host fill(none)")
    series = got[0]["series"]
    assert [s["tags"] for s in series] == [{"host": "a"}, {"host": "b"}]
    assert [s["values"] for s in series] == [[[-2, 1], [1, 2], [4, 1]], [[-2, 1], [1, 1], [4, 1]]]


def test_aggregates(ctx):
    one = "FROM cpu WHERE host = 'a'"
    assert values(ctx, f"SELECT mean(usage), median(usage), sum(n), spread(usage), count(usage) {one}") == [
        [[0, 3.0, 2.5, 100, 5.0, 4]]]
    assert values(ctx, f"SELECT first(usage), last(n) {one}") == [[[0, 1.0, 40]]]
    assert values(ctx, f"SELECT max(usage) {one}") == [[[5, 6.0]]]  # a lone selector keeps its point's time
    assert values(ctx, f"SELECT percentile(usage, 50) {one}") == [[[2, 2.0]]]
    assert values(ctx, "SELECT count(distinct(n)) FROM cpu") == [[[0, 6]]]  # 10 20 30 40 1 2
    assert values(ctx, "SELECT mode(n) FROM cpu GROUP BY host") == [[[0, 10]], [[0, 1]]]


def test_multirow_selectors(ctx):
    assert values(ctx, "SELECT top(usage, 2) FROM cpu") == [[[0, 10.0], [3, 30.0]]]
    assert values(ctx, "SELECT bottom(usage, 2), host FROM cpu") == [[[0, 1.0, "a"], [2, 2.0, "a"]]]
    assert values(ctx, "SELECT top(usage, host, 1) FROM cpu") == [[[3, 30.0, "b"]]]
    assert values(ctx, "SELECT distinct(n) FROM cpu WHERE host = 'b'") == [[[0, 1], [0, 2]]]
    rows = values(ctx, "SELECT sample(usage, 2) FROM cpu WHERE host = 'a'")[0]
    assert len(rows) == 2 and all([t, v] in [[0, 1.0], [1, 3.0], [2, 2.0], [5, 6.0]] for t, v in rows)


def test_transformations(ctx):
    a = "FROM cpu WHERE host = 'a'"
    assert values(ctx, f"SELECT difference(usage) {a}") == [[[1, 2.0], [2, -1.0], [5, 4.0]]]
    assert values(ctx, f"SELECT non_negative_difference(usage) {a}") == [[[1, 2.0], [5, 4.0]]]
    assert values(ctx, f"SELECT derivative(usage, 1m) {a}") == [[[1, 2.0], [2, -1.0], [5, 4.0 / 3]]]
    assert values(ctx, f"SELECT cumulative_sum(n) {a}") == [[[0, 10], [1, 30], [2, 60], [5, 100]]]
    assert values(ctx, f"SELECT moving_average(usage, 2) {a}") == [[[1, 2.0], [2, 2.5], [5, 4.0]]]
    assert values(ctx, f"SELECT elapsed(usage, 1m) {a}") == [[[1, 1], [2, 1], [5, 3]]]
    assert values(ctx, f"SELECT cumulative_sum(n) {a} ORDER BY time DESC") == [[[5, 40], [2, 70], [1, 90], [0, 100]]]
    # over buckets: one interval before the range is read, so the first bucket has a difference
    got = values(ctx, "SELECT difference(max(usage)) FROM cpu WHERE host = 'a' AND time >= 2m AND time < 6m "
                      "GROUP BY time(2m)")
    assert got == [[[2, -1.0], [4, 4.0]]]


def test_integral(ctx):
    # trapezoids: (1+3)/2*1m + (3+2)/2*1m + (2+6)/2*3m = 2 + 2.5 + 12 minute-units
    assert values(ctx, "SELECT integral(usage, 1m) FROM cpu WHERE host = 'a'") == [[[0, 16.5]]]


def test_subquery(ctx):
    got = values(ctx, "SELECT max(m) FROM (SELECT mean(usage) AS m FROM cpu GROUP BY host)")
    assert got == [[[0, 20.0]]]
    got = q(ctx, "SELECT sum(u) FROM (SELECT usage * 2 AS u FROM cpu WHERE time < 2m) GROUP BY host")
    assert [(s["tags"], s["values"]) for s in got[0]["series"]] == [({"host": "a"}, [[0, 8.0]]),
                                                                      ({"host": "b"}, [[0, 20.0]])]


def test_series_limits_and_regex_sources(ctx):
    got = q(ctx, "SELECT last(usage) FROM cpu GROUP BY host SLIMIT 1 SOFFSET 1")
    assert [s["tags"] for s in got[0]["series"]] == [{"host": "b"}]
    got = q(ctx, "SELECT * FROM /^(cpu|mem)$/ WHERE host = 'a' LIMIT 1")
    # `*` over several measurements: every one answers all their columns, as 1.x
    assert [(s["name"], s["columns"], s["values"]) for s in got[0]["series"]] == [
        ("cpu", ["time", "host", "n", "region", "usage", "used"], [[0, "a", 10, "us", 1.0, None]]),
        ("mem", ["time", "host", "n", "region", "usage", "used"], [[0, "a", None, None, None, 5]])]


def test_time_formats_and_tz(ctx):
    (r,) = q(ctx, "SELECT usage FROM cpu WHERE host = 'a' LIMIT 1 tz('Asia/Kolkata')", epoch=None)
    assert r["series"][0]["values"] == [["1970-01-01T05:30:00+05:30", 1.0]]
    (r,) = q(ctx, "SELECT usage FROM cpu WHERE host = 'a' LIMIT 1", epoch=None)
    assert r["series"][0]["values"] == [["1970-01-01T00:00:00Z", 1.0]]


def test_show_statements(ctx):
    (r,) = q(ctx, "SHOW TAG VALUES FROM cpu WITH KEY IN (host, region) WHERE host = 'b'")
    assert r["series"][0]["values"] == [["host", "b"], ["region", "eu"]]
    (r,) = q(ctx, "SHOW FIELD KEYS FROM cpu")
    assert r["series"][0]["values"] == [["n", "integer"], ["usage", "float"]]
    (r,) = q(ctx, "SHOW MEASUREMENTS WITH MEASUREMENT =~ /m.*/")
    assert r["series"][0]["values"] == [["mem"]]


def test_errors_are_per_statement_and_end_the_query(ctx):
    got = q(ctx, "SELECT usage FROM cpu LIMIT 1; SELECT bogus(usage) FROM cpu; SELECT n FROM cpu")
    assert len(got) == 2 and "bogus" in got[1]["error"]
    (r,) = q(ctx, "SELECT mean(usage), usage FROM cpu")
    assert "mixing aggregate and non-aggregate" in r["error"]
    (r,) = q(ctx, "SELECT holt_winters(mean(usage), 1, 1) FROM cpu GROUP BY time(1m)")
    assert "holt_winters() is not supported yet" in r["error"]
    (r,) = q(ctx, "SELECT usage FROM cpu WHERE time >= 0 GROUP BY time(1ns)")
    assert "GROUP BY requires at least one aggregate" in r["error"]
    (r,) = q(ctx, "SELECT count(usage) FROM cpu WHERE time >= 0 AND time < 10m GROUP BY time(1ns)")
    assert "buckets" in r["error"] and "narrow the time range" in r["error"]


def test_as_table_for_v3(ctx):
    t = as_table(run_query(parse_query("SELECT max(usage) FROM cpu GROUP BY host"), ctx))
    assert t.column_names == ["iox::measurement", "time", "host", "max"]
    assert t.column("max").to_pylist() == [6.0, 30.0]


def test_not_finite_values_answer_null(ctx):
    assert values(ctx, "SELECT usage % 0, usage / 0 FROM cpu WHERE host = 'a' LIMIT 1") == [[[0, None, 0.0]]]


def test_transformations_never_pair_rows_of_two_series(ctx):
    by_host = "FROM cpu GROUP BY host"
    assert values(ctx, f"SELECT difference(usage) {by_host}") == [[[1, 2.0], [2, -1.0], [5, 4.0]], [[3, 20.0]]]
    assert values(ctx, f"SELECT moving_average(usage, 2) {by_host}") == [[[1, 2.0], [2, 2.5], [5, 4.0]], [[3, 20.0]]]
    assert values(ctx, f"SELECT cumulative_sum(n) {by_host}") == [[[0, 10], [1, 30], [2, 60], [5, 100]],
                                                                  [[0, 1], [3, 2], [4, 4]]]
    assert values(ctx, f"SELECT elapsed(n, 1m) {by_host}") == [[[1, 1], [2, 1], [5, 3]], [[3, 3], [4, 1]]]
    # DESC: the series in reverse order, each differenced newest first (as 1.x)
    assert values(ctx, f"SELECT difference(usage) {by_host} ORDER BY time DESC LIMIT 1") == [[[0, -20.0]], [[2, -4.0]]]


def test_catalog_only_statements_are_told_apart():
    from pe_engine.influxql.service import catalog_only
    assert catalog_only(parse_query("SHOW DATABASES; SHOW FIELD KEYS; SHOW MEASUREMENTS; SHOW TAG KEYS FROM cpu"))
    assert not catalog_only(parse_query("SHOW MEASUREMENTS WHERE host = 'a'"))
    assert not catalog_only(parse_query("SHOW TAG VALUES WITH KEY = host"))  # may scan the first time
    assert not catalog_only(parse_query("SHOW DATABASES; SELECT usage FROM cpu"))
