"""Flight SQL pieces without a server: the protobuf codec (against known bytes and the
generated classes flightsql-dbapi ships), LIKE filters, placeholders and the handle store."""
from __future__ import annotations

import pyarrow as pa
import pytest
from flightsql import flightsql_pb2 as pb
from google.protobuf import any_pb2

from pe_engine.flight import flightsql_wire as wire
from pe_engine.flight.flightsql_catalog import TableRow, like, tables_table
from pe_engine.flight.flightsql_info import SQL_INFO_SCHEMA, sql_info_table, xdbc_type_info_table
from pe_engine.flight.prepared import PlaceholderError, PreparedStatements, bind, placeholders


def packed(msg) -> bytes:
    a = any_pb2.Any()
    a.Pack(msg)
    return a.SerializeToString()


def test_varints_against_known_bytes():
    assert wire.encode_varint(0) == b"\x00"
    assert wire.encode_varint(300) == b"\xac\x02"
    assert wire.encode_varint(-1) == b"\xff" * 9 + b"\x01"
    assert wire.decode_varint(b"\xac\x02", 0) == (300, 2)
    with pytest.raises(wire.WireError, match="truncated"):
        wire.decode_varint(b"\xac", 0)


def test_known_bytes_round_trip():
    raw = b"\x0a\x08SELECT 1"  # field 1, length 8
    assert wire.CommandStatementQuery.decode(raw) == wire.CommandStatementQuery("SELECT 1")
    assert wire.CommandStatementQuery("SELECT 1").encode() == raw
    assert wire.CommandGetSqlInfo([0, 504]).encode() == b"\x0a\x03\x00\xf8\x03"  # packed
    any_raw = wire.pack_any(wire.CommandGetCatalogs())
    assert any_raw == b"\x0a\x40" + wire.TYPE_URL_PREFIX.encode() + b"CommandGetCatalogs\x12\x00"


@pytest.mark.parametrize("msg", [
    pb.CommandStatementQuery(query="SELECT * FROM cpu WHERE host = 'ä'"),
    pb.CommandGetTables(catalog="public", db_schema_filter_pattern="io%", table_name_filter_pattern="c_u",
                        table_types=["BASE TABLE", "VIEW"], include_schema=True),
    pb.CommandGetTables(),
    pb.CommandGetDbSchemas(catalog=""),
    pb.CommandGetSqlInfo(info=[0, 1, 504, 508]),
    pb.CommandGetXdbcTypeInfo(data_type=-5),
    pb.CommandPreparedStatementQuery(prepared_statement_handle=b"\x00\x01h"),
    pb.ActionCreatePreparedStatementRequest(query="SELECT $1"),
    pb.ActionClosePreparedStatementRequest(prepared_statement_handle=b"h"),
])
def test_decodes_what_protobuf_encodes_and_back(msg):
    ours = wire.decode_command(packed(msg))
    assert isinstance(ours, wire.Message)
    for f in msg.DESCRIPTOR.fields:
        theirs = getattr(msg, f.name)
        if f.has_presence and not msg.HasField(f.name):
            theirs = None
        mine = getattr(ours, f.name)
        assert (list(mine) if isinstance(mine, list) else mine) == (list(theirs) if f.name in
                                                                    ("info", "table_types") else theirs)
    back = type(msg)()
    back.ParseFromString(ours.encode())
    assert back == msg


def test_result_messages_read_by_protobuf():
    r = wire.ActionCreatePreparedStatementResult(b"h", b"ds", b"ps")
    a = any_pb2.Any()
    a.ParseFromString(wire.pack_any(r))
    got = pb.ActionCreatePreparedStatementResult()
    assert a.Unpack(got) and (got.prepared_statement_handle, got.dataset_schema, got.parameter_schema) == \
        (b"h", b"ds", b"ps")


