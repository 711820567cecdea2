"""Catalog rules: names, limits, type conflicts rejecting lines not bodies."""
import pyarrow as pa
import pytest

from pe_engine.errors import AlreadyExists, DatabaseNotFound, InvalidName, LimitExceeded
from pe_engine.lineprotocol.types import FieldType, ParsedTable
from pe_engine.storage.catalog import TAG_TYPE, Catalog, DatabaseDef, validate_db_name


def table(name, rows, tags=None, fields=None):
    return ParsedTable(
        name=name,
        rows=rows,
        line_numbers=list(range(1, rows + 1)),
        time=list(range(rows)),
        tags=tags or {},
        fields=fields or {},
    )


@pytest.mark.parametrize("name", ["db", "a1", "my-db_2", "X" * 64, "telegraf/autogen", "a/b"])
def test_valid_db_names(name):
    validate_db_name(name)


@pytest.mark.parametrize("name", ["", "_internal", "-x", "a b", "X" * 65, "é", "/a", "a/", "a//b", "a/b/c", "a/-b", "X" * 60 + "/" + "Y" * 4])
def test_invalid_db_names(name):
    with pytest.raises(InvalidName):
        validate_db_name(name)


def test_create_delete_and_limits():
    c = Catalog(max_databases=2)
    c.create_db("a")
    with pytest.raises(AlreadyExists):
        c.create_db("a")
    c.create_db("b")
    with pytest.raises(LimitExceeded) as e:
        c.create_db("c")
    assert "limit of 2 databases" in str(e.value)
    deleted = c.delete_db("a")
    assert deleted.id in c.deleted_ids
    with pytest.raises(DatabaseNotFound):
        c.get_db("a")


def test_plan_adds_tables_and_columns_in_influx_order():
    c = Catalog()
    db = c.create_db("d")
    pt = table("cpu", 2, tags={"host": ["a", "b"]}, fields={"v": (FieldType.FLOAT, [1.0, None])})
    plan = c.plan_write(db, {"cpu": pt})
    assert not plan.errors and plan.new_tables == ["cpu"]
    c.apply_plan(db, plan)
    schema = db.tables["cpu"].arrow_schema
    assert schema.names == ["host", "v", "time"]
    assert schema.field("host").type == TAG_TYPE
    assert schema.field("time").type == pa.timestamp("ns")


def test_type_conflict_rejects_only_the_rows_using_the_column():
    c = Catalog()
    db = c.create_db("d")
    c.apply_plan(db, c.plan_write(db, {"m": table("m", 1, fields={"temp": (FieldType.FLOAT, [1.0])})}))
    pt = table(
        "m",
        3,
        fields={
            "temp": (FieldType.STRING, [None, "hi", None]),
            "other": (FieldType.INT, [1, 2, 3]),
        },
    )
    plan = c.plan_write(db, {"m": pt})
    assert [e.line_number for e in plan.errors] == [2]
    assert plan.errors[0].message == (
        "invalid column type for column 'temp', expected iox::column_type::field::float, "
        "got iox::column_type::field::string"
    )
    assert plan.accepted["m"][1] == [0, 2]


def test_tag_field_clash_is_a_conflict():
    c = Catalog()
    db = c.create_db("d")
    c.apply_plan(db, c.plan_write(db, {"m": table("m", 1, tags={"x": ["a"]}, fields={"v": (FieldType.INT, [1])})}))
    plan = c.plan_write(db, {"m": table("m", 1, fields={"x": (FieldType.INT, [5])})})
    assert len(plan.errors) == 1 and "iox::column_type::tag" in plan.errors[0].message
    assert "m" not in plan.accepted


def test_column_limit_rejects_lines_that_add_columns():
    c = Catalog(max_columns_per_table=3)
    db = c.create_db("d")
    c.apply_plan(db, c.plan_write(db, {"m": table("m", 1, fields={"a": (FieldType.INT, [1])})}))
    pt = table("m", 2, fields={"a": (FieldType.INT, [1, 2]), "b": (FieldType.INT, [None, 1]), "c": (FieldType.INT, [None, 1])})
    plan = c.plan_write(db, {"m": pt})
    assert [e.line_number for e in plan.errors] == [2]
    assert "over the limit of 3" in plan.errors[0].message
    c.apply_plan(db, plan)
    assert list(db.tables["m"].columns) == ["time", "a"]


def test_table_limit():
    c = Catalog(max_tables_per_database=1)
    db = c.create_db("d")
    plan = c.plan_write(db, {"a": table("a", 1, fields={"v": (FieldType.INT, [1])}), "b": table("b", 1, fields={"v": (FieldType.INT, [1])})})
    assert list(plan.accepted) == ["a"]
    assert "limit of 1 tables" in plan.errors[0].message


def test_time_is_not_a_column_name():
    c = Catalog()
    db = DatabaseDef("d")
    plan = c.plan_write(db, {"m": table("m", 1, fields={"time": (FieldType.INT, [1])})})
    assert plan.errors and "'time'" in plan.errors[0].message
