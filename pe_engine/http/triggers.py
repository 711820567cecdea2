"""/api/v3/configure/processing_engine_trigger: create, delete, enable, disable and list triggers (§6.1)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import BadRequest
from ..processing.triggers import TriggerSettings, TriggerSpecError, validate_arguments_json
from ..processing.triggers.secrets import masked_arguments
from .keys import processing_engine
from .params import flag, loads_json, request_args, required


def _settings(raw: Any) -> TriggerSettings:
    if raw is None:
        return TriggerSettings()
    if isinstance(raw, str):
        raw = loads_json(raw, "trigger_settings")
    try:
        return TriggerSettings.from_json(raw)
    except (TriggerSpecError, ValueError, TypeError) as e:
        raise BadRequest(str(e)) from None


async def create_trigger(request: web.Request) -> web.Response:
    a = await request_args(request)
    arguments = a.get("trigger_arguments")
    if isinstance(arguments, str):
        arguments = loads_json(arguments, "trigger_arguments") if arguments.strip() else None
    try:
        arguments = validate_arguments_json(arguments)
    except (TriggerSpecError, ValueError, TypeError) as e:
        raise BadRequest(str(e)) from None
    await processing_engine(request).create_trigger(
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
    a = await request_args(request)
    force = a.get("force")
    force = force if isinstance(force, bool) else flag(a, "force", False)
    await processing_engine(request).delete_trigger(
        required(a.get("db"), "db"), required(a.get("trigger_name"), "trigger_name"), force
    )
    return web.Response(status=200)


async def enable_trigger(request: web.Request) -> web.Response:
    a = await request_args(request)
    await processing_engine(request).enable_trigger(
        required(a.get("db"), "db"), required(a.get("trigger_name"), "trigger_name")
    )
    return web.Response(status=200)


async def disable_trigger(request: web.Request) -> web.Response:
    a = await request_args(request)
    await processing_engine(request).disable_trigger(
        required(a.get("db"), "db"), required(a.get("trigger_name"), "trigger_name")
    )
    return web.Response(status=200)


async def list_triggers(request: web.Request) -> web.Response:
    """Ours (InfluxDB has none): every trigger with its state and live statistics."""
    pe = processing_engine(request)
    db = request.query.get("db")
    return web.json_response([_masked(pe.describe(t)) for t in pe.list_triggers(db)])


def _masked(described: dict[str, Any]) -> dict[str, Any]:
    """The listing shows secret-looking argument values as `***`; the plugin still gets them."""
    if described.get("trigger_arguments"):
        described["trigger_arguments"] = masked_arguments(described["trigger_arguments"])
    return described
