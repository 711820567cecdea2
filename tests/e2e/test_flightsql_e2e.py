"""Flight SQL against a real `pe serve`, with real clients: ADBC's Flight SQL driver,
flightsql-dbapi and its SQLAlchemy dialect, and pyarrow.flight for the error cases."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import adbc_driver_flightsql.dbapi as adbc
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from flightsql import flightsql_pb2 as pb
from google.protobuf import any_pb2

from support.http import Http
from support.numpy_site import run_with_pandas

CLIENTS = Path(__file__).parent / "clients"
FLIGHT_LINE = re.compile(r"Arrow Flight queries on grpc\+tcp://(\S+):(\d+)")
TOKEN_PATH = "/api/v3/configure/token"


def flight_address(srv) -> tuple[str, int]:
    """Where the server's Flight (SQL) service listens: the one place to change when it moves."""
    m = FLIGHT_LINE.search(srv.stderr)
    assert m, srv.stderr
    return "127.0.0.1", int(m.group(2))


def adbc_connect(srv, db: str, token: str | None = None) -> adbc.Connection:
    host, port = flight_address(srv)
    kwargs = {"adbc.flight.sql.rpc.call_header.database": db,
              "adbc.flight.sql.authorization_header": f"Bearer {token if token is not None else srv.token}"}
    return adbc.connect(f"grpc://{host}:{port}", db_kwargs=kwargs)


def raw(srv) -> flight.FlightClient:
    host, port = flight_address(srv)
    return flight.FlightClient(f"grpc+tcp://{host}:{port}")


def opts(token: str | None, db: str | None) -> flight.FlightCallOptions:
    headers = []
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if db is not None:
        headers.append((b"database", db.encode()))
    return flight.FlightCallOptions(headers=headers)


def command(message) -> flight.FlightDescriptor:
    a = any_pb2.Any()
    a.Pack(message)
    return flight.FlightDescriptor.for_command(a.SerializeToString())


def http_table(http: Http, db: str, sql: str) -> pa.Table:
    r = http.query(db, sql, fmt="parquet")
    assert r.status == 200, r.body
    return pq.read_table(io.BytesIO(r.body))


def write_cpu(http: Http, db: str) -> None:
    body = ("cpu,host=a,region=us usage=1.5,n=3i 1000\ncpu,host=b,region=eu usage=2.5 2000\n"
            "cpu,host=c,region=eu usage=3.5 3000\nmem,host=a free=10i 1000")
    assert http.write(db, body).status == 204


