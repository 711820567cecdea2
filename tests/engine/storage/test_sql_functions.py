"""InfluxDB 3's SQL functions (selectors, tz, date_bin_wallclock, gap filling) and the
`iox::column::type` metadata, against hand-computed answers over a small data set.

The data (seconds after T0 = 2024-01-01T00:00:00Z), written as two batches:

    room     time  temp  hum  label  ok
    kitchen     0  20.0   40  a      true
    kitchen    60  22.0   44  b      false
    kitchen   120  null   41  c      true
    living     30  18.0   30  x      false
    -- second batch --
    kitchen   240  22.0   47  d      true
    kitchen   300  null   50  e      false
    living     90  25.0   35  y      true
    living    200  31.0   31  z      false
"""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from pe_engine.errors import QueryError
from pe_engine.lineprotocol.types import FieldType, ParsedTable
from pe_engine.storage.batch import to_record_batch
from pe_engine.storage.buffer import BufferStore
from pe_engine.storage.catalog import Catalog
from pe_engine.storage.query import QueryEngine

F, I, S, B = FieldType.FLOAT, FieldType.INT, FieldType.STRING, FieldType.BOOL
SEC = 1_000_000_000
T0 = 1_704_067_200 * SEC
KEY = b"iox::column::type"


def _write(catalog: Catalog, buffers: BufferStore, seq: int, rows: list[tuple]) -> None:
    dbdef = catalog.create_db("db", exist_ok=True)
    n = len(rows)
    cols = list(zip(*rows))
    pt = ParsedTable(
        "home", n, list(range(1, n + 1)), [T0 + s * SEC for s in cols[1]], {"room": list(cols[0])},
        {"temp": (F, list(cols[2])), "hum": (I, list(cols[3])), "label": (S, list(cols[4])), "ok": (B, list(cols[5]))},
    )
    plan = catalog.plan_write(dbdef, {"home": pt})
    assert not plan.errors, plan.errors
    catalog.apply_plan(dbdef, plan)
    buffers.table("db", "home").append(to_record_batch(dbdef.tables["home"], pt), seq)


@pytest.fixture(scope="module")
def qe() -> QueryEngine:
    catalog, buffers = Catalog(), BufferStore()
    _write(catalog, buffers, 1, [
        ("kitchen", 0, 20.0, 40, "a", True), ("kitchen", 60, 22.0, 44, "b", False),
        ("kitchen", 120, None, 41, "c", True), ("living", 30, 18.0, 30, "x", False),
    ])
    _write(catalog, buffers, 2, [
        ("kitchen", 240, 22.0, 47, "d", True), ("kitchen", 300, None, 50, "e", False),
        ("living", 90, 25.0, 35, "y", True), ("living", 200, 31.0, 31, "z", False),
    ])
    return QueryEngine(catalog, buffers, target_partitions=2)


def q(qe: QueryEngine, sql: str, params: dict | None = None) -> pa.Table:
    return qe.execute("db", sql, params)


def ns(table: pa.Table, name: str) -> list:
    """A timestamp column as seconds after T0 (None stays None)."""
    col = table.column(name).cast(pa.int64()).to_pylist()
    return [None if v is None else (v - T0) / SEC for v in col]


