"""Parsing in memory proportional to the cells of a body: sparse columns, limits enforced while
parsing, and line errors kept up to a cap (issue 9, "Bounded memory on bad input").

Both parsers must agree exactly, in what they store as well as in what they mean."""
from __future__ import annotations

import json
import tracemalloc
from array import array

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pe_engine.lineprotocol import parse as lp
from pe_engine.lineprotocol.repair import _lines_by_number, fill_lines, merge_line, take_rows
from pe_engine.lineprotocol.types import (
    MAX_ERROR_LINE,
    MAX_REPORTED_ERRORS,
    FieldType,
    LineError,
    LineErrors,
    ParsedTable,
    ParseResult,
    SchemaLimits,
)
from pe_engine.storage.batch import to_record_batch

needs_c = pytest.mark.skipif(not lp.c_extension_available(), reason="C extension not built")
NOW = 7


def run_c(body: bytes, **kw) -> ParseResult:
    return lp._parse_c(body, 1, NOW, kw.get("max_errors"), kw.get("limits"))


def run_py(body: bytes, **kw) -> ParseResult:
    return lp._parse_python(body, 1, NOW, kw.get("max_errors"), kw.get("limits"))


IMPLS = [pytest.param(run_py, id="python"), pytest.param(run_c, id="c", marks=needs_c)]


def stored(result: ParseResult) -> tuple:
    """Everything a parse keeps, as plain data (floats by repr, so 1 != 1.0 != True)."""

    def v(x: object) -> object:
        return (type(x).__name__, repr(x))

    tables = [
        (name, t.rows, t.line_numbers, t.time,
         [(k, [v(x) for x in t.tags[k]]) for k in t.tags],
         [(k, int(ft), [v(x) for x in vals]) for k, (ft, vals) in t.fields.items()],
         [(k, list(rows)) for k, rows in t.index.items()])
        for name, t in result.tables.items()
    ]
    errors = [(e.line_number, e.original_line, e.message) for e in result.errors]
    return tables, errors, result.rejected


def column_bomb(lines: int, table: str = "bomb") -> bytes:
    """A body whose every line adds a new column to one table (the issue's ~467 KiB body at 40k)."""
    return b"".join(f"{table} f{i}={i}i {i}\n".encode() for i in range(lines))


# ----------------------------------------------------------------------------- sparse storage


@pytest.mark.parametrize("parse", IMPLS)
def test_columns_hold_only_the_cells_present(parse):
    r = parse(b"m,a=1 x=1 1\nm,b=2 y=2i 2\nm,a=3,b=4 x=3,y=4i 3\nm x=5,z=t 4\n")
    t = r.tables["m"]
    assert t.rows == 4
    assert t.tags == {"a": ["1", "3"], "b": ["2", "4"]}
    assert t.fields == {"x": (FieldType.FLOAT, [1.0, 3.0, 5.0]), "y": (FieldType.INT, [2, 4]),
                        "z": (FieldType.BOOL, [True])}
    assert t.index == {"a": array("q", [0, 2]), "x": array("q", [0, 2, 3]), "b": array("q", [1, 2]),
                       "y": array("q", [1, 2]), "z": array("q", [3])}
    assert list(t.index) == ["a", "x", "b", "y", "z"]  # the order the body created the columns
    assert t.column("y") == [None, 2, 4, None]
    assert list(t.value_rows("x")) == [0, 2, 3]


@pytest.mark.parametrize("parse", IMPLS)
def test_a_column_every_row_has_stays_dense(parse):
    t = parse(b"m,h=a v=1 1\nm,h=b v=2,w=1i 2\nm,h=c v=3 3\n").tables["m"]
    assert t.tags == {"h": ["a", "b", "c"]} and t.fields["v"][1] == [1.0, 2.0, 3.0]
    assert list(t.index) == ["w"] and list(t.index["w"]) == [1]


@pytest.mark.parametrize("parse", IMPLS)
def test_column_bomb_costs_memory_per_cell_not_rows_times_columns(parse):
    body = column_bomb(5_000)
    tracemalloc.start()
    try:
        r = parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    t = r.tables["bomb"]
    assert t.rows == len(t.fields) == 5_000
    assert all(len(vals) == 1 for _, vals in t.fields.values())
    # padded to every row this is 5k x 5k slots (200 MB); per cell it is a few MB
    assert peak < 24 * 1024 * 1024, peak


SPARSE_LINES = st.lists(
    st.tuples(
        st.sampled_from(["m", "n"]),
        st.dictionaries(st.sampled_from(["t0", "t1", "t2"]), st.sampled_from(["a", "b"]), max_size=3),
        st.dictionaries(st.sampled_from(["f0", "f1", "f2", "f3", "s"]),
                        st.sampled_from(["1", "2i", "3u", "t", '"x"', "bad", "1.5"]), min_size=1, max_size=4),
    ),
    max_size=40,
)


