"""Query-string parsing shared by the routes: one place that turns bad input into a 400."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..errors import BadRequest
from .body import read_body
from .keys import CONFIG

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def flag(query: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean parameter; bare `?no_sync` counts as true, like most HTTP APIs."""
    if name not in query:
        return default
    raw = query[name]
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value == "" or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"invalid value for '{name}': '{raw}' (use true or false)")


def required(value: Any, name: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRequest(f"missing parameter: {name}")
    if not isinstance(value, str):
        raise BadRequest(f"parameter '{name}' must be a string")
    return value


def json_object(raw: Any, name: str) -> dict[str, Any] | None:
    """A JSON object given either already decoded (POST body) or as a JSON string (query string)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise BadRequest(f"parameter '{name}' is not valid JSON: {e}") from None
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest(f"parameter '{name}' must be a JSON object")
    return raw


def decode_json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


async def request_args(request: web.Request) -> dict[str, Any]:
    """Query string and JSON body merged, the body winning (InfluxDB 3 parses both forms)."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        body = await read_body(request, request.app[CONFIG].max_request_bytes)
        args.update(decode_json_body(body))
    return args
