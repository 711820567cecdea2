"""Query-string parsing shared by the routes: one place that turns bad input into a 400."""
from __future__ import annotations

import json
import re
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


MAX_JSON_DEPTH = 64  # nesting levels of a JSON document from a client; the API's own are under 5
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads_json(text: str | bytes, what: str) -> Any:
    """A client's JSON: 400 (naming `what`) for bad syntax or encoding, nesting deeper than
    MAX_JSON_DEPTH (deeper input would reach Python's recursion limit in the decoder or in
    whatever walks it later) and lone surrogates (`"\\ud800"`: valid JSON, but no UTF-8 string,
    so it would fail when stored or answered)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"{what} is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_decoded(data, what)
    return data


def _check_decoded(data: Any, what: str) -> None:
    """Depth and strings of a decoded document, without recursion."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise BadRequest(f"{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is no text")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise BadRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        else:
            stack.extend((v, depth + 1) for v in value)


def json_object(raw: Any, name: str) -> dict[str, Any] | None:
    """A JSON object given either already decoded (POST body) or as a JSON string (query string)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        raw = loads_json(raw, f"parameter '{name}'")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest(f"parameter '{name}' must be a JSON object")
    return raw


def decode_json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    data = loads_json(body, "request body")
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


DEFAULT_RPS = frozenset({"", "autogen", "default"})


def dbrp(db: str, rp: str | None) -> str:
    """InfluxDB 3's DBRP naming: a v1 database with a retention policy other than the default is
    the database `db/rp`; with none (or autogen/default) it is `db`."""
    rp = (rp or "").strip()
    return db if rp.lower() in DEFAULT_RPS else f"{db}/{rp}"
