"""/api/v3/engine/{path}: an HTTP request handed to the request trigger bound to that path."""
from __future__ import annotations

from aiohttp import web

from .body import read_body
from .keys import CONFIG, processing_engine


async def engine_request(request: web.Request) -> web.Response:
    pe = processing_engine(request)
    body = await read_body(request, request.app[CONFIG].max_request_bytes) if request.can_read_body else b""
    query = {k: v for k, v in request.query.items()}  # last value wins below
    for k in request.query.keys():
        query[k] = request.query.getall(k)[-1]
    resp = await pe.handle_request(request.match_info["path"], query, dict(request.headers), body)
    return web.Response(status=resp.status, body=resp.body, headers={"Content-Type": resp.content_type, **resp.headers})
