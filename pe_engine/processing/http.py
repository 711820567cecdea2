"""HTTP endpoints of the processing engine (reference §6.1), registered into the core app."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..errors import BadRequest, Forbidden
from ..http.auth import require_admin
from ..http.body import read_body
from ..http.keys import CONFIG, ENGINE
from ..http.params import decode_json_body, flag, required
from .packages import DISABLED_MESSAGE, PackageInstallDisabled
from .testing import run_schedule_test, run_wal_test
from .triggers import TriggerSettings, TriggerSpecError, validate_arguments_json


def _pe(request: web.Request):
    pe = request.app[ENGINE].processing
    if pe is None:
        raise BadRequest("Node not configured with plugin directory")
    return pe


async def _args(request: web.Request) -> dict[str, Any]:
    """Query string and JSON body merged (InfluxDB parses both forms)."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        body = await read_body(request, request.app[CONFIG].max_request_bytes)
        if body.strip():
            args.update(decode_json_body(body))
    return args


def _settings(raw: Any) -> TriggerSettings:
    if raw is None:
        return TriggerSettings()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise BadRequest(f"trigger_settings is not valid JSON: {e}") from None
    try:
        return TriggerSettings.from_json(raw)
    except (TriggerSpecError, ValueError, TypeError) as e:
        raise BadRequest(str(e)) from None


async def create_trigger(request: web.Request) -> web.Response:
    a = await _args(request)
    arguments = a.get("trigger_arguments")
    if isinstance(arguments, str):
        arguments = json.loads(arguments) if arguments.strip() else None
    try:
        arguments = validate_arguments_json(arguments)
    except (TriggerSpecError, ValueError, TypeError) as e:
        raise BadRequest(str(e)) from None
    await _pe(request).create_trigger(
        database=required(a.get("db"), "db"),
        name=required(a.get("trigger_name"), "trigger_name"),
        plugin_filename=required(a.get("plugin_filename"), "plugin_filename"),
        spec=required(a.get("trigger_specification"), "trigger_specification"),
        arguments=arguments,
        settings=_settings(a.get("trigger_settings")),
        disabled=flag(a, "disabled", False) if not isinstance(a.get("disabled"), bool) else a["disabled"],
    )
    return web.Response(status=200)


async def delete_trigger(request: web.Request) -> web.Response:
    a = await _args(request)
    force = a.get("force")
    force = force if isinstance(force, bool) else flag(a, "force", False)
    await _pe(request).delete_trigger(required(a.get("db"), "db"), required(a.get("trigger_name"), "trigger_name"), force)
    return web.Response(status=200)


async def enable_trigger(request: web.Request) -> web.Response:
    a = await _args(request)
    await _pe(request).enable_trigger(required(a.get("db"), "db"), required(a.get("trigger_name"), "trigger_name"))
    return web.Response(status=200)


async def disable_trigger(request: web.Request) -> web.Response:
    a = await _args(request)
    await _pe(request).disable_trigger(required(a.get("db"), "db"), required(a.get("trigger_name"), "trigger_name"))
    return web.Response(status=200)


async def list_triggers(request: web.Request) -> web.Response:
    """Ours (InfluxDB has none): every trigger with its state and live statistics."""
    pe = _pe(request)
    db = request.query.get("db")
    return web.json_response([pe.describe(t) for t in pe.list_triggers(db)])


async def list_plugins(request: web.Request) -> web.Response:
    return web.json_response(_pe(request).describe_plugins())


async def engine_request(request: web.Request) -> web.Response:
    pe = _pe(request)
    body = await read_body(request, request.app[CONFIG].max_request_bytes) if request.can_read_body else b""
    query = {k: v for k, v in request.query.items()}  # last value wins below
    for k in request.query.keys():
        query[k] = request.query.getall(k)[-1]
    resp = await pe.handle_request(request.match_info["path"], query, dict(request.headers), body)
    return web.Response(status=resp.status, body=resp.body, headers={"Content-Type": resp.content_type, **resp.headers})


async def plugin_test_wal(request: web.Request) -> web.Response:
    a = await _args(request)
    out = await run_wal_test(
        _pe(request),
        filename=required(a.get("filename"), "filename"),
        database=required(a.get("database"), "database"),
        input_lp=a.get("input_lp") or "",
        cache_name=a.get("cache_name"),
        input_arguments=validate_arguments_json(a.get("input_arguments")),
    )
    return web.json_response(out)


