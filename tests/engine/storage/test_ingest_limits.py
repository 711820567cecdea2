"""Ingest with the parser's limits and error cap (issue 9): what an Engine write reports and
keeps when a body goes past the catalog's column and table limits or is full of bad lines."""
from __future__ import annotations

import pytest

from pe_engine.lineprotocol.types import MAX_REPORTED_ERRORS, LineErrors

pytestmark = pytest.mark.asyncio


async def test_column_limit_counts_columns_the_catalog_already_has(engine):
    engine.catalog.max_columns = 10
    assert not (await engine.write_lp("db", "t,h=a f0=1i 1")).errors  # time, h, f0
    body = "\n".join(f"t,h=a f{i}=1i {i + 2}" for i in range(1, 20))
    r = await engine.write_lp("db", body)
    assert r.lines_written == 7  # f1..f7 fit: 3 + 7 = 10 columns
    assert isinstance(r.errors, LineErrors) and r.errors.total == 12
    assert r.errors[0].message == "table 't' would have 11 columns, over the limit of 10"
    assert r.errors[0].original_line == "t,h=a f8=1i 10"
    assert len(engine.catalog.databases["db"].tables["t"].columns) == 10


async def test_table_limit_counts_tables_the_catalog_already_has(engine):
    engine.catalog.max_tables = 3
    assert not (await engine.write_lp("db", "a v=1 1\nb v=1 1")).errors
    r = await engine.write_lp("db", "c v=1 1\nd v=1 1\na v=2 2\ne v=1 1")
    assert r.lines_written == 2
    assert [(e.line_number, e.message) for e in r.errors] == [
        (2, "table 'd' cannot be created: database 'db' has reached the limit of 3 tables"),
        (4, "table 'e' cannot be created: database 'db' has reached the limit of 3 tables"),
    ]
    assert sorted(engine.catalog.databases["db"].tables) == ["a", "b", "c"]


async def test_bad_lines_are_reported_up_to_the_cap_and_counted(engine):
    body = "\n".join(["m v=1 1"] + [f"m v=oops{i}" for i in range(5_000)] + ["m v=2 2"])
    before = engine.stats.rejected_lines
    r = await engine.write_lp("db", body)
    assert r.lines_written == 2
    assert len(r.errors) == MAX_REPORTED_ERRORS and r.errors.total == 5_000
    assert engine.stats.rejected_lines - before == 5_000
    strict = await engine.write_lp("db", body, accept_partial=False)
    assert strict.rejected_all and strict.lines_written == 0


async def test_catalog_types_judge_a_body_however_many_lines_disagree(engine):
    assert not (await engine.write_lp("db", "m v=1 1")).errors  # v is a float
    body = "\n".join(["m v=1i 2"] + [f"m v={i}.5 {i + 3}" for i in range(300)] + ["m v=2i 999"] * 150)
    r = await engine.write_lp("db", body)
    # the lines that disagree with the catalog are rejected, every other one is written
    assert r.lines_written == 300
    assert r.errors.total == 151 and len(r.errors) == MAX_REPORTED_ERRORS
    assert r.errors[0].line_number == 1
    assert r.errors[0].message == ("invalid column type for column 'v', expected iox::column_type::field::float, "
                                   "got iox::column_type::field::integer")
