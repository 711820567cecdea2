"""/api/v3/configure/database: list, create and delete databases as InfluxDB 3 does."""
from __future__ import annotations

import pyarrow as pa
from aiohttp import web

from ..errors import BadRequest
from ..storage.formats import FORMATS, encode
from .body import read_body
from .keys import CONFIG, ENGINE
from .params import decode_json_body, required

DB_COLUMN = "iox::database"  # the column name InfluxDB 3 uses in `show databases`


async def list_databases(request: web.Request) -> web.Response:
    fmt = (request.query.get("format") or "json").lower()
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    names = request.app[ENGINE].list_databases()
    table = pa.table({DB_COLUMN: pa.array(names, pa.string())})
    body, content_type = encode(table, fmt)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def create_database(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[CONFIG].max_request_bytes)
    args = {**request.query, **decode_json_body(body)}
    name = required(args.get("db"), "db")
    await request.app[ENGINE].create_database(name)
    return web.Response(status=200)


async def delete_database(request: web.Request) -> web.Response:
    args: dict = dict(request.query)
    if "db" not in args and request.can_read_body:
        args.update(decode_json_body(await read_body(request, request.app[CONFIG].max_request_bytes)))
    name = required(args.get("db"), "db")
    await request.app[ENGINE].delete_database(name)
    return web.Response(status=200)

