"""GET|POST /api/v3/query_sql: SQL in, Arrow out in the format the client asked for."""
from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any

from aiohttp import web

from ..errors import BadRequest, PeError
from ..storage.formats import FORMAT_ALIASES, FORMATS, encode, format_named
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


class QueryTimeout(PeError):
    status = 504


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
    timeout = request.app[CONFIG].query_timeout
    counters = request.app[HTTP_COUNTERS]
    t0 = time.perf_counter()
    try:
        table = await asyncio.wait_for(engine.query(db, sql, params), timeout)
    except asyncio.TimeoutError:
        raise QueryTimeout(f"query did not finish within {timeout:g} s") from None
    finally:
        counters.queries += 1
        counters.query_seconds += time.perf_counter() - t0
    body, content_type = await asyncio.get_running_loop().run_in_executor(None, encode, table, fmt)
    return web.Response(body=body, headers={"Content-Type": content_type})