async def plugin_test_schedule(request: web.Request) -> web.Response:
    a = await _args(request)
    out = await run_schedule_test(
        _pe(request),
        filename=required(a.get("filename"), "filename"),
        database=required(a.get("database"), "database"),
        schedule=a.get("schedule"),
        cache_name=a.get("cache_name"),
        input_arguments=validate_arguments_json(a.get("input_arguments")),
    )
    return web.json_response(out)


async def install_packages(request: web.Request) -> web.Response:
    a = await _args(request)
    packages = a.get("packages")
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages) or not packages:
        raise BadRequest("packages must be a non-empty list of package specifications")
    return await _install(request, lambda inst, on_line: inst.install_async(packages, on_line))


async def install_requirements(request: web.Request) -> web.Response:
    a = await _args(request)
    path = required(a.get("requirements_location"), "requirements_location")
    return await _install(request, lambda inst, on_line: inst.install_requirements_async(path, on_line))


async def _install(request: web.Request, run) -> web.StreamResponse:
    """With `?stream=true` pip's output is streamed line by line (the CLI shows pip's progress),
    ending with `pe: ok` or `pe: pip failed ...`; otherwise one JSON answer at the end."""
    pe = _pe(request)
    if pe.installer.disabled:
        raise Forbidden(DISABLED_MESSAGE)
    if request.query.get("stream", "").lower() not in ("1", "true", "yes"):
        try:
            result = await run(pe.installer, None)
        except PackageInstallDisabled as e:
            raise Forbidden(str(e)) from None
        if not result.ok:
            return web.json_response({"error": result.message, "output": result.output_tail}, status=500)
        return web.json_response({"output": result.output_tail})
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain; charset=utf-8"})
    await resp.prepare(request)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.ensure_future(run(pe.installer, lines.put_nowait))
    task.add_done_callback(lambda _: lines.put_nowait(None))
    while (line := await lines.get()) is not None:
        await resp.write((line.rstrip("\n") + "\n").encode())
    try:
        result = task.result()
        tail = "pe: ok\n" if result.ok else f"pe: pip failed with exit code {result.returncode}\n"
    except Exception as e:
        tail = f"pe: pip failed: {e}\n"
    await resp.write(tail.encode())
    await resp.write_eof()
    return resp


async def upload_file(request: web.Request) -> web.Response:
    require_admin(request)
    a = await _args(request)
    name = required(a.get("plugin_name"), "plugin_name")
    content = a.get("content")
    if not isinstance(content, str):
        raise BadRequest("content must be the plugin's source text")
    pe = _pe(request)
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
    a = await _args(request)
    name = required(a.get("plugin_name"), "plugin_name")
    files = a.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("relative_path"), str) and isinstance(f.get("content"), str)
        for f in files
    ):
        raise BadRequest("files must be a list of {relative_path, content} objects")
    pe = _pe(request)
    trig = pe.find_trigger(name, a.get("db"))
    pe.registry.replace_directory(trig.plugin_filename.rstrip("/"), [(f["relative_path"], f["content"]) for f in files])
    pe.registry.load(trig.plugin_filename)
    return web.Response(status=200)


def register_routes(app: web.Application) -> None:
    r = app.router
    base = "/api/v3/configure/processing_engine_trigger"
    r.add_post(base, create_trigger)
    r.add_delete(base, delete_trigger)
    r.add_get(base, list_triggers)
    r.add_post(base + "/enable", enable_trigger)
    r.add_post(base + "/disable", disable_trigger)
    r.add_get("/api/v3/plugins", list_plugins)
    r.add_route("GET", "/api/v3/engine/{path:.*}", engine_request)
    r.add_route("POST", "/api/v3/engine/{path:.*}", engine_request)
    r.add_post("/api/v3/plugin_test/wal", plugin_test_wal)
    r.add_post("/api/v3/plugin_test/schedule", plugin_test_schedule)
    r.add_post("/api/v3/configure/plugin_environment/install_packages", install_packages)
    r.add_post("/api/v3/configure/plugin_environment/install_requirements", install_requirements)
    r.add_post("/api/v3/plugins/files", upload_file)
    r.add_put("/api/v3/plugins/files", upload_file)
    r.add_put("/api/v3/plugins/directory", upload_directory)
