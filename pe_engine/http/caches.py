"""/api/v3/configure/last_cache and /api/v3/configure/distinct_cache (reference §8).

POST creates (201 + the definition as JSON; 400 bad columns or settings, 404 unknown database or
table, 409 a cache of that name exists), DELETE removes (200; 404 unknown database, table or
cache). Arguments come from the JSON body and/or the query string, as InfluxDB 3 parses both.
"""
from __future__ import annotations

from aiohttp import web

from .keys import ENGINE
from .params import request_args, required


def _tdef(request: web.Request, db: str, table: str):
    return request.app[ENGINE].catalog.databases[db].tables[table]


async def create_last_cache(request: web.Request) -> web.Response:
    a = await request_args(request)
    db, table = required(a.get("db"), "db"), required(a.get("table"), "table")
    d = await request.app[ENGINE].value_caches.create_last_cache(
        db, table, name=a.get("name"), key_columns=a.get("key_columns"), value_columns=a.get("value_columns"),
        count=a.get("count"), ttl=a.get("ttl"),
    )
    return web.json_response(d.created_response(_tdef(request, db, table)), status=201)


async def create_distinct_cache(request: web.Request) -> web.Response:
    a = await request_args(request)
    db, table = required(a.get("db"), "db"), required(a.get("table"), "table")
    d = await request.app[ENGINE].value_caches.create_distinct_cache(
        db, table, name=a.get("name"), columns=a.get("columns"), max_cardinality=a.get("max_cardinality"),
        max_age=a.get("max_age"),
    )
    return web.json_response(d.created_response(_tdef(request, db, table)), status=201)


async def _delete(kind: str, request: web.Request) -> web.Response:
    a = await request_args(request)
    db = required(a.get("db"), "db")
    table = required(a.get("table"), "table")
    name = required(a.get("name"), "name")
    await request.app[ENGINE].value_caches.delete(kind, db, table, name)
    return web.Response(status=200)


async def delete_last_cache(request: web.Request) -> web.Response:
    return await _delete("last", request)


async def delete_distinct_cache(request: web.Request) -> web.Response:
    return await _delete("distinct", request)

