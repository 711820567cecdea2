"""/api/v3/configure/database: list, create (with `retention_period`) and delete databases as InfluxDB 3 does."""
from __future__ import annotations

import pyarrow as pa
from aiohttp import web

from ..errors import BadRequest
from ..storage.formats import FORMAT_ALIASES, FORMATS, encode, format_named
from .body import read_body
from .keys import CONFIG, ENGINE
from ..storage.retention import format_retention_period
from .params import decode_json_body, flag, required

DB_COLUMN = "iox::database"  # the column name InfluxDB 3 uses in `show databases`
RETENTION_COLUMN = "retention_period"


async def list_databases(request: web.Request) -> web.Response:
    """InfluxDB 3's listing (one `iox::database` column); `show_retention=true` (a pe extension)
    adds `retention_period` (humantime text, null = never expires)."""
    asked = request.query.get("format") or "json"
    fmt = format_named(asked)
    if fmt is None:
        raise BadRequest(f"unknown format '{asked}': use one of {', '.join([*FORMATS, *FORMAT_ALIASES])}")
    engine = request.app[ENGINE]
    names = engine.list_databases()
    columns = {DB_COLUMN: pa.array(names, pa.string())}
    if flag(request.query, "show_retention", False):
        periods = [format_retention_period(engine.catalog.databases[n].retention_period_ns) for n in names]
        columns[RETENTION_COLUMN] = pa.array(periods, pa.string())
    table = pa.table(columns)
    body, content_type = encode(table, fmt)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def create_database(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[CONFIG].max_request_bytes)
    args = {**request.query, **decode_json_body(body)}
    name = required(args.get("db"), "db")
    await request.app[ENGINE].create_database(name, args.get("retention_period"))
    return web.Response(status=200)


async def delete_database(request: web.Request) -> web.Response:
    args: dict = dict(request.query)
    if "db" not in args and request.can_read_body:
        args.update(decode_json_body(await read_body(request, request.app[CONFIG].max_request_bytes)))
    name = required(args.get("db"), "db")
    await request.app[ENGINE].delete_database(name)
    return web.Response(status=200)

