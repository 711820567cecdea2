"""The aiohttp application: middleware, shared objects, and the routes of routes.py.

Every endpoint is a row of `routes.ROUTES`; a host program adds its own with
`create_app(..., hooks=[...])`, which run before the table so their routes
are matched first.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable

from aiohttp import web

from ..config import EngineConfig
from ..engine import Engine
from ..errors import PeError
from .auth import Auth, Handler
from .keys import store
from .metrics import install as install_metrics
from .routes import add_routes
from .token_table import register_tokens_table

log = logging.getLogger("pe.http")

RouteHook = Callable[[web.Application], None]


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
    register_tokens_table(engine.system_tables, auth.store)
    install_metrics(app)
    for hook in hooks or ():
        hook(app)
    add_routes(app.router)
    return app
