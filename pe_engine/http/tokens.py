"""Token endpoints, as InfluxDB 3 Core has them, plus Enterprise's resource tokens.

- `POST /api/v3/configure/token/admin`: the operator token, only while none exists (no token
  needed then, as in Core); 409 once it does.
- `POST /api/v3/configure/token/admin/regenerate`: a new operator token; the old one stops
  working at once.
- `POST /api/v3/configure/token/named_admin` `{"token_name", "expiry_secs"?}`.
- `POST /api/v3/configure/token` (also `/api/v3/enterprise/configure/token`)
  `{"token_name", "permissions": [{"resource_type": "db", "resource_identifier": [...],
  "actions": ["read", "write"]}], "expiry_secs"?}`: a resource token.
- `DELETE /api/v3/configure/token?token_name=...` (the operator token cannot be deleted).

A creation answers 201 with `id`, `name`, `token` (the only time it is shown), `hash`,
`created_at`, `expiry` (RFC 3339, null = never), as influxdb3 clients parse it. Listing is
`SELECT * FROM system.tokens` in `_internal`.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from aiohttp import web

from ..errors import AlreadyExists, BadRequest, PeError
from .auth import REQUEST_TOKEN_KEY, Auth
from .keys import AUTH
from .params import request_args
from .token_store import Permission, TokenRecord, TokenStore, check_expiry, check_name, new_token

log = logging.getLogger("pe.http.tokens")


class TokensDisabled(PeError):
    status = 405


def _store(request: web.Request) -> TokenStore:
    auth: Auth = request.app[AUTH]
    if not auth.enabled or auth.store is None:
        raise TokensDisabled("token endpoints are disabled: pe was started with --without-auth")
    return auth.store


def _caller_id(request: web.Request) -> int | None:
    record = request.get(REQUEST_TOKEN_KEY)
    return record.id if isinstance(record, TokenRecord) else None


def rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    t = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def created(record: TokenRecord, token: str) -> web.Response:
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "token": token,
        "hash": record.sha256,
        "created_at": rfc3339(record.created_at),
        "expiry": rfc3339(record.expiry),
    }
    if not record.admin:
        body["permissions"] = [p.to_json() for p in record.permissions]
    return web.json_response(body, status=201)


async def create_admin_token(request: web.Request) -> web.Response:
    store = _store(request)
    if store.has_admin():
        raise AlreadyExists(
            "the operator token already exists: regenerate it with POST /api/v3/configure/token/admin/regenerate "
            "(pe create token --admin --regenerate), or create a named admin token"
        )
    return _issue_operator_token(store, "created the operator token (id %d)")


async def regenerate_admin_token(request: web.Request) -> web.Response:
    return _issue_operator_token(
        _store(request), "regenerated the operator token (id %d); the previous one no longer works")


def _issue_operator_token(store: TokenStore, message: str) -> web.Response:
    token = new_token()
    record = store.set_admin(token)
    log.info(message, record.id)
    return created(record, token)


async def create_named_admin_token(request: web.Request) -> web.Response:
    store = _store(request)
    args = await request_args(request)
    name = check_name(args.get("token_name"))
    record, token = store.create(name, admin=True, expiry_secs=check_expiry(args.get("expiry_secs")),
                                 created_by=_caller_id(request))
    log.info("created named admin token '%s' (id %d)", name, record.id)
    return created(record, token)


async def create_resource_token(request: web.Request) -> web.Response:
    store = _store(request)
    args = await request_args(request)
    name = check_name(args.get("token_name"))
    raw = args.get("permissions")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("permissions must be a non-empty list, e.g. "
                         "[{\"resource_type\": \"db\", \"resource_identifier\": [\"sensors\"], \"actions\": [\"read\"]}]")
    permissions = [Permission.from_json(p) for p in raw]
    record, token = store.create(name, admin=False, permissions=permissions,
                                 expiry_secs=check_expiry(args.get("expiry_secs")), created_by=_caller_id(request))
    log.info("created resource token '%s' (id %d): %s", name, record.id, record.permissions_text())
    return created(record, token)


async def delete_token(request: web.Request) -> web.Response:
    store = _store(request)
    args = await request_args(request)
    name = args.get("token_name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("missing parameter: token_name")
    record = store.delete(name.strip())
    log.info("deleted token '%s' (id %d)", record.name, record.id)
    return web.Response(status=200)