def read_token(http: Http, db: str, name: str) -> str:
    body = {"token_name": name, "permissions": [{"resource_type": "db", "resource_identifier": [db],
                                                 "actions": ["read"]}]}
    r = http.request("POST", TOKEN_PATH, body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body
    return r.json()["token"]


def test_adbc_statement_equals_http_answer(server, http: Http, unique_db: str):
    write_cpu(http, unique_db)
    sql = "SELECT host, region, usage, n, time FROM cpu ORDER BY time"
    with adbc_connect(server, unique_db) as conn, conn.cursor() as cur:
        cur.execute(sql)
        got = cur.fetch_arrow_table()
        expected = http_table(http, unique_db, sql)
        assert got.num_rows == 3
        assert got.to_pylist() == expected.to_pylist()
        assert got.schema.names == expected.schema.names
        assert [f.type for f in got.schema] == [f.type for f in expected.schema]
        cur.execute("SELECT count(*) AS c FROM cpu WHERE usage > 100")
        assert cur.fetchall() == [(0,)]
        cur.execute("SHOW TABLES")  # not a subquery: its schema is found by running it
        assert ("cpu",) in [(r[2],) for r in cur.fetchall()]


def test_adbc_prepared_statement_parameters(server, http: Http, unique_db: str):
    write_cpu(http, unique_db)
    with adbc_connect(server, unique_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT host, usage FROM cpu WHERE region = $1 AND usage > $2 ORDER BY host",
                    parameters=("eu", 2.6))
        assert cur.fetchall() == [("c", 3.5)]
        cur.execute("SELECT host FROM cpu WHERE host = ? OR host = ? ORDER BY host", parameters=("a", "c"))
        assert cur.fetchall() == [("a",), ("c",)]
        # the same statement again with new values (ADBC re-binds on the prepared handle)
        cur.execute("SELECT host FROM cpu WHERE host = ? OR host = ? ORDER BY host", parameters=("b", "x"))
        assert cur.fetchall() == [("b",)]
        # explicit prepare, then execute
        cur.adbc_prepare("SELECT count(*) AS c FROM cpu")
        cur.execute("SELECT count(*) AS c FROM cpu")
        assert cur.fetchall() == [(3,)]


def test_adbc_metadata(server, http: Http, unique_db: str):
    write_cpu(http, unique_db)
    with adbc_connect(server, unique_db) as conn:
        assert set(conn.adbc_get_table_types()) == {"BASE TABLE", "VIEW"}
        schema = conn.adbc_get_table_schema("cpu", catalog_filter="public", db_schema_filter="iox")
        expected = http_table(http, unique_db, "SELECT * FROM cpu LIMIT 0").schema
        assert schema.names == expected.names
        assert schema.field("usage").type == pa.float64() and schema.field("n").type == pa.int64()

        objects = conn.adbc_get_objects().read_all().to_pylist()
        assert [c["catalog_name"] for c in objects] == ["public"]
        schemas = {s["db_schema_name"]: s for s in objects[0]["catalog_db_schemas"]}
        assert {"iox", "system", "information_schema"} <= set(schemas)
        iox = {t["table_name"]: t for t in schemas["iox"]["db_schema_tables"]}
        assert set(iox) == {"cpu", "mem"}
        assert [c["column_name"] for c in iox["mem"]["table_columns"]] == ["host", "free", "time"]

        only = conn.adbc_get_objects(depth="tables", table_name_filter="c_u").read_all().to_pylist()
        tables = [t["table_name"] for s in only[0]["catalog_db_schemas"] for t in s["db_schema_tables"] or []]
        assert tables == ["cpu"]

        info = conn.adbc_get_info()
        assert info["vendor_name"] == "pe (InfluxDB 3 compatible)"
        assert info["vendor_version"] == __import__("pe_engine").__version__
        assert info["vendor_arrow_version"] == pa.__version__
        assert info["driver_name"] == "ADBC Flight SQL Driver - Go"


def test_flightsql_dbapi_and_sqlalchemy(server, http: Http, unique_db: str, pandas_site: Path):
    write_cpu(http, unique_db)
    host, port = flight_address(server)
    proc = run_with_pandas(pandas_site, CLIENTS / "flightsql_dbapi_check.py", host, str(port), server.token, unique_db)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_metadata_commands_with_pyarrow(server, http: Http, unique_db: str):
    write_cpu(http, unique_db)
    c, o = raw(server), opts(server.token, unique_db)

    def fetch(msg) -> pa.Table:
        info = c.get_flight_info(command(msg), o)
        assert len(info.endpoints) == 1 and list(info.endpoints[0].locations) == []
        table = c.do_get(info.endpoints[0].ticket, o).read_all()
        assert table.schema.equals(info.schema)  # the spec's schema, exactly as announced
        return table

    assert fetch(pb.CommandGetCatalogs()).to_pylist() == [{"catalog_name": "public"}]
    assert fetch(pb.CommandGetDbSchemas(db_schema_filter_pattern="i%")).column("db_schema_name").to_pylist() \
        == ["information_schema", "iox"]
    assert fetch(pb.CommandGetDbSchemas(catalog="other")).num_rows == 0
    t = fetch(pb.CommandGetTables(db_schema_filter_pattern="iox", table_name_filter_pattern="%e%",
                                  include_schema=True))
    assert t.column("table_name").to_pylist() == ["mem"]
    assert pa.ipc.read_schema(pa.py_buffer(t.column("table_schema")[0].as_py())).names == ["host", "free", "time"]
    assert fetch(pb.CommandGetTables(table_types=["VIEW"], db_schema_filter_pattern="iox")).num_rows == 0
    assert "queries" in fetch(pb.CommandGetTables(db_schema_filter_pattern="system")).column("table_name").to_pylist()
    assert fetch(pb.CommandGetTables(table_name_filter_pattern="cpu\\_")).num_rows == 0  # escaped _
    info = {r["info_name"]: r["value"] for r in fetch(pb.CommandGetSqlInfo(info=[0, 3, 504, 508])).to_pylist()}
    assert info[0] == "pe (InfluxDB 3 compatible)" and info[3] is True and info[504] == '"'
    assert "select" in info[508]
    assert fetch(pb.CommandGetSqlInfo()).num_rows > 30
    types = fetch(pb.CommandGetXdbcTypeInfo())
    assert "VARCHAR" in types.column("type_name").to_pylist()
    assert fetch(pb.CommandGetXdbcTypeInfo(data_type=-5)).column("type_name").to_pylist() == ["BIGINT"]
    # GetSchema answers the same schema without running anything
    assert c.get_schema(command(pb.CommandStatementQuery(query="SELECT host FROM cpu")), o).schema.names == ["host"]


def test_errors_are_clear_and_the_server_keeps_serving(server, http: Http, unique_db: str):
    write_cpu(http, unique_db)
    other = unique_db + "_x"
    assert http.write(other, "m v=1 1").status == 204
    reader = read_token(http, other, f"fsql-{unique_db}")
    c = raw(server)
    stmt = command(pb.CommandStatementQuery(query="SELECT * FROM cpu"))

    with pytest.raises(flight.FlightUnauthenticatedError, match="missing token"):
        c.get_flight_info(stmt, opts(None, unique_db))
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid token"):
        c.get_flight_info(stmt, opts("apiv3_wrong", unique_db))
    with pytest.raises(flight.FlightUnauthorizedError, match="no read permission on database"):
        c.get_flight_info(stmt, opts(reader, unique_db))
    with pytest.raises(adbc_driver_manager.Error, match="(?i)unauthenticated|invalid token"):
        with adbc_connect(server, unique_db, token="apiv3_wrong") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    with pytest.raises(adbc_driver_manager.Error, match="no read permission"):
        with adbc_connect(server, unique_db, token=reader) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM cpu")
    ok = opts(server.token, unique_db)
    with pytest.raises(flight.FlightServerError, match="database not found: nope"):
        c.get_flight_info(stmt, opts(server.token, "nope"))
    with pytest.raises(adbc_driver_manager.Error, match="database not found: nope"):
        with adbc_connect(server, "nope") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    with pytest.raises(pa.ArrowInvalid, match="no database: send the gRPC header 'database"):
        c.get_flight_info(stmt, opts(server.token, None))
    with pytest.raises(pa.ArrowNotImplementedError, match="CommandStatementUpdate is not supported"):
        c.get_flight_info(command(pb.CommandStatementUpdate(query="DELETE FROM cpu")), ok)
    with pytest.raises(pa.ArrowNotImplementedError, match="CommandGetPrimaryKeys is not supported"):
        c.get_flight_info(command(pb.CommandGetPrimaryKeys(table="cpu")), ok)
    with pytest.raises(pa.ArrowNotImplementedError, match="BeginTransaction is not supported"):
        list(c.do_action(flight.Action("BeginTransaction", b""), ok))
    garbage = flight.FlightDescriptor.for_command(b"\x0a\xff\xff\xff")
    with pytest.raises(pa.ArrowInvalid, match="invalid Flight SQL command"):
        c.get_flight_info(garbage, ok)
    other_any = any_pb2.Any(type_url="type.googleapis.com/foo.Bar", value=b"").SerializeToString()
    with pytest.raises(pa.ArrowInvalid, match="unknown command type 'type.googleapis.com/foo.Bar'"):
        c.get_flight_info(flight.FlightDescriptor.for_command(other_any), ok)
    bad_inner = any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery",
                            value=b"\x0a\x05ab").SerializeToString()
    with pytest.raises(pa.ArrowInvalid, match="malformed CommandStatementQuery"):
        c.get_flight_info(flight.FlightDescriptor.for_command(bad_inner), ok)
    with pytest.raises(flight.FlightServerError, match="(?i)table 'public.iox.nope' not found|nope"):
        c.get_flight_info(command(pb.CommandStatementQuery(query="SELECT * FROM nope")), ok)
    forged = any_pb2.Any()
    forged.Pack(pb.TicketStatementQuery(statement_handle=json.dumps(
        {"v": 1, "database": unique_db, "sql": "SELECT * FROM cpu"}).encode()))
    with pytest.raises(flight.FlightUnauthorizedError):  # a ticket names its database: read is checked there
        c.do_get(flight.Ticket(forged.SerializeToString()), opts(reader, other)).read_all()
    with pytest.raises(pa.ArrowInvalid, match="unknown prepared statement handle"):
        c.get_flight_info(command(pb.CommandPreparedStatementQuery(prepared_statement_handle=b"x" * 16)), ok)

    # still serving, both kinds of ticket
    info = c.get_flight_info(stmt, ok)
    assert c.do_get(info.endpoints[0].ticket, ok).read_all().num_rows == 3
    ticket = flight.Ticket(json.dumps({"database": unique_db, "sql_query": "SELECT * FROM cpu",
                                       "query_type": "sql"}).encode())
    assert c.do_get(ticket, ok).read_all().num_rows == 3
    with adbc_connect(server, unique_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM cpu")
        assert cur.fetchone() == (3,)


SLOW = "SELECT count(*) AS n FROM t a CROSS JOIN t b CROSS JOIN t c WHERE a.v + b.v + c.v = -1"


def test_statements_are_governed_by_query_timeout(server_factory, admin_token, tmp_path):
    srv = server_factory(tmp_path / "gov", admin_token, ["--query-timeout", "2s"])
    http = Http(srv.url, srv.token)
    assert http.write("gov", "\n".join(f"t,k=k{i % 7} v={i}i {i + 1}" for i in range(2000))).status == 204
    sql = SLOW + " AND a.k <> 'fsql'"
    with adbc_connect(srv, "gov") as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="did not finish") as e:
            cur.execute(sql)
            cur.fetchall()
        assert "TIMEOUT" in str(e.value).upper()
        statuses = [r["status"] for r in http.rows("gov", "SELECT query_text, status FROM system.queries")
                    if r["query_text"] == sql]
        assert statuses == ["timeout"]  # DoGet ran it through the governor (the LIMIT 0 schema plan is a record of its own)
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (2000,)