def iso(s: int) -> str:
    return datetime.fromtimestamp((T0 // SEC) + s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows_of(t: pa.Table, field: str, by: str = "room") -> dict:
    """room -> (value, seconds after T0, others...) of a selector struct column."""
    out = {}
    for room, s in zip(t.column(by).to_pylist(), t.column(field).cast(
            pa.struct([(f.name, pa.int64() if pa.types.is_timestamp(f.type) else f.type) for f in t.schema.field(field).type])
    ).to_pylist()):
        out[room] = None if s is None else (s["value"], (s["time"] - T0) / SEC, *[s[k] for k in s if k.startswith("other_")])
    return out


# -- selectors -------------------------------------------------------------------
@pytest.mark.parametrize("fn, expected", [
    ("selector_first", {"kitchen": (20.0, 0), "living": (18.0, 30)}),
    ("selector_last", {"kitchen": (22.0, 240), "living": (31.0, 200)}),  # kitchen's null at 300 is skipped
    ("selector_min", {"kitchen": (20.0, 0), "living": (18.0, 30)}),
    ("selector_max", {"kitchen": (22.0, 60), "living": (31.0, 200)}),  # kitchen's tie 60/240: the earliest
])
def test_selectors_per_group(qe, fn, expected):
    t = q(qe, f"SELECT room, {fn}(temp, time) AS s FROM home GROUP BY room ORDER BY room")
    assert t.schema.field("s").type == pa.struct([("value", pa.float64()), ("time", pa.timestamp("ns"))])
    assert rows_of(t, "s") == expected


def test_selector_fields_by_bracket_and_whole_table(qe):
    t = q(qe, "SELECT selector_max(temp, time)['time'] AS t, selector_max(temp, time)['value'] AS v FROM home")
    assert ns(t, "t") == [200] and t.column("v").to_pylist() == [31.0]


def test_selector_keeps_the_value_type_and_carries_other_columns(qe):
    t = q(qe, "SELECT room, selector_min(hum, time) AS h, selector_max(label, time) AS l, "
              "selector_first(ok, time) AS o, selector_max(temp, time, hum, label) AS x "
              "FROM home GROUP BY room ORDER BY room")
    assert t.schema.field("h").type.field("value").type == pa.int64()
    assert t.schema.field("l").type.field("value").type == pa.string()
    assert t.schema.field("o").type.field("value").type == pa.bool_()
    assert rows_of(t, "h") == {"kitchen": (40, 0), "living": (30, 30)}
    assert rows_of(t, "l") == {"kitchen": ("e", 300), "living": ("z", 200)}
    assert rows_of(t, "o") == {"kitchen": (True, 0), "living": (False, 30)}
    assert [f.name for f in t.schema.field("x").type] == ["value", "time", "other_1", "other_2"]
    assert rows_of(t, "x") == {"kitchen": (22.0, 60, 44, "b"), "living": (31.0, 200, 31, "z")}


def test_selector_of_a_tag_and_default_column_name(qe):
    t = q(qe, "SELECT selector_last(room, time) FROM home")
    assert t.column_names == ["selector_last(home.room,home.time)"]
    assert t.column(0).to_pylist()[0]["value"] == "kitchen"


def test_selector_in_cte_and_subquery(qe):
    t = q(qe, "WITH x AS (SELECT room, temp, time FROM home WHERE time >= $from) "
              "SELECT room, s['time'] AS t FROM (SELECT room, selector_min(temp, time) AS s FROM x GROUP BY room) sub "
              "ORDER BY room", {"from": iso(60)})
    assert ns(t, "t") == [60, 90]


def test_selector_with_no_candidate_row_is_null(qe):
    t = q(qe, "SELECT selector_max(temp, time) AS s FROM home WHERE temp IS NULL")
    assert t.column("s").to_pylist() == [None]


def test_selector_errors(qe):
    with pytest.raises(QueryError, match="selector_first takes a value and a time"):
        q(qe, "SELECT selector_first(temp) FROM home")
    with pytest.raises(QueryError, match="must be a timestamp"):
        q(qe, "SELECT selector_first(temp, hum) FROM home")


# -- tz and date_bin_wallclock -------------------------------------------------------
def test_tz_keeps_the_instant_and_sets_the_zone(qe):
    t = q(qe, "SELECT tz(time, 'Europe/Brussels') AS b, tz(time) AS u FROM home WHERE room = 'kitchen' ORDER BY time LIMIT 1")
    assert t.schema.field("b").type == pa.timestamp("ns", "Europe/Brussels")
    assert t.schema.field("u").type == pa.timestamp("ns", "UTC")
    assert ns(t, "b") == [0] and ns(t, "u") == [0]


def test_tz_rejects_unknown_zones(qe):
    with pytest.raises(QueryError, match="'Mars/Olympus' is not a valid time zone"):
        q(qe, "SELECT tz(time, 'Mars/Olympus') FROM home")


def _utc(table: pa.Table) -> str:
    v = table.column(0).cast(pa.int64()).to_pylist()[0]
    return datetime.fromtimestamp(v // SEC, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_date_bin_wallclock_bins_on_local_days(qe):
    t = q(qe, "SELECT DISTINCT date_bin_wallclock(INTERVAL '1 day', tz(time, 'Europe/Brussels')) AS d FROM home")
    assert t.schema.field("d").type == pa.timestamp("ns", "Europe/Brussels")
    assert ns(t, "d") == [-3600]  # local midnight (UTC+1 in January)


@pytest.mark.parametrize("utc, interval, origin, expected", [
    ("2024-03-31T12:00:00", "1 day", None, "2024-03-30T23:00:00Z"),  # DST day: midnight was still +1
    ("2024-03-31T10:00:00", "1 day", "1970-01-01T02:30:00", "2024-03-31T01:30:00Z"),  # 02:30 does not exist
    ("2024-10-27T01:10:00", "1 hour", None, "2024-10-27T01:00:00Z"),  # 02:00 twice, short interval: own offset
    ("2024-10-27T01:10:00", "1 day", "1970-01-01T02:00:00", "2024-10-27T00:00:00Z"),  # long interval: the earlier
])
def test_date_bin_wallclock_across_dst(qe, utc, interval, origin, expected):
    extra = f", '{origin}'" if origin else ""
    t = q(qe, f"SELECT date_bin_wallclock(INTERVAL '{interval}', tz(TIMESTAMP '{utc}', 'Europe/Brussels'){extra})")
    assert _utc(t) == expected


def test_date_bin_wallclock_without_zone_is_date_bin(qe):
    t = q(qe, "SELECT DISTINCT date_bin_wallclock(INTERVAL '2 minutes', time) = date_bin(INTERVAL '2 minutes', time) AS same FROM home")
    assert t.column("same").to_pylist() == [True]


# -- gap filling -----------------------------------------------------------------
GAPFILL = (
    "SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS t, room, avg(temp) AS a, locf(avg(temp)) AS l, "
    "interpolate(avg(temp)) AS i, count(temp) AS c FROM home "
    f"WHERE time >= '{iso(0)}' AND time < '{iso(360)}' GROUP BY t, room"
)


def test_gapfill_with_locf_and_interpolate(qe):
    t = q(qe, GAPFILL + " ORDER BY room, t")
    assert t.column("room").to_pylist() == ["kitchen"] * 6 + ["living"] * 6
    assert ns(t, "t") == [0, 60, 120, 180, 240, 300] * 2
    assert t.column("a").to_pylist() == [20.0, 22.0, None, None, 22.0, None, 18.0, 25.0, None, 31.0, None, None]
    # locf: the last non-null value (also over a bin whose aggregate is null)
    assert t.column("l").to_pylist() == [20.0, 22.0, 22.0, 22.0, 22.0, 22.0, 18.0, 25.0, 25.0, 31.0, 31.0, 31.0]
    # interpolate: inserted bins between two values; kitchen's 180 follows a null bin, so stays null
    assert t.column("i").to_pylist() == [20.0, 22.0, None, None, 22.0, None, 18.0, 25.0, 28.0, 31.0, None, None]
    assert t.column("c").to_pylist() == [1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0]  # count is 0 in inserted bins


def test_gapfill_orders_by_series_then_time_by_default(qe):
    assert q(qe, GAPFILL).to_pylist() == q(qe, GAPFILL + " ORDER BY room, t").to_pylist()


def test_gapfill_order_limit_and_params(qe):
    sql = ("SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS t, room, locf(max(hum)) AS h FROM home "
           "WHERE time >= $start AND time < $stop GROUP BY 1, 2 ORDER BY t DESC, room LIMIT 3")
    t = q(qe, sql, {"start": iso(0), "stop": iso(360)})
    assert ns(t, "t") == [300, 300, 240]
    assert t.column("room").to_pylist() == ["kitchen", "living", "kitchen"]
    assert t.column("h").to_pylist() == [50, 31, 47]
    assert t.schema.field("h").type == pa.int64()


def test_gapfill_without_groups_and_inclusive_bounds(qe):
    t = q(qe, "SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS t, locf(max(hum)) AS m FROM home "
              f"WHERE time BETWEEN '{iso(0)}' AND '{iso(480)}' GROUP BY 1")
    assert ns(t, "t") == [0, 60, 120, 180, 240, 300, 360, 420, 480]
    assert t.column("m").to_pylist() == [40, 44, 41, 31, 47, 50, 50, 50, 50]


def test_gapfill_default_column_names(qe):
    t = q(qe, "SELECT date_bin_gapfill(INTERVAL '1 minute', time), locf(max(hum)) FROM home "
              f"WHERE time >= '{iso(0)}' AND time < '{iso(120)}' GROUP BY 1")
    assert t.column_names[0].startswith("date_bin_gapfill(")
    assert t.column_names[1] == "locf(max(home.hum))"


def test_date_bin_wallclock_gapfill_bins_on_the_local_clock(qe):
    t = q(qe, "SELECT date_bin_wallclock_gapfill(INTERVAL '1 hour', tz(time, 'Asia/Kolkata')) AS t, count(temp) AS c, "
              f"locf(max(hum)) AS h FROM home WHERE time >= '{iso(-3600)}' AND time < '{iso(3600)}' GROUP BY 1")
    assert t.schema.field("t").type == pa.timestamp("ns", "Asia/Kolkata")
    assert ns(t, "t") == [-5400, -1800, 1800]  # local 04:00, 05:00, 06:00 (UTC+05:30)
    assert t.column("c").to_pylist() == [0, 6, 0]
    assert t.column("h").to_pylist() == [None, 50, 50]


def test_explain_of_statements_with_these_functions(qe):
    t = q(qe, "EXPLAIN SELECT selector_max(temp, time) FROM home")
    assert "selector_max" in " ".join(str(v) for v in t.column("plan").to_pylist())
    t = q(qe, "EXPLAIN " + GAPFILL)  # the aggregate the filling starts from
    plans = " ".join(str(v) for v in t.column("plan").to_pylist())
    assert "date_bin" in plans and "Aggregate" in plans


@pytest.mark.parametrize("where, message", [
    (f"time < '{iso(60)}'", "gap-filling query is missing lower time bound"),
    (f"time >= '{iso(0)}'", "gap-filling query is missing upper time bound"),
    ("room = 'kitchen'", "gap-filling query is missing both upper and lower time bounds"),
    (f"time >= '{iso(0)}' AND time < hum", "upper time bound for gap fill query must evaluate to a scalar"),
])
def test_gapfill_needs_both_time_bounds(qe, where, message):
    with pytest.raises(QueryError, match=message):
        q(qe, f"SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS t, avg(temp) FROM home WHERE {where} GROUP BY 1")


def test_locf_and_interpolate_need_a_gapfill_query(qe):
    with pytest.raises(QueryError, match="locf may only be used in the SELECT list of a gap-filling query"):
        q(qe, "SELECT locf(avg(temp)) FROM home")
    with pytest.raises(QueryError, match="interpolate needs a numeric column"):
        q(qe, "SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS t, interpolate(max(label)) FROM home "
              f"WHERE time >= '{iso(0)}' AND time < '{iso(60)}' GROUP BY 1")


# -- iox::column::type -------------------------------------------------------------
def kinds(t: pa.Table) -> dict:
    return {f.name: (f.metadata or {}).get(KEY, b"").decode() or None for f in t.schema}


def test_column_type_metadata_of_plain_columns(qe):
    assert kinds(q(qe, "SELECT * FROM home LIMIT 1")) == {
        "room": "iox::column_type::tag",
        "hum": "iox::column_type::field::integer",
        "label": "iox::column_type::field::string",
        "ok": "iox::column_type::field::boolean",
        "temp": "iox::column_type::field::float",
        "time": "iox::column_type::timestamp",
    }


def test_column_type_metadata_follows_columns_not_expressions(qe):
    t = q(qe, "SELECT h.room AS r, temp * 2 AS d, time FROM home AS h LIMIT 1")
    assert kinds(t) == {"r": "iox::column_type::tag", "d": None, "time": "iox::column_type::timestamp"}
    t = q(qe, "SELECT room, avg(temp) AS a, selector_max(temp, time) AS s FROM home GROUP BY room")
    assert kinds(t) == {"room": "iox::column_type::tag", "a": None, "s": None}
    t = q(qe, GAPFILL)
    assert kinds(t)["room"] == "iox::column_type::tag" and kinds(t)["t"] is None


def test_column_type_metadata_through_subqueries_ctes_and_joins(qe):
    t = q(qe, "SELECT x.room, x.t2 FROM (SELECT room, temp * 2 AS t2 FROM home WHERE hum > 0) x LIMIT 1")
    assert kinds(t) == {"room": "iox::column_type::tag", "t2": None}
    t = q(qe, "WITH c AS (SELECT room, hum FROM home) SELECT * FROM c ORDER BY hum LIMIT 1")
    assert kinds(t) == {"room": "iox::column_type::tag", "hum": "iox::column_type::field::integer"}
    t = q(qe, "SELECT a.room, b.temp AS bt FROM home a JOIN home b ON a.room = b.room AND a.time = b.time LIMIT 1")
    assert kinds(t) == {"room": "iox::column_type::tag", "bt": "iox::column_type::field::float"}


def test_column_type_metadata_over_flight(server, http, unique_db):
    r = http.write(unique_db, "home,room=kitchen temp=20.5,hum=40i,label=\"a\",ok=true,n=3u 1000\n")
    assert r.status in (200, 204), r.body
    port = int(re.search(r"Arrow Flight queries on grpc\+tcp://\S+:(\d+)", server.stderr).group(1))
    client = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {server.token}".encode())])
    sql = "SELECT room, temp, hum, label, ok, n, time, temp + 1 AS t1 FROM home"
    ticket = flight.Ticket(json.dumps({"database": unique_db, "sql_query": sql, "query_type": "sql"}).encode())
    t = client.do_get(ticket, options).read_all()
    assert kinds(t) == {
        "room": "iox::column_type::tag", "temp": "iox::column_type::field::float",
        "hum": "iox::column_type::field::integer", "label": "iox::column_type::field::string",
        "ok": "iox::column_type::field::boolean", "n": "iox::column_type::field::uinteger",
        "time": "iox::column_type::timestamp", "t1": None,
    }
    client.close()
    r = http.query(unique_db, sql, fmt="parquet")  # the Arrow-typed HTTP format keeps them too
    assert r.status == 200, r.body
    assert kinds(pq.read_table(io.BytesIO(r.body)))["room"] == "iox::column_type::tag"


def test_wallclock_bins_across_spring_forward():
    from pe_engine.storage.sqlfn.timefns import wallclock_series

    def utc(text: str) -> int:
        return int(datetime.strptime(text, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc).timestamp()) * SEC

    # local 01:00, 02:00 (does not exist: the offset before it, so 01:00Z) and 03:00 (01:00Z too)
    got = wallclock_series(utc("2024-03-31T00:30"), utc("2024-03-31T01:30"), "Europe/Brussels", 3600 * SEC, 0)
    assert got.to_pylist() == [utc("2024-03-31T00:00"), utc("2024-03-31T01:00")]
