"""InfluxQL over HTTP: InfluxDB 1.x's `/query` and InfluxDB 3's `/api/v3/query_influxql`.

Statements run off the event loop (each may plan several SQL queries); a client that goes away
stops them. `db` with a retention policy `rp` other than the default means the database
`db/rp` (InfluxDB 3's DBRP naming, as /write with `rp` and a v2 bucket `db/rp` write it).
"""
from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from ..errors import BadRequest, Forbidden
from ..influxql import ast
from ..influxql.context import QueryContext
from ..influxql.errors import InfluxQLError
from ..influxql.parser import parse_query
from ..influxql.results import EPOCH_DIVISORS, StatementResult, result_json, series_values
from ..influxql.service import administers, as_table, catalog_only, statement_databases
from ..influxql.executor import run_query
from ..influxql_runner import CatalogSchema, sql_runner
from ..storage.formats import encode
from .auth import REQUEST_TOKEN_KEY, is_admin
from .body import read_body
from .counters import HTTP_COUNTERS
from .keys import CONFIG, ENGINE
from .params import dbrp, decode_json_body, flag
from .query import _client_gone, pick_format

DEFAULT_CHUNK_SIZE = 10_000
INLINE_PARSE_CHARS = 4096  # ~1 ms of parsing at most on the loop
T = TypeVar("T")


class LoopAdmin:
    """CREATE/DROP DATABASE from the statement thread, run on the engine's event loop."""

    def __init__(self, engine: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._engine = engine
        self._loop = loop

    def create_database(self, name: str) -> None:
        if name in self._engine.catalog.databases:
            return  # 1.x: CREATE DATABASE is idempotent
        asyncio.run_coroutine_threadsafe(self._engine.create_database(name), self._loop).result()

    def drop_database(self, name: str) -> None:
        if name not in self._engine.catalog.databases:
            return  # 1.x: DROP DATABASE of a missing database succeeds
        asyncio.run_coroutine_threadsafe(self._engine.delete_database(name), self._loop).result()


def resolve_db(db: str | None, rp: str | None) -> str | None:
    return dbrp(db, rp) if db else None


async def _v1_args(request: web.Request) -> dict[str, str]:
    args = dict(request.query)
    if request.method == "POST":
        body = await read_body(request, request.app[CONFIG].max_request_bytes)
        if request.content_type == "application/json" and body.lstrip().startswith(b"{"):
            args.update({k: str(v) for k, v in decode_json_body(body).items()})
        elif request.content_type.startswith("multipart/"):
            raise BadRequest("multipart /query bodies are not supported: send q= form-encoded")
        else:
            args.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return args


def _authorize(request: web.Request, query: ast.Query, db: str | None) -> None:
    if administers(query) and not is_admin(request):
        raise Forbidden("CREATE DATABASE and DROP DATABASE need an admin token")
    record = request.get(REQUEST_TOKEN_KEY)
    auth = request.app.get("auth")
    if record is None or auth is None or is_admin(request):
        return
    for name in statement_databases(query) | ({db} if db else set()):
        auth.authorize_read(record, name)


async def _run(request: web.Request, query: ast.Query, db: str | None,
               params: dict[str, object] | None = None,
               encode: Callable[[list[StatementResult]], T] | None = None) -> Any:
    """The statements' results, or `encode(results)` when given: encoded in the same trip off
    the loop (each hop to a worker thread costs about a millisecond)."""
    engine = request.app[ENGINE]
    loop = asyncio.get_running_loop()
    ctx = QueryContext(database=db, schema=CatalogSchema(engine, lambda: _client_gone(request)),
                       run_sql=sql_runner(engine, lambda: _client_gone(request)),
                       now_ns=time.time_ns(), params=params or {}, admin=LoopAdmin(engine, loop))
    counters = request.app[HTTP_COUNTERS]
    t0 = time.perf_counter()
    try:
        if catalog_only(query):  # a catalog lookup: here, not a trip to a worker thread and back
            results = run_query(query, ctx)
            return results if encode is None else encode(results)
        if encode is None:
            return await loop.run_in_executor(None, run_query, query, ctx)
        return await loop.run_in_executor(None, lambda: encode(run_query(query, ctx)))
    finally:
        counters.queries += 1
        counters.query_seconds += time.perf_counter() - t0


def _v1_error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_compact)


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def query_v1(request: web.Request) -> web.StreamResponse:
    args = await _v1_args(request)
    text = args.get("q", "")
    if not text.strip():
        return _v1_error('missing required parameter "q"', 400)
    epoch = args.get("epoch") or None
    if epoch is not None and epoch not in EPOCH_DIVISORS:
        return _v1_error(f"invalid epoch '{epoch}': use one of h, m, s, ms, u, ns", 400)
    params = _bound_params(args.get("params"))
    try:  # a long text parses off the loop; a dashboard's query is quicker parsed here than handed over
        query = parse_query(text) if len(text) <= INLINE_PARSE_CHARS else \
            await asyncio.get_running_loop().run_in_executor(None, parse_query, text)
    except InfluxQLError as e:
        return _v1_error(str(e), 400)
    db = resolve_db(args.get("db"), args.get("rp"))
    _authorize(request, query, db)
    accept = request.headers.get("Accept", "")
    as_csv = "application/csv" in accept or "text/csv" in accept
    chunked = not as_csv and flag(args, "chunked", False)
    encoder: Callable[[list[StatementResult]], Any]
    if as_csv:
        encoder = lambda rs: _csv(rs, epoch)  # noqa: E731
    elif chunked:
        size = _chunk_size(args.get("chunk_size"))
        encoder = lambda rs: _chunk_lines(rs, epoch, size)  # noqa: E731
    else:
        pretty = flag(args, "pretty", False)
        encoder = lambda rs: _json_body(rs, epoch, pretty)  # noqa: E731
    encoded = await _run(request, query, db, params, encoder)
    if _client_gone(request):
        return web.Response(status=499)
    if as_csv:
        return web.Response(body=encoded, headers={"Content-Type": "application/csv"})
    if chunked:
        return await _chunked(request, encoded)
    return web.Response(body=encoded, content_type="application/json")


