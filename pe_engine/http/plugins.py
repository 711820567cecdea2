"""/api/v3/plugins: list plugin files, upload a file or a trigger's whole directory (§6.1)."""
from __future__ import annotations

from aiohttp import web

from ..errors import BadRequest
from .auth import require_admin
from .keys import processing_engine
from .params import request_args, required


async def list_plugins(request: web.Request) -> web.Response:
    return web.json_response(processing_engine(request).describe_plugins())


async def upload_file(request: web.Request) -> web.Response:
    require_admin(request)
    a = await request_args(request)
    name = required(a.get("plugin_name"), "plugin_name")
    content = a.get("content")
    if not isinstance(content, str):
        raise BadRequest("content must be the plugin's source text")
    pe = processing_engine(request)
    if request.method == "PUT":
        # PUT names a trigger and replaces its code (reference §6.1).
        db = a.get("db")
        trig = pe.find_trigger(name, db)
        await pe.update_trigger_plugin(trig.database, trig.name, content)
    else:
        pe.registry.write_file(name, content)
    return web.Response(status=200)


async def upload_directory(request: web.Request) -> web.Response:
    require_admin(request)
    a = await request_args(request)
    name = required(a.get("plugin_name"), "plugin_name")
    files = a.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("relative_path"), str) and isinstance(f.get("content"), str)
        for f in files
    ):
        raise BadRequest("files must be a list of {relative_path, content} objects")
    pe = processing_engine(request)
    trig = pe.find_trigger(name, a.get("db"))
    pe.refuse_upload_over_repository(trig)
    pe.registry.replace_directory(trig.plugin_filename.rstrip("/"), [(f["relative_path"], f["content"]) for f in files])
    pe.registry.load(trig.plugin_filename)
    return web.Response(status=200)
