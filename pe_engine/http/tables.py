"""/api/v3/configure/table: create a table with its schema up front, delete a table and its data.

As InfluxDB 3: `POST` takes `{"db", "table", "tags": [...], "fields": [{"name", "type"}]}` (types
utf8, int64, uint64, float64, bool; the database is created when missing; 400 bad input, 409 the
table exists); `DELETE ?db=&table=` removes the table, its rows and files and its value caches
(200; 404 unknown database or table). Triggers are not touched.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import BadRequest
from .keys import ENGINE
from .params import request_args, required


def _tags(raw: Any) -> list[str]:
    if raw is None:
        raise BadRequest("missing parameter: tags (a list of tag column names)")
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise BadRequest("'tags' must be a list of tag column names")
    return raw


def _fields(raw: Any) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("'fields' must be a list of {\"name\": ..., \"type\": ...} objects")
    out: list[tuple[str, str]] = []
    for f in raw:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not isinstance(f.get("type"), str):
            raise BadRequest(f"invalid field {f!r}: expected {{\"name\": <string>, \"type\": <string>}}")
        out.append((f["name"], f["type"]))
    return out


async def create_table(request: web.Request) -> web.Response:
    a = await request_args(request)
    db, table = required(a.get("db"), "db"), required(a.get("table"), "table")
    await request.app[ENGINE].create_table(db, table, _tags(a.get("tags")), _fields(a.get("fields")))
    return web.Response(status=200)


async def delete_table(request: web.Request) -> web.Response:
    a = await request_args(request)
    db, table = required(a.get("db"), "db"), required(a.get("table"), "table")
    await request.app[ENGINE].delete_table(db, table)
    return web.Response(status=200)
