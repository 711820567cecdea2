"""The aiohttp application: middleware, core routes, and the hooks other modules extend it with.

Route registration is a list of functions so the processing engine can add its
endpoints (`/api/v3/engine/{path}`, trigger configuration, plugin tests)
without this module knowing about them: append to ROUTE_HOOKS, or provide
`register_routes(app)` in one of EXTENSION_MODULES.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable

from aiohttp import web

from .. import __version__
from ..config import EngineConfig
from ..engine import Engine
from ..errors import PeError
from . import caches, databases, query, write
from .auth import Auth, Handler
from .keys import store

log = logging.getLogger("pe.http")

RouteHook = Callable[[web.Application], None]

# Called with the app after the core routes are in place, in order.
ROUTE_HOOKS: list[RouteHook] = [write.add_routes, query.add_routes, databases.add_routes, caches.add_routes]

# Optional modules that may define `register_routes(app)`; silently skipped when absent.
EXTENSION_MODULES: list[str] = ["pe_engine.processing.http"]

BUILD = "pe"


def _error_json(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as JSON `{"error": ...}` with its status; the server keeps serving."""
    try:
        return await handler(request)
    except PeError as e:
        if e.status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, e.message)
        return web.json_response(e.to_json(), status=e.status)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = _http_message(e, request)
        keep = {k: v for k, v in e.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return _error_json(e.status, message, keep)
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _error_json(500, "internal server error (see the server log)")


def _http_message(e: web.HTTPException, request: web.Request) -> str:
    if e.status == 404:
        return f"not found: {request.method} {request.path}"
    if e.status == 405:
        return f"method {request.method} not allowed on {request.path}"
    if e.status == 413:
        return "request body is too large"
    return e.text or e.reason or f"HTTP {e.status}"


def _version_headers() -> dict[str, str]:
    return {"X-Influxdb-Version": __version__, "X-Influxdb-Build": BUILD}


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers=_version_headers())


async def ping(request: web.Request) -> web.Response:
    """Like InfluxDB 3: 200 with version info in the body and the headers v1/v2 clients look for."""
    body = {"version": __version__, "revision": BUILD, "process_id": str(os.getpid())}
    return web.json_response(body, headers=_version_headers())


def create_app(
    engine: Engine,
    auth: Auth | None = None,
    *,
    config: EngineConfig | None = None,
    hooks: list[RouteHook] | None = None,
) -> web.Application:
    """Build the app around a started (or about to start) engine."""
    config = config or engine.config
    auth = auth or Auth.disabled()
    app = web.Application(
        middlewares=[error_middleware, auth.middleware],
        client_max_size=config.max_request_bytes,
    )
    store(app, engine, config, auth)
    app.router.add_get("/health", health)
    app.router.add_get("/ping", ping)
    for hook in [*ROUTE_HOOKS, *(hooks or [])]:
        hook(app)
    for name in EXTENSION_MODULES:
        register = _extension(name)
        if register is not None:
            register(app)
    return app


def _extension(name: str) -> RouteHook | None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            return None  # the extension is simply not there (yet)
        raise
    return getattr(module, "register_routes", None)