def _json_body(results: list[StatementResult], epoch: str | None, pretty: bool) -> bytes:
    body = {"results": [result_json(r, epoch) for r in results]}
    return (json.dumps(body, indent=4 if pretty else None, separators=None if pretty else (",", ":"),
                       ensure_ascii=False, allow_nan=False, default=str) + "\n").encode()


def _chunk_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_CHUNK_SIZE
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"invalid chunk_size '{raw}'") from None
    return n if n > 0 else DEFAULT_CHUNK_SIZE


async def _chunked(request: web.Request, lines: list[bytes]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for line in lines:
        await resp.write(line)
    await resp.write_eof()
    return resp


def _chunk_lines(results: list[StatementResult], epoch: str | None, size: int) -> list[bytes]:
    """1.x's chunked answer: one JSON object per line, a series split every `size` rows with
    `partial: true` on all but its last piece."""
    out_lines: list[bytes] = []
    for r in results:
        if r.error is not None or not r.series:
            out_lines.append((json.dumps({"results": [result_json(r, epoch)]}) + "\n").encode())
            continue
        for si, s in enumerate(r.series):
            n = s.table.num_rows
            for lo in range(0, max(n, 1), size):
                piece = dataclasses.replace(s, table=s.table.slice(lo, size))
                js: dict[str, object] = {"name": s.name} if s.name else {}
                if s.tags:
                    js["tags"] = s.tags
                js["columns"] = s.columns
                values = series_values(piece, epoch)
                if values:
                    js["values"] = values
                last_piece = lo + size >= n
                if not last_piece:
                    js["partial"] = True
                out: dict[str, object] = {"statement_id": r.statement_id, "series": [js]}
                if not (last_piece and si == len(r.series) - 1):
                    out["partial"] = True
                out_lines.append((json.dumps({"results": [out]}, default=str) + "\n").encode())
    return out_lines


def _csv(results: list[StatementResult], epoch: str | None) -> bytes:
    """1.x's CSV: name,tags,time,<columns>; one block per statement, separated by a blank line."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for i, r in enumerate(results):
        if i:
            buf.write("\n")
        if r.error is not None:
            w.writerow(["error"])
            w.writerow([r.error])
            continue
        header_done = False
        for s in r.series:
            if not header_done:
                w.writerow(["name", "tags", *s.columns])
                header_done = True
            tags = ",".join(f"{k}={v}" for k, v in sorted((s.tags or {}).items()))
            for row in series_values(s, epoch or "ns"):
                w.writerow([s.name, tags, *["" if v is None else _cell(v) for v in row]])
    return buf.getvalue().encode()


def _cell(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _bound_params(raw: object) -> dict[str, object]:
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as e:
        raise BadRequest(f"invalid params: {e.msg}") from None
    if not isinstance(value, dict):
        raise BadRequest("params must be a JSON object")
    return value


async def query_influxql_v3(request: web.Request) -> web.Response:
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST":
        body = await read_body(request, request.app[CONFIG].max_request_bytes)
        if body.strip():
            args.update(decode_json_body(body))
    text = args.get("q")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("missing parameter: q")
    fmt = pick_format(args, request.headers.get("Accept", ""))
    params = _bound_params(args.get("params"))
    try:
        query = parse_query(text)
    except InfluxQLError as e:
        raise BadRequest(str(e)) from None
    db = args.get("db") if isinstance(args.get("db"), str) else None
    _authorize(request, query, db)
    if db is None and any(not isinstance(s, (ast.ShowDatabases, ast.CreateDatabase, ast.DropDatabase))
                          for s in query.statements):
        raise BadRequest("missing parameter: db")
    try:
        body_bytes, content_type = await _run(request, query, db, params, lambda rs: encode(as_table(rs), fmt))
    except InfluxQLError as e:  # a statement's error: there is no per-statement error in a table
        raise BadRequest(str(e)) from None
    return web.Response(body=body_bytes, headers={"Content-Type": content_type})