def render(lines: list) -> bytes:
    out = []
    for m, tags, fields in lines:
        tag_part = "".join(f",{k}={v}" for k, v in tags.items())
        out.append(f"{m}{tag_part} " + ",".join(f"{k}={v}" for k, v in fields.items()))
    return "\n".join(out).encode()


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=SPARSE_LINES, max_errors=st.sampled_from([None, 0, 1, 3]),
       max_columns=st.sampled_from([0, 2, 3, 5]), max_tables=st.sampled_from([0, 1, 2]))
def test_c_matches_python_on_sparse_bodies_with_limits(lines, max_errors, max_columns, max_tables):
    known = {"n": {"time", "f0", "t1"}}
    limits = SchemaLimits("db", max_tables=max_tables, max_columns=max_columns, known_tables=len(known),
                          columns_of=known.get)
    typed = {"n": {"time": -2, "f0": int(FieldType.INT), "t1": -1, "s": int(FieldType.STRING)}}
    seeded = SchemaLimits("db", max_tables=max_tables, max_columns=max_columns, known_tables=1,
                          columns_of=typed.get)
    body = render(lines)
    for kw in ({}, {"max_errors": max_errors, "limits": limits}, {"max_errors": max_errors, "limits": seeded}):
        c, py = run_c(body, **kw), run_py(body, **kw)
        assert stored(c) == stored(py)
        for t in py.tables.values():  # the dense view is the same with or without sparse storage
            for k in [*t.tags, *t.fields]:
                rows = t.index.get(k)
                assert rows is None or len(rows) == len(t.values(k)) < t.rows


# ----------------------------------------------------------------------------- Arrow from sparse


def test_record_batch_from_sparse_equals_from_dense():
    r = lp.parse_lp(b"m,a=1 x=1 1\nm,b=2 y=2i,s=\"q\" 2\nm,a=3,b=4 x=3,y=4i 3\nm z=t,u=1u 4\n")
    sparse = r.tables["m"]
    dense = ParsedTable("m", sparse.rows, sparse.line_numbers, sparse.time, sparse.dense_tags(),
                        sparse.dense_fields())
    assert dense.index == {}
    assert to_record_batch(None, sparse).equals(to_record_batch(None, dense))  # type: ignore[arg-type]
    kept = to_record_batch(None, sparse, [1, 3])  # type: ignore[arg-type]
    assert kept.equals(to_record_batch(None, dense, [1, 3]))  # type: ignore[arg-type]
    assert kept.column("y").to_pylist() == [2, None]
    assert kept.column("b").to_pylist() == ["2", None]
    assert pa.types.is_dictionary(kept.schema.field("a").type)


def test_record_batch_of_a_column_bomb_is_built_in_bulk():
    t = lp.parse_lp(column_bomb(2_000)).tables["bomb"]
    batch = to_record_batch(None, t)  # type: ignore[arg-type]
    assert batch.num_rows == 2_000 and batch.num_columns == 2_001
    assert batch.column("f1999").null_count == 1_999
    assert batch.column("f1999").to_pylist()[-1] == 1999


def test_take_rows_and_merge_line_keep_sparse_columns_right():
    t = lp.parse_lp(b"m,a=1 x=1 1\nm y=2i 2\nm,a=3 x=3 3\n").tables["m"]
    kept = take_rows(t, [1, 2])
    assert kept.rows == 2 and kept.dense_tags() == {"a": [None, "3"]}
    assert kept.dense_fields() == {"x": (FieldType.FLOAT, [None, 3.0]), "y": (FieldType.INT, [2, None])}
    one = lp.parse_lp(b"m,b=z y=9i 4\n")
    merged = merge_line({}, {"m": t}, one, 4)
    assert merged is not None
    m = merged["m"]
    assert m.rows == 4 and m.line_numbers == [1, 2, 3, 4]
    assert m.column("y") == [None, 2, None, 9] and m.column("b") == [None, None, None, "z"]
    assert m.column("a") == ["1", None, "3", None]


# ----------------------------------------------------------------------------- limits while parsing


@pytest.mark.parametrize("parse", IMPLS)
def test_column_limit_stops_a_table_while_parsing(parse):
    limits = SchemaLimits("db", max_tables=10, max_columns=500, columns_of=lambda name: None)
    r = parse(column_bomb(5_000) + b"bomb f0=1i 1\nother v=1 2\n", max_errors=MAX_REPORTED_ERRORS, limits=limits)
    t = r.tables["bomb"]
    assert len(t.fields) == 499 and t.rows == 500  # + time = 500 columns; the last line reuses f0
    assert r.tables["other"].rows == 1  # the rest of the body goes on
    assert r.rejected == 5_000 - 499 and len(r.errors) == MAX_REPORTED_ERRORS
    e = r.errors[0]
    assert e.line_number == 500 and e.original_line == "bomb f499=499i 499"
    assert e.message == "table 'bomb' would have 501 columns, over the limit of 500"


