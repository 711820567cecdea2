"""/api/v3/plugin_test/{wal,schedule}: dry-run a plugin without a trigger and answer what it did."""
from __future__ import annotations

from aiohttp import web

from ..processing.dry_run import run_schedule_test, run_wal_test
from ..processing.triggers import validate_arguments_json
from .keys import processing_engine
from .params import request_args, required


async def plugin_test_wal(request: web.Request) -> web.Response:
    a = await request_args(request)
    out = await run_wal_test(
        processing_engine(request),
        filename=required(a.get("filename"), "filename"),
        database=required(a.get("database"), "database"),
        input_lp=a.get("input_lp") or "",
        cache_name=a.get("cache_name"),
        input_arguments=validate_arguments_json(a.get("input_arguments")),
    )
    return web.json_response(out)


async def plugin_test_schedule(request: web.Request) -> web.Response:
    a = await request_args(request)
    out = await run_schedule_test(
        processing_engine(request),
        filename=required(a.get("filename"), "filename"),
        database=required(a.get("database"), "database"),
        schedule=a.get("schedule"),
        cache_name=a.get("cache_name"),
        input_arguments=validate_arguments_json(a.get("input_arguments")),
    )
    return web.json_response(out)
