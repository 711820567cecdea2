"""Flight SQL over pe's Flight service: statements, prepared statements, catalog and info commands.

What ADBC, flightsql-dbapi, Grafana's InfluxDB 3 SQL mode and BI tools send. The flow, as
InfluxDB 3 serves it: GetFlightInfo(command) answers the result schema and one endpoint (no
location: this server) whose ticket DoGet then streams. A statement's ticket carries its
database and SQL (stateless, as InfluxDB 3's does); a metadata command's ticket is the command
itself; a prepared statement's is its handle (prepared.py keeps those, bounded). Every SQL
statement runs through calls.run_query, the governed path of the JSON-ticket DoGet.

The database is the gRPC header `database` (`bucket-name`, `iox-namespace-name`); the token
needs read on it. Commands pe does not serve (updates, Substrait, transactions, keys) answer
UNIMPLEMENTED, malformed protobuf INVALID_ARGUMENT; neither disturbs the server.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight

from . import flightsql_catalog as catalog
from . import flightsql_wire as wire
from .calls import authorize_read, caller_of, known_database, run_query
from .flightsql_info import SQL_INFO_SCHEMA, XDBC_TYPE_INFO_SCHEMA, sql_info_table, xdbc_type_info_table
from .prepared import Placeholders, PlaceholderError, Prepared, PreparedStatements, bind

if TYPE_CHECKING:
    from ..engine import Engine
    from ..http.auth import Auth

CREATE_PREPARED = "CreatePreparedStatement"
CLOSE_PREPARED = "ClosePreparedStatement"
ACTIONS = [(CREATE_PREPARED, "Create a prepared statement (SQL with $1/$name/? placeholders)"),
           (CLOSE_PREPARED, "Close a prepared statement")]
UNSUPPORTED_ACTIONS = frozenset({
    "BeginTransaction", "EndTransaction", "BeginSavepoint", "EndSavepoint", "CancelQuery",
    "CreatePreparedSubstraitPlan", "CancelFlightInfo", "RenewFlightEndpoint",
})
_HANDLE_VERSION = 1


def is_flightsql(raw: bytes) -> bool:
    """True for a serialized Any naming a Flight SQL message (the JSON ticket never is one)."""
    try:
        return wire.command_name(wire.unpack_any(raw)[0]) is not None
    except wire.WireError:
        return False


def _invalid(message: str) -> Exception:
    return pa.ArrowInvalid(message)  # gRPC INVALID_ARGUMENT


def _unsupported(what: str) -> Exception:
    return NotImplementedError(f"{what} is not supported by pe (a read-only SQL server: "
                               "statements, prepared statements and catalog commands only)")  # UNIMPLEMENTED


def _decode(raw: bytes) -> wire.Message:
    try:
        cmd = wire.decode_command(raw)
    except wire.WireError as e:
        raise _invalid(f"invalid Flight SQL command: {e}") from None
    if isinstance(cmd, str):
        raise _unsupported(f"Flight SQL {cmd}")
    return cmd


def _statement_handle(db: str, sql: str) -> bytes:
    return json.dumps({"v": _HANDLE_VERSION, "database": db, "sql": sql}).encode()


def _parse_statement_handle(handle: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(handle)
        if doc.get("v") != _HANDLE_VERSION or not isinstance(doc.get("database"), str) \
                or not isinstance(doc.get("sql"), str):
            raise ValueError
    except (ValueError, AttributeError, UnicodeDecodeError):
        raise _invalid("invalid statement handle: not one this server issued") from None
    return doc["database"], doc["sql"]


class FlightSql:
    """The Flight SQL half of PeFlightServer: one instance per server, thread-safe."""

    def __init__(self, engine: "Engine", auth: "Auth", prepared: PreparedStatements | None = None):
        self.engine = engine
        self.auth = auth
        self.prepared = prepared or PreparedStatements()

    # ---------------------------------------------------------------- the database of a call
    def _database(self, context: flight.ServerCallContext) -> str:
        caller = caller_of(context)
        db = caller.database if caller is not None else None
        if not db:
            raise _invalid("no database: send the gRPC header 'database: <name>' (ADBC: "
                           "adbc.flight.sql.rpc.call_header.database; also 'bucket-name' or 'iox-namespace-name')")
        return self._readable(context, db)

    def _readable(self, context: flight.ServerCallContext, db: str) -> str:
        authorize_read(self.auth, context, db)
        known_database(self.engine, db)
        return db

    def _query(self, context: flight.ServerCallContext, db: str, sql: str,
               params: dict[str, pa.Scalar] | None = None) -> pa.Table:
        return run_query(self.engine, context, db, sql, params)

    def _schema_of(self, context: flight.ServerCallContext, db: str, sql: str,
                   params: dict[str, pa.Scalar] | None = None) -> pa.Schema:
        """The answer's schema, planned (LIMIT 0) rather than run where SQL allows a subquery;
        statements that cannot be one (SHOW, EXPLAIN) are run for it."""
        body = sql.strip().rstrip(";").strip()
        try:
            return self._query(context, db, f"SELECT * FROM (\n{body}\n) AS pe_schema LIMIT 0", params).schema
        except flight.FlightServerError:
            return self._query(context, db, sql, params).schema

    # ---------------------------------------------------------------- GetFlightInfo / GetSchema
    def get_flight_info(self, context: flight.ServerCallContext,
                        descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        cmd = self._command_of(descriptor)
        schema, ticket = self._plan(context, cmd, descriptor.command)
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)

    def get_schema(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> pa.Schema:
        return self._plan(context, self._command_of(descriptor), descriptor.command)[0]

    @staticmethod
    def _command_of(descriptor: flight.FlightDescriptor) -> wire.Message:
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise _invalid("pe answers command descriptors (Flight SQL), not path descriptors")
        return _decode(descriptor.command)

    def _plan(self, context: flight.ServerCallContext, cmd: wire.Message, raw: bytes) -> tuple[pa.Schema, bytes]:
        """(result schema, ticket) of one command."""
        if isinstance(cmd, wire.CommandStatementQuery):
            if cmd.transaction_id:
                raise _unsupported("a transaction")
            db = self._database(context)
            if not cmd.query.strip():
                raise _invalid("empty SQL statement")
            schema = self._schema_of(context, db, cmd.query)
            return schema, wire.pack_any(wire.TicketStatementQuery(_statement_handle(db, cmd.query)))
        if isinstance(cmd, wire.CommandPreparedStatementQuery):
            stmt = self._prepared(context, cmd.prepared_statement_handle)
            return self._schema_of(context, stmt.db, stmt.sql, self._params(stmt)), raw
        if isinstance(cmd, wire.CommandGetCatalogs):
            return catalog.CATALOGS_SCHEMA, raw
        if isinstance(cmd, wire.CommandGetDbSchemas):
            self._database(context)
            return catalog.DB_SCHEMAS_SCHEMA, raw
        if isinstance(cmd, wire.CommandGetTables):
            self._database(context)
            return (catalog.TABLES_WITH_SCHEMA_SCHEMA if cmd.include_schema else catalog.TABLES_SCHEMA), raw
        if isinstance(cmd, wire.CommandGetTableTypes):
            return catalog.TABLE_TYPES_SCHEMA, raw
        if isinstance(cmd, wire.CommandGetSqlInfo):
            return SQL_INFO_SCHEMA, raw
        if isinstance(cmd, wire.CommandGetXdbcTypeInfo):
            return XDBC_TYPE_INFO_SCHEMA, raw
        raise _invalid(f"{cmd.name()} is not a command for GetFlightInfo")

    # ---------------------------------------------------------------- DoGet
    def do_get(self, context: flight.ServerCallContext, raw: bytes) -> pa.Table:
        cmd = _decode(raw)
        if isinstance(cmd, wire.TicketStatementQuery):
            db, sql = _parse_statement_handle(cmd.statement_handle)
            return self._query(context, self._readable(context, db), sql)
        if isinstance(cmd, wire.CommandPreparedStatementQuery):
            stmt = self._prepared(context, cmd.prepared_statement_handle)
            return self._query(context, stmt.db, stmt.sql, self._params(stmt))
        if isinstance(cmd, wire.CommandGetCatalogs):
            return catalog.catalogs_table()
        if isinstance(cmd, wire.CommandGetDbSchemas):
            db = self._database(context)
            return catalog.db_schemas_table(self._tables(context, db), cmd.catalog, cmd.db_schema_filter_pattern)
        if isinstance(cmd, wire.CommandGetTables):
            db = self._database(context)

            def schema_of(row: catalog.TableRow) -> pa.Schema:
                name = f"{catalog.quote_ident(row.schema)}.{catalog.quote_ident(row.name)}"
                return self._query(context, db, f"SELECT * FROM {name} LIMIT 0").schema

            return catalog.tables_table(self._tables(context, db), cmd.catalog, cmd.db_schema_filter_pattern,
                                        cmd.table_name_filter_pattern, cmd.table_types,
                                        schema_of if cmd.include_schema else None)
        if isinstance(cmd, wire.CommandGetTableTypes):
            return catalog.table_types_table()
        if isinstance(cmd, wire.CommandGetSqlInfo):
            return sql_info_table(cmd.info)
        if isinstance(cmd, wire.CommandGetXdbcTypeInfo):
            return xdbc_type_info_table(wire.xdbc_data_type(cmd))
        raise _invalid(f"{cmd.name()} is not a ticket DoGet serves")

    def _tables(self, context: flight.ServerCallContext, db: str) -> list[catalog.TableRow]:
        return catalog.rows_from(self._query(context, db, catalog.TABLES_SQL))

    # ---------------------------------------------------------------- prepared statements
    def _prepared(self, context: flight.ServerCallContext, handle: bytes) -> Prepared:
        stmt = self.prepared.get(handle)
        if stmt is None:
            raise _invalid("unknown prepared statement handle: it was closed, expired after "
                           f"{self.prepared.idle_s:g} s idle, or made room for newer ones "
                           f"(at most {self.prepared.capacity} are open)")
        self._readable(context, stmt.db)
        return stmt

    @staticmethod
    def _params(stmt: Prepared) -> dict[str, pa.Scalar] | None:
        if stmt.placeholders.names and stmt.params is None:
            raise _invalid(f"the prepared statement has parameters "
                           f"({', '.join('$' + n for n in stmt.placeholders.names)}): bind them with DoPut first")
        return stmt.params

    def do_put(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor,
               reader: flight.MetadataRecordBatchReader, writer: flight.FlightMetadataWriter) -> None:
        cmd = self._command_of(descriptor)
        if not isinstance(cmd, wire.CommandPreparedStatementQuery):
            raise _unsupported(f"DoPut of {cmd.name()}")
        stmt = self._prepared(context, cmd.prepared_statement_handle)
        try:
            stmt.params = bind(stmt.placeholders, reader.read_all())
        except ValueError as e:
            raise _invalid(f"cannot bind the parameters: {e}") from None
        result = wire.DoPutPreparedStatementResult(cmd.prepared_statement_handle)
        writer.write(pa.py_buffer(result.encode()))  # the message itself, not an Any (arrow-go reads it so)

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[bytes]:
        kind = action.type
        body = action.body.to_pybytes() if action.body is not None else b""
        if kind == CREATE_PREPARED:
            req = _decode(body)
            if not isinstance(req, wire.ActionCreatePreparedStatementRequest):
                raise _invalid(f"{CREATE_PREPARED} expects ActionCreatePreparedStatementRequest, got {req.name()}")
            if req.transaction_id:
                raise _unsupported("a transaction")
            return iter([wire.pack_any(self._create(context, req.query))])
        if kind == CLOSE_PREPARED:
            req = _decode(body)
            if not isinstance(req, wire.ActionClosePreparedStatementRequest):
                raise _invalid(f"{CLOSE_PREPARED} expects ActionClosePreparedStatementRequest, got {req.name()}")
            self.prepared.close(req.prepared_statement_handle)
            return iter([])
        if kind in UNSUPPORTED_ACTIONS:
            raise _unsupported(f"the action {kind}")
        raise _invalid(f"unknown action '{kind}' (pe serves {CREATE_PREPARED} and {CLOSE_PREPARED})")

    def _create(self, context: flight.ServerCallContext, sql: str) -> wire.ActionCreatePreparedStatementResult:
        db = self._database(context)
        if not sql.strip():
            raise _invalid("empty SQL statement")
        try:
            handle, stmt = self.prepared.create(db, sql)
        except PlaceholderError as e:
            raise _invalid(str(e)) from None
        return wire.ActionCreatePreparedStatementResult(
            handle, self._dataset_schema(context, stmt), _parameter_schema(stmt.placeholders))

    def _dataset_schema(self, context: flight.ServerCallContext, stmt: Prepared) -> bytes:
        """The answer's schema; empty (the spec allows it) when it depends on unbound parameters."""
        if stmt.placeholders.names:
            return b""
        return self._schema_of(context, stmt.db, stmt.sql).serialize().to_pybytes()


def _parameter_schema(ph: Placeholders) -> bytes:
    """One field per placeholder, named as in the SQL; types are the client's (DataFusion infers)."""
    if not ph.names:
        return b""
    return pa.schema([pa.field(n, pa.null()) for n in ph.names]).serialize().to_pybytes()
