"""Who may call what: token authentication and per-route authorization for the HTTP API.

Every route of `routes.py` declares an `Access`: open (`/health`, `/ping`, creating the first
operator token), admin (the default, also for routes a host program adds), or read/write on a
database (queries; writes). The middleware authenticates the token (401: missing, unknown or
expired) and then checks the route's access (403). A write names its database in the query
string; a query may name it in a POST body too, so for a token limited to some databases the
body is read here (under the same size limit) and handed on unchanged to the handler, and every
database the request could mean must be allowed.

Tokens live in `token_store.py`; the plaintext of a generated operator token is shown to the
operator once and never logged.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from enum import Enum
from functools import wraps
from pathlib import Path

from aiohttp import web
from aiohttp.streams import StreamReader

from ..errors import Forbidden, Unauthorized
from .body import GzipInflater, PayloadTooLarge
from .token_store import (
    AUTH_FILE, TOKEN_PREFIX, Action, TokenRecord, TokenStore, hash_token, new_token,
)

__all__ = [
    "AUTH_FILE", "OPEN_PATHS", "REQUEST_TOKEN_KEY", "TOKEN_PREFIX", "Access", "Action", "Auth", "Handler",
    "TokenRecord", "TokenStore", "announce_to_stderr", "guarded", "hash_token", "is_admin", "new_token",
    "request_token", "require_admin",
]

log = logging.getLogger("pe.http.auth")

OPEN_PATHS = frozenset({"/health", "/api/v1/health", "/ping"})
# Paths of the v1 API, where InfluxDB also takes the token from `?p=` or HTTP basic auth.
V1_PATHS = frozenset({"/write", "/query"})
DEFAULT_BODY_LIMIT = 64 * 1024 * 1024

REQUEST_TOKEN_KEY = web.RequestKey("pe.token", object)  # request[...] -> the TokenRecord that authenticated it

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Access(Enum):
    """What a route asks of the caller's token."""

    OPEN = "open"  # no token
    ADMIN = "admin"  # an admin token (operator or named admin)
    READ = "read"  # read on the database the request names
    WRITE = "write"  # write on the database the request names


_ACCESS_ATTR = "pe_access"


def guarded(handler: Handler, access: Access) -> Handler:
    """The handler marked with its access, as `routes.add_routes` registers it; an unmarked
    handler (a route added by a host program) needs an admin token."""

    @wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    setattr(run, _ACCESS_ATTR, access)
    return run


def route_access(request: web.Request) -> Access:
    if request.path in OPEN_PATHS:
        return Access.OPEN
    access = getattr(request.match_info.handler, _ACCESS_ATTR, None)
    return access if isinstance(access, Access) else Access.ADMIN


def announce_to_stderr(token: str, path: Path) -> None:
    bar = "=" * 72
    print(
        f"\n{bar}\n"
        f"pe: generated the admin token (shown only this once; its hash is in {path}):\n\n"
        f"    {token}\n\n"
        "Use it as `Authorization: Bearer <token>`, `pe ... --token <token>` or PE_TOKEN.\n"
        "Lost it? Restart with --admin-token <new token> (or PE_ADMIN_TOKEN) to replace it.\n"
        f"{bar}\n",
        file=sys.stderr,
        flush=True,
    )


