"""The access log (`--access-log`): one line per request, never a credential.

The v1 API takes the token in the query string (`?p=`, `?u=`), and other clients put tokens or
keys there too, so the logged target has those values replaced by `***`. No request header is
logged but the User-Agent: not Authorization, and not Referer (a URL that may hold a token).
"""
from __future__ import annotations

from urllib.parse import unquote_plus

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..processing.triggers.secrets import MASK, is_secret_key

__all__ = ["RedactingAccessLogger", "redact_target", "REDACTED_PARAMS"]

# Parameters masked whatever their name says: the v1 credentials and JSON that may hold secrets.
REDACTED_PARAMS = frozenset({"p", "u", "trigger_arguments", "input_arguments"})


def _secret_param(raw_name: str) -> bool:
    name = unquote_plus(raw_name).strip().lower()
    return name in REDACTED_PARAMS or is_secret_key(name)


def redact_target(target: str) -> str:
    """`path?query` with the values of credential-like parameters replaced by `***`."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        parts.append(f"{name}={MASK}" if eq and _secret_param(name) else item)
    return f"{path}?{'&'.join(parts)}"


class RedactingAccessLogger(AbstractAccessLogger):
    """`remote "METHOD target HTTP/x.y" status bytes seconds "user-agent"`, target redacted."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        version = request.version
        agent = "".join(c if c.isprintable() and c != '"' else "?" for c in request.headers.get("User-Agent", "-")[:200])
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.6fs "%s"',
            request.remote or "-",
            request.method,
            redact_target(request.raw_path),
            version.major,
            version.minor,
            response.status,
            response.body_length,
            time,
            agent,
        )
