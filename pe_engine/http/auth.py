"""Token authentication for the HTTP API.

Only SHA-256 hashes of tokens ever touch the disk (`<data_dir>/auth.json`,
mode 0600): a leaked data directory must not leak a usable token. The
plaintext admin token exists once, when it is generated, and is shown to the
operator then and never again.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ..errors import Forbidden, StorageError, Unauthorized

log = logging.getLogger("pe.http.auth")

AUTH_FILE = "auth.json"
TOKEN_PREFIX = "apiv3_"
OPEN_PATHS = frozenset({"/health", "/ping"})
# Paths of the v1 API, where InfluxDB also takes the token from `?p=` or HTTP basic auth.
V1_PATHS = frozenset({"/write", "/query"})

REQUEST_TOKEN_KEY = web.RequestKey("pe.token", object)  # request[...] -> the TokenRecord that authenticated it

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(48)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class TokenRecord:
    name: str
    sha256: str
    admin: bool = False
    created_at: float = field(default_factory=time.time)


class TokenStore:
    """The hashed tokens in `<data_dir>/auth.json`."""

    def __init__(self, path: Path):
        self.path = path
        self.tokens: list[TokenRecord] = []

    def load(self) -> None:
        if not self.path.exists():
            self.tokens = []
            return
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            self.tokens = [TokenRecord(**t) for t in raw.get("tokens", [])]
        except (ValueError, TypeError, AttributeError) as e:
            raise StorageError(
                f"cannot read {self.path}: {e} (fix it, or delete it and restart with --admin-token)"
            ) from None

    def save(self) -> None:
        """Write atomically, readable by the owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"tokens": [t.__dict__ for t in self.tokens]}, indent=2).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)  # in case the tmp file already existed with looser bits
        os.replace(tmp, self.path)

    def set_admin(self, token: str) -> None:
        self.tokens = [t for t in self.tokens if not t.admin]
        self.tokens.insert(0, TokenRecord(name="_admin", sha256=hash_token(token), admin=True))
        self.save()

    def has_admin(self) -> bool:
        return any(t.admin for t in self.tokens)

    def find(self, token: str) -> TokenRecord | None:
        """Constant-time against every stored hash, so timing says nothing about which matched."""
        digest = hash_token(token)
        found = None
        for t in self.tokens:
            if hmac.compare_digest(digest, t.sha256):
                found = t
        return found


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
        """Load auth.json; seed it from `admin_token`, or generate and announce a token on first start."""
        if without_auth:
            return cls.disabled()
        store = TokenStore(Path(data_dir) / AUTH_FILE)
        store.load()
        auth = cls(store)
        if admin_token:
            record = store.find(admin_token)
            if record is None or not record.admin:
                store.set_admin(admin_token)
                log.info("admin token set from the configuration (hash stored in %s)", store.path)
        elif not store.has_admin():
            token = new_token()
            store.set_admin(token)
            auth.generated_token = token
            log.info("generated a new admin token (hash stored in %s)", store.path)
            if announce is not None:
                announce(token, store.path)
        return auth

    # -- checking ------------------------------------------------------------
    def authenticate(self, request: web.Request) -> TokenRecord | None:
        """The token record for this request, or raise Unauthorized. None when auth is off."""
        if not self.enabled:
            return None
        assert self.store is not None
        token = request_token(request)
        if token is None:
            raise Unauthorized(
                "missing token: send 'Authorization: Bearer <token>' "
                "(pe prints the admin token once, on its first start)"
            )
        record = self.store.find(token)
        if record is None:
            raise Unauthorized("invalid token: it does not match any token of this server")
        return record

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            request[REQUEST_TOKEN_KEY] = self.authenticate(request)
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


def is_admin(request: web.Request) -> bool:
    """True when the request carries the admin token, or when auth is disabled."""
    auth: Auth | None = request.app.get("auth")
    if auth is None or not auth.enabled:
        return True
    record = request.get(REQUEST_TOKEN_KEY)
    return bool(record is not None and record.admin)


def require_admin(request: web.Request) -> None:
    if not is_admin(request):
        raise Forbidden("this endpoint requires the admin token")
