"""Turn what `process_request` returns into an HTTP response, as InfluxDB 3 does (reference §2.4)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PluginResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)


class UnsupportedReturn(Exception):
    pass


def _render(body: Any) -> tuple[bytes, str]:
    if isinstance(body, str):
        return body.encode(), "text/html"
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), "application/json"
    return str(body).encode(), "text/plain"


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _headers(obj: Any) -> dict[str, str]:
    out = {}
    for k, v in obj.items():
        name = str(k)
        if not _TOKEN.match(name):
            raise UnsupportedReturn(f"invalid header name {name!r}")
        try:
            value = str(v)
        except Exception:
            value = ""
        # Like InfluxDB: an invalid value becomes empty (CR/LF would otherwise be refused by the
        # HTTP server after the fact, dropping the connection instead of answering).
        out[name] = "" if _BAD_VALUE.search(value) else value
    return out


def _pop_content_type(headers: dict[str, str]) -> str | None:
    """Header names are case-insensitive: a plugin's "Content-type" must replace ours, not add a second one."""
    found = None
    for k in [k for k in headers if k.lower() == "content-type"]:
        found = headers.pop(k) or found
    return found


def to_response(value: Any) -> PluginResponse:
    if getattr(value, "__flask_response__", None) is not None and callable(value.__flask_response__):
        if value.__flask_response__() is True:
            data = value.get_data()
            if not isinstance(data, str):
                raise UnsupportedReturn("flask-style response get_data() must return str")
            headers = _headers(getattr(value, "headers", {}) or {})
            ctype = _pop_content_type(headers) or "text/html"
            return _checked(PluginResponse(int(value.status_code), data.encode(), ctype, headers))
    if isinstance(value, tuple):
        if not 1 <= len(value) <= 3:
            return _iterable(value)
        body, ctype = _render(value[0])
        resp = PluginResponse(200, body, ctype)
        if len(value) >= 2:
            second = value[1]
            if isinstance(second, bool):
                pass
            elif isinstance(second, int):
                if not 0 <= second <= 65535:
                    raise UnsupportedReturn(f"invalid status code {second}")
                resp.status = second
            elif isinstance(second, dict):
                resp.headers.update(_headers(second))
        if len(value) == 3:
            if not isinstance(value[2], dict):
                raise UnsupportedReturn("the third element of a response tuple must be a dict of headers")
            resp.headers.update(_headers(value[2]))
        found = _pop_content_type(resp.headers)
        if found:
            resp.content_type = found
        return _checked(resp)
    if isinstance(value, str):
        return PluginResponse(200, value.encode(), "text/html")
    if isinstance(value, (dict, list)):
        return PluginResponse(200, json.dumps(value).encode(), "application/json")
    if isinstance(value, (bytes, bytearray)):
        return PluginResponse(200, b"", "text/html")  # InfluxDB iterates ints: empty body
    if hasattr(value, "__iter__"):
        return _iterable(value)
    raise UnsupportedReturn("Unsupported return type from Python function")


def _iterable(value: Any) -> PluginResponse:
    parts = []
    for item in value:
        if isinstance(item, str):
            parts.append(item.encode())
        elif isinstance(item, (bytes, bytearray)):
            parts.append(bytes(item))
    return PluginResponse(200, b"".join(parts), "text/html")


def _checked(resp: PluginResponse) -> PluginResponse:
    if not 100 <= resp.status <= 999:
        raise UnsupportedReturn(f"invalid status code {resp.status}")
    return resp
