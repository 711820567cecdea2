"""Result encodings in InfluxDB 3's shapes: json, jsonl, csv, parquet, pretty."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pe_engine.storage.catalog import TAG_TYPE
from pe_engine.storage.formats import FORMATS, encode

SEC = 1_000_000_000


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "host": pa.array(["a", None, "b,c"]).dictionary_encode().cast(TAG_TYPE),
            "usage": pa.array([1.0, None, 2.5]),
            "count": pa.array([1, 2, None], pa.int64()),
            "big": pa.array([2**64 - 1, None, 0], pa.uint64()),
            "ok": pa.array([True, None, False]),
            "note": pa.array(['say "hi"', "two\nlines", None]),
            "time": pa.array([0, 1_500_000_000, 2 * SEC + 1_000], pa.timestamp("ns")),
        }
    )


def test_json_is_an_array_of_objects_without_nulls(table):
    body, ctype = encode(table, "json")
    assert ctype == "application/json"
    assert json.loads(body) == [
        {"host": "a", "usage": 1.0, "count": 1, "big": 2**64 - 1, "ok": True, "note": 'say "hi"', "time": "1970-01-01T00:00:00"},
        {"count": 2, "note": "two\nlines", "time": "1970-01-01T00:00:01.500"},
        {"host": "b,c", "usage": 2.5, "big": 0, "ok": False, "time": "1970-01-01T00:00:02.000001"},
    ]
    assert body.startswith(b'[{"host":"a","usage":1.0,"count":1,')  # keys in column order, floats keep ".0"


def test_jsonl_is_one_object_per_line(table):
    body, ctype = encode(table, "jsonl")
    assert ctype == "application/jsonl"
    lines = body.decode().split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == json.loads(encode(table, "json")[0])


@pytest.mark.parametrize(
    "ns, text",
    [
        (0, "1970-01-01T00:00:00"),
        (1_000_000, "1970-01-01T00:00:00.001"),
        (1_000, "1970-01-01T00:00:00.000001"),
        (1, "1970-01-01T00:00:00.000000001"),
        (1_704_067_200 * SEC + 120_000_000, "2024-01-01T00:00:00.120"),
        (-1, "1969-12-31T23:59:59.999999999"),
    ],
)
def test_timestamps_are_iso_without_zone_and_fraction_only_when_needed(ns, text):
    t = pa.table({"time": pa.array([ns], pa.timestamp("ns"))})
    assert json.loads(encode(t, "json")[0]) == [{"time": text}]
    assert encode(t, "csv")[0].decode() == f"time\n{text}\n"


def test_csv_has_header_and_quotes_only_when_needed(table):
    body, ctype = encode(table, "csv")
    assert ctype == "text/csv"
    assert body.decode() == (
        "host,usage,count,big,ok,note,time\n"
        'a,1.0,1,18446744073709551615,true,"say ""hi""",1970-01-01T00:00:00\n'
        ',,2,,,"two\nlines",1970-01-01T00:00:01.500\n'
        '"b,c",2.5,,0,false,,1970-01-01T00:00:02.000001\n'
    )


def test_parquet_round_trips_types_including_tags(table):
    body, ctype = encode(table, "parquet")
    assert ctype == "application/vnd.apache.parquet"
    back = pq.read_table(io.BytesIO(body))
    assert back.schema.field("host").type == TAG_TYPE
    assert back.equals(table)


def test_pretty_is_an_ascii_box(table):
    body, ctype = encode(table.select(["host", "usage", "time"]), "pretty")
    assert ctype == "text/plain"
    assert body.decode() == (
        "+------+-------+----------------------------+\n"
        "| host | usage | time                       |\n"
        "+------+-------+----------------------------+\n"
        "| a    | 1.0   | 1970-01-01T00:00:00        |\n"
        "|      |       | 1970-01-01T00:00:01.500    |\n"
        "| b,c  | 2.5   | 1970-01-01T00:00:02.000001 |\n"
        "+------+-------+----------------------------+\n"
    )


def test_pretty_splits_multiline_cells():
    body, _ = encode(pa.table({"a": ["x\ny", "z"]}), "pretty")
    assert body.decode() == "+---+\n| a |\n+---+\n| x |\n| y |\n| z |\n+---+\n"


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("json", b"[]"),
        ("jsonl", b""),
        ("csv", b"host,usage,time\n"),
        ("pretty", b"+------+-------+------+\n| host | usage | time |\n+------+-------+------+\n+------+-------+------+\n"),
    ],
)
def test_empty_results(table, fmt, expected):
    empty = table.select(["host", "usage", "time"]).slice(0, 0)
    assert encode(empty, fmt)[0] == expected


def test_empty_parquet_keeps_schema(table):
    back = pq.read_table(io.BytesIO(encode(table.slice(0, 0), "parquet")[0]))
    assert back.num_rows == 0 and back.schema.equals(table.schema)


def test_row_with_only_nulls_is_an_empty_object():
    t = pa.table({"a": pa.array([None, 1], pa.int64())})
    assert encode(t, "json")[0] == b'[{},{"a":1}]'


def test_large_results_keep_row_order():
    n = 50_000
    t = pa.concat_tables(
        [pa.table({"i": pa.array(range(k, k + 1000), pa.int64())}) for k in range(0, n, 1000)]
    )
    assert [r["i"] for r in json.loads(encode(t, "json")[0])] == list(range(n))
    assert encode(t, "csv")[0].decode().split("\n")[1:-1] == [str(i) for i in range(n)]


def test_nested_types_fall_back_but_still_encode():
    t = pa.table({"ids": pa.array([[1, 2], None], pa.list_(pa.uint16())), "name": ["x", "y"]})
    assert json.loads(encode(t, "json")[0]) == [{"ids": [1, 2], "name": "x"}, {"name": "y"}]
    assert encode(t, "csv")[0].decode() == 'ids,name\n"[1,2]",x\n,y\n'
    assert "[1,2]" in encode(t, "pretty")[0].decode()


def test_unknown_format():
    assert FORMATS == ("json", "jsonl", "csv", "parquet", "pretty")
    with pytest.raises(ValueError, match="unknown format"):
        encode(pa.table({"a": [1]}), "xml")