def test_malformed_and_foreign_bytes():
    with pytest.raises(wire.WireError):
        wire.decode_command(b"\x0a\xff\xff\xff")
    with pytest.raises(wire.WireError, match="unknown command type"):
        wire.decode_command(any_pb2.Any(type_url="type.googleapis.com/x.Y").SerializeToString())
    assert wire.decode_command(packed(pb.CommandStatementUpdate(query="x"))) == "CommandStatementUpdate"
    with pytest.raises(wire.WireError, match="malformed CommandGetTables"):
        wire.CommandGetTables.decode(b"\x28\x01\x0a\x09abc")  # truncated string


def test_like_patterns():
    assert like("c%")("cpu") and not like("c%")("mem")
    assert like("c_u")("cpu") and not like("c_u")("cpuu")
    assert like(r"a\_b")("a_b") and not like(r"a\_b")("axb")
    assert like("a.b")("a.b") and not like("a.b")("axb")
    assert like(None)("anything")


def test_tables_filters_and_schema_column():
    rows = [TableRow("public", "iox", "cpu", "BASE TABLE"), TableRow("public", "system", "queries", "BASE TABLE"),
            TableRow("public", "information_schema", "tables", "VIEW")]
    t = tables_table(rows, "public", "%", None, ["VIEW"], None)
    assert t.column("table_name").to_pylist() == ["tables"]
    t = tables_table(rows, None, "iox", "cp%", [], lambda r: pa.schema([("x", pa.int64())]))
    assert pa.ipc.read_schema(pa.py_buffer(t.column("table_schema")[0].as_py())).names == ["x"]
    assert tables_table(rows, "other", None, None, [], None).num_rows == 0


def test_sql_info_is_the_spec_union():
    t = sql_info_table([504, 3, 508, 8, 12345])
    assert t.schema.equals(SQL_INFO_SCHEMA)
    assert [f.name for f in t.schema.field("value").type] == [
        "string_value", "bool_value", "bigint_value", "int32_bitmask", "string_list", "int32_to_int32_list_map"]
    got = {r["info_name"]: r["value"] for r in t.to_pylist()}
    assert got[504] == '"' and got[3] is True and got[8] == 0 and "select" in got[508] and 12345 not in got
    assert t.column("value").chunk(0).type_codes.to_pylist() == [0, 1, 4, 3]
    assert xdbc_type_info_table(93).column("datetime_subcode").to_pylist() == [3]


def test_placeholders_and_binding():
    ph = placeholders("SELECT '?', \"a?\" FROM t WHERE a = ? AND b = ? -- ?")
    assert ph.sql == "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b = $2 -- ?" and ph.names == ["1", "2"]
    assert placeholders("SELECT $h, $1, $h").names == ["h", "1"]
    with pytest.raises(PlaceholderError):
        placeholders("SELECT ?, $1")
    values = bind(placeholders("x = $h AND y = $k"), pa.table({"k": [2], "h": ["a"]}))
    assert values["h"].as_py() == "a" and values["k"].as_py() == 2
    values = bind(placeholders("x = $1 AND y = $2"), pa.table({"0": ["a"], "1": [2]}))
    assert values["1"].as_py() == "a" and values["2"].as_py() == 2
    with pytest.raises(ValueError, match="one row"):
        bind(placeholders("x = $1"), pa.table({"0": [1, 2]}))
    with pytest.raises(ValueError, match="1 parameter"):
        bind(placeholders("x = $1"), pa.table({"0": [1], "1": [2]}))


def test_prepared_store_is_bounded_and_expires():
    now = [0.0]
    store = PreparedStatements(capacity=3, idle_s=10, clock=lambda: now[0])
    handles = [store.create("db", f"SELECT {i}")[0] for i in range(3)]
    assert store.get(handles[0]) is not None  # now the most recently used
    h4, _ = store.create("db", "SELECT 4")
    assert len(store) == 3 and store.get(handles[1]) is None and store.get(handles[0]) is not None
    now[0] = 5.0
    assert store.get(h4) is not None
    now[0] = 12.0  # handles[0] and [2] idle 12 s, h4 7 s
    assert len(store) == 1 and store.get(h4) is not None
    assert store.close(h4) and not store.close(h4) and len(store) == 0