@pytest.mark.parametrize("parse", IMPLS)
def test_column_limit_counts_what_the_catalog_has(parse):
    known = {"cpu": {"time", "host", "usage"}}
    limits = SchemaLimits("db", max_tables=10, max_columns=4, known_tables=1, columns_of=known.get)
    r = parse(b"cpu,host=a usage=1,idle=2 1\ncpu usage=3 2\ncpu,host=b usage=1,idle=2,steal=3 3\n"
              b"cpu,host=c new=1\n", limits=limits)
    assert r.tables["cpu"].line_numbers == [1, 2]
    assert [(e.line_number, e.message) for e in r.errors] == [
        (3, "table 'cpu' would have 5 columns, over the limit of 4"),
        (4, "table 'cpu' would have 5 columns, over the limit of 4"),
    ]


@pytest.mark.parametrize("parse", IMPLS)
def test_table_limit_stops_new_tables_while_parsing(parse):
    known = {"old": {"time", "v"}}
    limits = SchemaLimits("db", max_tables=3, max_columns=0, known_tables=1, columns_of=known.get)
    r = parse(b"a v=1\nbad v=\nb v=1\nc v=1\nold v=2\na v=3\nd v=1\n", limits=limits)
    assert list(r.tables) == ["a", "b", "old"] and r.tables["a"].rows == 2
    msg = "table '{}' cannot be created: database 'db' has reached the limit of 3 tables"
    assert [(e.line_number, e.message) for e in r.errors][1:] == [(4, msg.format("c")), (7, msg.format("d"))]


# ----------------------------------------------------------------------------- errors capped


@pytest.mark.parametrize("parse", IMPLS)
def test_errors_past_the_cap_are_only_counted(parse):
    body = b"\n".join([b"m v=1"] + [b"bad line %d" % i for i in range(10_000)] + [b"m v=2"])
    r = parse(body, max_errors=MAX_REPORTED_ERRORS)
    assert len(r.errors) == MAX_REPORTED_ERRORS and r.rejected == 10_000
    assert [e.line_number for e in r.errors] == list(range(2, 2 + MAX_REPORTED_ERRORS))
    assert r.tables["m"].rows == 2
    unlimited = parse(body)
    assert len(unlimited.errors) == unlimited.rejected == 10_000


@pytest.mark.parametrize("parse", IMPLS)
def test_a_huge_bad_line_is_reported_cut(parse):
    r = parse(b"m v=1 " + b"x" * 1_000_000 + "é".encode() * 10)
    (e,) = r.errors
    assert len(e.original_line) == MAX_ERROR_LINE and e.original_line.startswith("m v=1 xxx")


def test_fill_lines_finds_only_the_lines_it_needs():
    body = b"\n".join(b"line %d" % i for i in range(1, 200_001))
    errors = [LineError(7, "", "x"), LineError(199_999, "", "y"), LineError(3, "kept", "z")]
    fill_lines(errors, body)
    assert [e.original_line for e in errors] == ["line 7", "line 199999", "kept"]
    assert _lines_by_number(b"a\r\nb\n\nc", [1, 3, 4, 9]) == {1: b"a\r", 3: b"", 4: b"c"}


def test_write_response_reports_at_most_the_cap():
    from pe_engine.http.write import write_response
    from pe_engine.storage.writer import WriteResult

    errors = LineErrors([LineError(i, "m " + "v" * 300, "bad " * 1000) for i in range(1, 151)], omitted=1000)
    resp = write_response(WriteResult(database="db", errors=errors))
    assert resp.status == 400
    doc = json.loads(resp.body)  # type: ignore[arg-type]
    assert doc["error"] == "partial write of line protocol occurred"
    assert len(doc["data"]) == MAX_REPORTED_ERRORS and doc["omitted_errors"] == 1050
    assert set(doc["data"][0]) == {"original_line", "line_number", "error_message"}
    assert len(resp.body) < 200_000  # type: ignore[arg-type]


@pytest.mark.parametrize("parse", IMPLS)
def test_the_catalog_types_judge_the_body(parse):
    """With the catalog's types, a first line that disagrees with it is rejected alone and the
    lines after it are judged by the catalog (not rejected for disagreeing with that line)."""
    typed = {"m": {"time": -2, "v": int(FieldType.FLOAT), "h": -1}}
    limits = SchemaLimits("db", columns_of=typed.get, known_tables=1)
    body = b"m v=1i 1\n" + b"".join(b"m,h=a v=%d.5 %d\n" % (i, i + 2) for i in range(300)) + b"m h=1 9\nm,v=x y=1 9\n"
    r = parse(body, max_errors=MAX_REPORTED_ERRORS, limits=limits)
    assert r.tables["m"].rows == 300
    assert [(e.line_number, e.message) for e in r.errors] == [
        (1, "invalid column type for column 'v', expected iox::column_type::field::float, "
            "got iox::column_type::field::integer"),
        (302, "invalid column type for column 'h', expected iox::column_type::tag, "
              "got iox::column_type::field::float"),
        (303, "invalid column type for column 'v', expected iox::column_type::field::float, "
              "got iox::column_type::tag"),
    ]
