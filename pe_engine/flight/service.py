"""The Arrow Flight service: what `influxdb3-python`'s `InfluxDBClient3.query()` talks to.

Flight is served on the HTTP port, as InfluxDB 3 does (lifecycle.py: this server listens on a
private unix socket, and the HTTP server relays gRPC connections to it, http/grpc_bridge.py), so
clients need only `InfluxDBClient3(host="http://127.0.0.1:8181", token=..., database=...)`.
`pe serve --flight-bind HOST:PORT` adds a listener of its own, `--without-flight` turns gRPC off.

Protocol (from influxdb_client_3/query/query_api.py): `DoGet` with a ticket that is JSON
`{"database": ..., "sql_query": ..., "query_type": "sql"|"influxql", "params"?: {...}}` and the
header `authorization: Bearer <token>`. The token is checked against the same hashed token store
as HTTP (http/auth.py), and must allow reading the ticket's database. The result is the Arrow table
`/api/v3/query_sql` would encode, streamed as record batches. Errors reach the client as
FlightUnauthenticatedError (missing/unknown/expired token), FlightUnauthorizedError (no read
permission on the database) or FlightServerError (bad ticket, unknown database, SQL and
InfluxQL errors) with the message a person can act on; the server keeps serving.

Flight SQL (ADBC, flightsql-dbapi, Grafana, BI tools) is served by the same server: see
flightsql.py. Both kinds of ticket go through calls.run_query, the governed query path.
"""
from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow.flight as flight

from .calls import TokenCheck, authorize_read, run_influxql, run_query
from .flightsql import ACTIONS, FlightSql, is_flightsql

if TYPE_CHECKING:
    from ..engine import Engine
    from ..http.auth import Auth


class PeFlightServer(flight.FlightServerBase):
    """Serves from gRPC's threads; queries run on QueryEngine, which is thread-safe.

    DoGet takes both tickets: InfluxDB's JSON one and Flight SQL's (flightsql.py), which also
    answers GetFlightInfo, GetSchema, DoPut and the prepared-statement actions."""

    def __init__(self, engine: "Engine", auth: "Auth", location: str):
        super().__init__(location, middleware={"auth": TokenCheck(auth)})
        self.engine = engine
        self.auth = auth
        self.sql = FlightSql(engine, auth)

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        if is_flightsql(ticket.ticket):
            return flight.RecordBatchStream(self.sql.do_get(context, ticket.ticket))
        db, text, params, language = _parse_ticket(ticket.ticket)
        authorize_read(self.auth, context, db)
        if language is QueryLanguage.INFLUXQL:
            return flight.RecordBatchStream(run_influxql(self.engine, context, db, text, params))
        return flight.RecordBatchStream(run_query(self.engine, context, db, text, params))

    def get_flight_info(self, context: flight.ServerCallContext,
                        descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        return self.sql.get_flight_info(context, descriptor)

    def get_schema(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> flight.SchemaResult:
        return flight.SchemaResult(self.sql.get_schema(context, descriptor))

    def do_put(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor,
               reader: flight.MetadataRecordBatchReader, writer: flight.FlightMetadataWriter) -> None:
        self.sql.do_put(context, descriptor, reader, writer)

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[bytes]:
        return self.sql.do_action(context, action)

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return list(ACTIONS)

    def list_flights(self, context: flight.ServerCallContext, criteria: bytes) -> Iterator[flight.FlightInfo]:
        raise NotImplementedError("ListFlights is not supported by pe: use Flight SQL's CommandGetTables")

    def do_exchange(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor,
                    reader: flight.MetadataRecordBatchReader, writer: flight.MetadataRecordBatchWriter) -> None:
        raise NotImplementedError("DoExchange is not supported by pe")


class QueryLanguage(enum.Enum):
    SQL = "sql"
    INFLUXQL = "influxql"


def _parse_ticket(raw: bytes) -> tuple[str, str, dict | None, QueryLanguage]:
    try:
        req = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise flight.FlightServerError(
            "invalid ticket: expected JSON {\"database\", \"sql_query\", \"query_type\"} "
            "as influxdb3 clients send"
        ) from None
    if not isinstance(req, dict):
        raise flight.FlightServerError("invalid ticket: expected a JSON object")
    db, sql = req.get("database"), req.get("sql_query")
    if not isinstance(db, str) or not db:
        raise flight.FlightServerError("invalid ticket: 'database' is missing")
    if not isinstance(sql, str) or not sql.strip():
        raise flight.FlightServerError("invalid ticket: 'sql_query' is missing")
    kind = str(req.get("query_type") or "sql").lower()
    try:
        language = QueryLanguage(kind)
    except ValueError:
        raise flight.FlightServerError(f"invalid ticket: query_type '{kind}' is neither 'sql' nor 'influxql'") from None
    params = req.get("params")
    if params is not None and not isinstance(params, dict):
        raise flight.FlightServerError("invalid ticket: 'params' must be a JSON object")
    return db, sql, params, language
