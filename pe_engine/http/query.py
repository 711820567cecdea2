"""GET|POST /api/v3/query_sql: SQL in, Arrow out in the format the client asked for.

The query runs under the engine's governor (storage/query_governor.py): `--query-timeout`
answers 504 and stops the query, a full queue answers 503 with Retry-After, a client that
closes the connection before the answer cancels the query."""
from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any

from aiohttp import web

from ..errors import BadRequest
from ..storage.formats import FORMAT_ALIASES, FORMATS, encode, format_named
from ..storage.query_governor import QueryRejected, QueryTimedOut
from .body import read_body
from .counters import HTTP_COUNTERS
from .keys import CONFIG, ENGINE
from .params import decode_json_body, json_object, required

# Used when the client names no format but sends an Accept header we recognise.
ACCEPT_FORMATS = {
    "application/json": "json",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "text/plain": "pretty",
}


QueryTimeout = QueryTimedOut  # the old name
DISCONNECT_POLL_SECONDS = 0.05  # how often a waiting handler looks whether its client is still there


async def _arguments(request: web.Request) -> dict[str, Any]:
    """Query-string arguments, overridden by a POST's JSON body."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST":
        body = await read_body(request, request.app[CONFIG].max_request_bytes)
        form = request.content_type == "application/x-www-form-urlencoded"
        if form and not body.lstrip().startswith(b"{"):  # `curl -d 'q=...'`; curl -d '{json}' is JSON
            args.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            args.update(decode_json_body(body))
    return args


def pick_format(args: dict[str, Any], accept: str) -> str:
    fmt = args.get("format")
    if fmt is None or fmt == "":
        for part in accept.split(","):
            found = ACCEPT_FORMATS.get(part.split(";")[0].strip().lower())
            if found:
                return found
        return "json"
    named = format_named(fmt) if isinstance(fmt, str) else None
    if named is None:
        raise BadRequest(f"unknown format '{fmt}': use one of {', '.join([*FORMATS, *FORMAT_ALIASES])}")
    return named


async def query_sql(request: web.Request) -> web.Response:
    args = await _arguments(request)
    db = required(args.get("db"), "db")
    sql = required(args.get("q"), "q")
    fmt = pick_format(args, request.headers.get("Accept", ""))
    params = json_object(args.get("params"), "params")
    engine = request.app[ENGINE]
    counters = request.app[HTTP_COUNTERS]
    t0 = time.perf_counter()
    task = asyncio.ensure_future(engine.query(db, sql, params))  # stops itself at --query-timeout
    try:
        while not task.done():
            await asyncio.wait([task], timeout=DISCONNECT_POLL_SECONDS)
            if not task.done() and _client_gone(request):
                task.cancel()  # Engine.query cancels the running query
                await asyncio.gather(task, return_exceptions=True)
                return web.Response(status=499)  # nobody reads it
        table = task.result()
    except QueryRejected as e:
        return web.json_response(e.to_json(), status=e.status, headers={"Retry-After": str(e.retry_after)})
    finally:
        if not task.done():  # the handler itself was cancelled (server shutting down)
            task.cancel()
        counters.queries += 1
        counters.query_seconds += time.perf_counter() - t0
    body, content_type = await asyncio.get_running_loop().run_in_executor(None, encode, table, fmt)
    return web.Response(body=body, headers={"Content-Type": content_type})


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
