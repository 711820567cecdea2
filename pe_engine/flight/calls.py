"""What every Flight call shares: the caller (token record, database header) and the governed query.

The middleware checks the token once per call against the same hashed store as HTTP and keeps
the caller's record and the database it names (gRPC header `database`, or `bucket-name` /
`iox-namespace-name` as InfluxDB 3 accepts). `run_query` is the one way a Flight call runs SQL:
Engine.query_sync with the call's is_cancelled, so --query-timeout, client cancels and the
memory limit apply, with pe's errors mapped to Flight status codes.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight

from ..errors import DatabaseNotFound, PeError
from ..influxql.errors import InfluxQLError
from ..influxql_runner import influxql_table
from ..storage.query_governor import QueryCancelled, QueryRejected, QueryTimedOut

if TYPE_CHECKING:
    from ..engine import Engine
    from ..http.auth import Auth

log = logging.getLogger("pe.flight")

DATABASE_HEADERS = ("database", "bucket-name", "iox-namespace-name")


class Caller(flight.ServerMiddleware):
    """One call's token record (None when auth is off) and the database its headers name."""

    def __init__(self, record: Any, database: str | None):
        super().__init__()
        self.record = record
        self.database = database


class TokenCheck(flight.ServerMiddlewareFactory):
    def __init__(self, auth: "Auth"):
        super().__init__()
        self.auth = auth

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> Caller:
        database = _header(headers, DATABASE_HEADERS)
        if not self.auth.enabled:
            return Caller(None, database)
        token = bearer(headers)
        if token is None:
            raise flight.FlightUnauthenticatedError(
                "missing token: send the header 'authorization: Bearer <token>' "
                "(InfluxDBClient3(token=...) does)"
            )
        try:  # unknown or expired: the same 401 messages as HTTP
            return Caller(self.auth.check_token(token), database)
        except PeError as e:
            raise flight.FlightUnauthenticatedError(e.message) from None


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _header(headers: dict[str, list[Any]], names: tuple[str, ...]) -> str | None:
    for name in names:
        for raw in headers.get(name, []):
            value = _text(raw).strip()
            if value:
                return value
    return None


def bearer(headers: dict[str, list[Any]]) -> str | None:
    for raw in headers.get("authorization", []):
        scheme, _, token = _text(raw).strip().partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip():
            return token.strip()
    return None


def caller_of(context: flight.ServerCallContext) -> Caller | None:
    caller = context.get_middleware("auth")
    return caller if isinstance(caller, Caller) else None


def authorize_read(auth: "Auth", context: flight.ServerCallContext, db: str) -> None:
    """A query needs read on its database, as over HTTP."""
    caller = caller_of(context)
    if caller is None or caller.record is None:
        return
    try:
        auth.authorize_read(caller.record, db)
    except PeError as e:
        raise flight.FlightUnauthorizedError(e.message) from None


@contextlib.contextmanager
def flight_errors(db: str, what: str) -> Iterator[None]:
    """pe's query errors as Flight status codes; anything unexpected is logged and INTERNAL."""
    try:
        yield
    except InfluxQLError as e:
        raise flight.FlightServerError(str(e)) from None
    except QueryTimedOut as e:
        raise flight.FlightTimedOutError(e.message) from None
    except QueryCancelled as e:
        raise flight.FlightCancelledError(e.message) from None
    except QueryRejected as e:
        raise flight.FlightUnavailableError(e.message) from None
    except PeError as e:
        raise flight.FlightServerError(e.message) from None
    except Exception:
        log.exception("Flight %s failed unexpectedly (db %s)", what, db)
        raise flight.FlightInternalError("internal error (see the server log)") from None


def run_query(engine: "Engine", context: flight.ServerCallContext, db: str, sql: str,
              params: dict[str, Any] | None) -> pa.Table:
    with flight_errors(db, "query"):
        # --query-timeout, and a call the client cancelled or whose deadline passed, stop it
        return engine.query_sync(db, sql, params, poll=context.is_cancelled)


def run_influxql(engine: "Engine", context: flight.ServerCallContext, db: str, text: str,
                 params: dict[str, Any] | None) -> pa.Table:
    """`query_type: influxql`: the statements' series as one table, with `iox::measurement`."""
    known_database(engine, db)
    with flight_errors(db, "InfluxQL query"):
        return influxql_table(engine, db, text, context.is_cancelled, params)


def known_database(engine: "Engine", db: str) -> None:
    """DatabaseNotFound's message as a Flight error, before anything is planned."""
    if db != "_internal" and db not in engine.catalog.databases:
        raise flight.FlightServerError(DatabaseNotFound(db).message)