class Auth:
    """Decides whether a request may pass. `enabled=False` lets everything through."""

    def __init__(self, store: TokenStore | None, enabled: bool = True):
        self.store = store
        self.enabled = enabled and store is not None
        self.generated_token: str | None = None  # set when this start created the admin token

    @classmethod
    def disabled(cls) -> "Auth":
        return cls(None, enabled=False)

    @classmethod
    def setup(
        cls,
        data_dir: Path,
        *,
        without_auth: bool = False,
        admin_token: str | None = None,
        announce: Callable[[str, Path], None] | None = announce_to_stderr,
    ) -> "Auth":
        """Load auth.json; seed the operator token from `admin_token`, or generate and announce
        one on first start."""
        if without_auth:
            return cls.disabled()
        store = TokenStore(Path(data_dir) / AUTH_FILE)
        store.load()
        auth = cls(store)
        if admin_token:
            record = store.find(admin_token)
            if record is None or not record.operator:
                store.set_admin(admin_token)
                log.info("operator token set from the configuration (hash stored in %s)", store.path)
        elif not store.has_admin():
            token = new_token()
            store.set_admin(token)
            auth.generated_token = token
            log.info("generated a new operator token (hash stored in %s)", store.path)
            if announce is not None:
                announce(token, store.path)
        return auth

    # -- checking ------------------------------------------------------------
    def check_token(self, token: str | None) -> TokenRecord:
        """The record of a presented token, or Unauthorized (missing, unknown, expired)."""
        assert self.store is not None
        if token is None:
            raise Unauthorized(
                "missing token: send 'Authorization: Bearer <token>' "
                "(pe prints the admin token once, on its first start)"
            )
        record = self.store.find(token)
        if record is None:
            raise Unauthorized("invalid token: it does not match any token of this server")
        if record.expired():
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.expiry or 0))
            raise Unauthorized(f"token expired: '{record.name}' expired at {when}; create a new one")
        self.store.touch(record)
        return record

    def authenticate(self, request: web.Request) -> TokenRecord | None:
        """The token record for this request, or raise Unauthorized. None when auth is off."""
        if not self.enabled:
            return None
        return self.check_token(request_token(request))

    @staticmethod
    def authorize(record: TokenRecord | None, action: Action, db: str) -> None:
        """Forbidden unless the token may do `action` on `db` (None: auth is off)."""
        if record is None or record.allows(db, action):
            return
        raise Forbidden(f"token '{record.name}' has no {action.value} permission on database '{db}'")

    def authorize_read(self, record: TokenRecord | None, db: str) -> None:
        """For front ends outside this package (Flight): read on `db`, or Forbidden."""
        self.authorize(record, Action.READ, db)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        access = route_access(request)
        if not self.enabled or access is Access.OPEN:
            return await handler(request)
        record = self.authenticate(request)
        request[REQUEST_TOKEN_KEY] = record
        if record is None or record.admin or request.match_info.http_exception is not None:
            return await handler(request)  # admins pass; an unknown path answers 404
        if access is Access.ADMIN:
            raise Forbidden(f"this endpoint requires an admin token ('{record.name}' is a resource token)")
        action = Action.READ if access is Access.READ else Action.WRITE
        for db in await request_databases(request, access):
            self.authorize(record, action, db)
        return await handler(request)


def request_token(request: web.Request) -> str | None:
    """The token as InfluxDB clients send it: Bearer/Token header; v1 also ?p= and basic auth."""
    header = request.headers.get("Authorization", "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme in ("bearer", "token") and value:
            return value
        if scheme == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[2] or None
        return None
    if request.path in V1_PATHS:
        return request.query.get("p") or None
    return None


async def request_databases(request: web.Request, access: Access) -> set[str]:
    """Every database this request could act on: `db` (and a v2 `bucket`) in the query string,
    and for a query also `db` in a JSON or form body, whichever the handler ends up reading."""
    dbs = {v for v in request.query.getall("db", []) if v}
    if access is Access.WRITE:
        dbs |= {v.split("/", 1)[0] for v in request.query.getall("bucket", []) if v}
    elif request.method == "POST" and request.can_read_body:
        dbs |= _body_databases(await _peek_body(request))
    return dbs


def _body_databases(body: bytes) -> set[str]:
    found: set[str] = set()
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("db"), str):
        found.add(data["db"])
    text = body.decode("utf-8", "replace")
    found |= {v for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True) if k == "db" and v}
    return found


async def _peek_body(request: web.Request) -> bytes:
    """Read the body (as body.py would: limit, gunzip) and put the raw bytes back for the handler."""
    config = request.app.get("config")
    limit = int(getattr(config, "max_request_bytes", DEFAULT_BODY_LIMIT))
    too_large = PayloadTooLarge(f"request body is larger than the limit of {limit} bytes (--max-request-bytes)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = bytearray()
    async for chunk in request.content.iter_chunked(256 * 1024):
        raw += chunk
        if len(raw) > limit:
            raise too_large
    again = StreamReader(request.protocol, max(len(raw), 2**16), loop=asyncio.get_running_loop())
    again.feed_data(bytes(raw))
    again.feed_eof()
    # aiohttp has no public way to put a body back: swap the stream, and drop `content`, which
    # is cached on first use. tests/engine/http/test_tokens.py pins this to the aiohttp in use.
    request._payload = again
    request._cache.pop("content", None)
    if request.headers.get("Content-Encoding", "").strip().lower() in ("gzip", "x-gzip"):
        return await asyncio.get_running_loop().run_in_executor(None, _gunzip, bytes(raw), limit)
    return bytes(raw)


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = GzipInflater(limit)
    inflater.feed(raw)
    return inflater.finish()


def is_admin(request: web.Request) -> bool:
    """True when the request carries an admin token, or when auth is disabled."""
    auth: Auth | None = request.app.get("auth")
    if auth is None or not auth.enabled:
        return True
    record = request.get(REQUEST_TOKEN_KEY)
    return isinstance(record, TokenRecord) and record.admin


def require_admin(request: web.Request) -> None:
    if not is_admin(request):
        raise Forbidden("this endpoint requires the admin token")
