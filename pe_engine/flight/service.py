"""The Arrow Flight service: what `influxdb3-python`'s `InfluxDBClient3.query()` talks to.

InfluxDB 3 serves Flight on its HTTP port (gRPC and HTTP multiplexed). pe's HTTP server is
aiohttp, so Flight gets its own gRPC port: by default the HTTP port + 1 on the same host
(8181 -> 8182; an HTTP port of 0 gives Flight an ephemeral port too). Clients point at it with
`InfluxDBClient3(host="http://127.0.0.1:8181", ..., query_port_overwrite=8182)`.
`pe serve --flight-bind HOST:PORT` chooses the address (then failing to bind stops the start),
`--without-flight` turns it off (both are rows of the option table, options.py). With the derived
default a port in use only logs a warning.

Protocol (from influxdb_client_3/query/query_api.py): `DoGet` with a ticket that is JSON
`{"database": ..., "sql_query": ..., "query_type": "sql"|"influxql", "params"?: {...}}` and the
header `authorization: Bearer <token>`. The token is checked against the same hashed token store
as HTTP (http/auth.py), and must allow reading the ticket's database. The result is the Arrow table
`/api/v3/query_sql` would encode, streamed as record batches. Errors reach the client as
FlightUnauthenticatedError (missing/unknown/expired token), FlightUnauthorizedError (no read
permission on the database) or FlightServerError (bad ticket, unknown database, SQL errors,
InfluxQL) with the message a person can act on; the server keeps serving.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pyarrow.flight as flight

from ..errors import PeError
from ..storage.query_governor import QueryCancelled, QueryRejected, QueryTimedOut

if TYPE_CHECKING:
    from ..engine import Engine
    from ..http.auth import Auth

log = logging.getLogger("pe.flight")


class _Caller(flight.ServerMiddleware):
    """The token record of one call, for do_get's per-database check."""

    def __init__(self, record: Any):
        super().__init__()
        self.record = record


class _TokenCheck(flight.ServerMiddlewareFactory):
    def __init__(self, auth: "Auth"):
        super().__init__()
        self.auth = auth

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> _Caller | None:
        if not self.auth.enabled:
            return None
        token = _bearer(headers)
        if token is None:
            raise flight.FlightUnauthenticatedError(
                "missing token: send the header 'authorization: Bearer <token>' "
                "(InfluxDBClient3(token=...) does)"
            )
        try:  # unknown or expired: the same 401 messages as HTTP
            return _Caller(self.auth.check_token(token))
        except PeError as e:
            raise flight.FlightUnauthenticatedError(e.message) from None


def _bearer(headers: dict[str, list[Any]]) -> str | None:
    for raw in headers.get("authorization", []):
        value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip():
            return token.strip()
    return None


class PeFlightServer(flight.FlightServerBase):
    """Serves from gRPC's threads; queries run on QueryEngine, which is thread-safe."""

    def __init__(self, engine: "Engine", auth: "Auth", location: str):
        super().__init__(location, middleware={"auth": _TokenCheck(auth)})
        self.engine = engine
        self.auth = auth

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        db, sql, params = _parse_ticket(ticket.ticket)
        caller = context.get_middleware("auth")
        if isinstance(caller, _Caller):  # a query needs read on its database, as over HTTP
            try:
                self.auth.authorize_read(caller.record, db)
            except PeError as e:
                raise flight.FlightUnauthorizedError(e.message) from None
        try:
            # --query-timeout, and a call the client cancelled or whose deadline passed, stop it
            table = self.engine.query_sync(db, sql, params, poll=context.is_cancelled)
        except QueryTimedOut as e:
            raise flight.FlightTimedOutError(e.message) from None
        except QueryCancelled as e:
            raise flight.FlightCancelledError(e.message) from None
        except QueryRejected as e:
            raise flight.FlightUnavailableError(e.message) from None
        except PeError as e:
            raise flight.FlightServerError(e.message) from None
        except Exception:
            log.exception("Flight query failed unexpectedly (db %s)", db)
            raise flight.FlightInternalError("internal error (see the server log)") from None
        return flight.RecordBatchStream(table)


def _parse_ticket(raw: bytes) -> tuple[str, str, dict | None]:
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
    if kind != "sql":
        raise flight.FlightServerError(f"query_type '{kind}' is not supported by pe: use SQL (query_type 'sql')")
    params = req.get("params")
    if params is not None and not isinstance(params, dict):
        raise flight.FlightServerError("invalid ticket: 'params' must be a JSON object")
    return db, sql, params
