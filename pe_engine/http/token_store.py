"""The tokens of a server: records, permissions, and their file `<data_dir>/auth.json`.

Only SHA-256 hashes ever touch the disk (mode 0600, written atomically): a leaked data
directory must not leak a usable token. A plaintext token exists once, in the answer that
created it. Three kinds, as InfluxDB 3: the operator token (`_admin`, one, never expires,
cannot be deleted, can be regenerated), named admin tokens, and resource tokens that may
only read and/or write some databases (`db:<name>` or `db:*`).

Records are immutable and the list is swapped whole under a lock, so Flight's gRPC threads
can look tokens up while the loop creates or deletes them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import AlreadyExists, BadRequest, Forbidden, NotFound, StorageError

AUTH_FILE = "auth.json"
TOKEN_PREFIX = "apiv3_"
OPERATOR_NAME = "_admin"
ALL = "*"
INTERNAL_DB = "_internal"  # system tables only; `db:*` does not cover it
MAX_NAME = 128
FILE_VERSION = 2


class Action(StrEnum):
    READ = "read"
    WRITE = "write"


class ResourceType(StrEnum):
    DB = "db"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(48)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Permission:
    """Some actions on some databases: `db:sensors,lab:read,write`, `db:*:read`."""

    databases: tuple[str, ...]
    actions: frozenset[Action]
    resource_type: ResourceType = ResourceType.DB

    def allows(self, db: str, action: Action) -> bool:
        if action not in self.actions:
            return False
        if db in self.databases:
            return True
        return ALL in self.databases and db != INTERNAL_DB

    def text(self) -> str:
        acts = ",".join(a.value for a in Action if a in self.actions)
        return f"{self.resource_type.value}:{','.join(self.databases)}:{acts}"

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_type": self.resource_type.value,
            "resource_identifier": list(self.databases),
            "actions": [a.value for a in Action if a in self.actions],
        }

    @classmethod
    def from_json(cls, raw: Any) -> "Permission":
        """One entry of a request's `permissions` list; a 400 names what is wrong."""
        if not isinstance(raw, dict):
            raise BadRequest("each permission must be an object with resource_type, resource_identifier, actions")
        rtype = raw.get("resource_type")
        if rtype != ResourceType.DB.value:
            raise BadRequest(f"unsupported resource_type {rtype!r}: pe has database permissions only (\"db\")")
        names = raw.get("resource_identifier")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise BadRequest("resource_identifier must be a non-empty list of database names (or [\"*\"])")
        return cls(tuple(dict.fromkeys(n.strip() for n in names)), _actions(raw.get("actions")))

    @classmethod
    def parse(cls, text: str) -> "Permission":
        """`db:<names>:<actions>` as the CLI's --permission takes it."""
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise BadRequest(f"invalid permission {text!r}: use db:<database[,database]|*>:<read|write|read,write>")
        rtype, names, acts = parts
        return cls.from_json({"resource_type": rtype, "resource_identifier": names.split(","),
                              "actions": acts.split(",")})


def _actions(raw: Any) -> frozenset[Action]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise BadRequest("actions must be a non-empty list of \"read\" and/or \"write\"")
    out: set[Action] = set()
    for a in raw:
        if a == ALL:
            out.update(Action)
            continue
        try:
            out.add(Action(str(a).strip().lower()))
        except ValueError:
            raise BadRequest(f"unknown action {a!r}: use \"read\" and/or \"write\"") from None
    return frozenset(out)


@dataclass(frozen=True)
class TokenRecord:
    """What the server keeps of a token: never the token itself."""

    id: int
    name: str
    sha256: str
    admin: bool = False
    created_at: float = field(default_factory=time.time)
    expiry: float | None = None  # epoch seconds; None never expires
    permissions: tuple[Permission, ...] = ()
    created_by: int | None = None  # id of the token that created it
    updated_at: float | None = None  # last regeneration

    @property
    def operator(self) -> bool:
        return self.admin and self.name == OPERATOR_NAME

    def expired(self, now: float | None = None) -> bool:
        return self.expiry is not None and (time.time() if now is None else now) >= self.expiry

    def allows(self, db: str, action: Action) -> bool:
        return self.admin or any(p.allows(db, action) for p in self.permissions)

    def permissions_text(self) -> str:
        return "*:*:*" if self.admin else " ".join(p.text() for p in self.permissions)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["permissions"] = [p.to_json() for p in self.permissions]
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any], default_id: int) -> "TokenRecord":
        if "permissions" in raw:
            perms = tuple(Permission.from_json(p) for p in raw.get("permissions") or ())
        elif not raw.get("admin", False):
            # a non-admin token of a file from before permissions existed: it could read and
            # write every database, and keeps that
            perms = (Permission(databases=(ALL,), actions=frozenset(Action)),)
        else:
            perms = ()
        return cls(
            id=int(raw.get("id", default_id)),
            name=str(raw["name"]),
            sha256=str(raw["sha256"]),
            admin=bool(raw.get("admin", False)),
            created_at=float(raw.get("created_at") or time.time()),
            expiry=None if raw.get("expiry") is None else float(raw["expiry"]),
            permissions=perms,
            created_by=None if raw.get("created_by") is None else int(raw["created_by"]),
            updated_at=None if raw.get("updated_at") is None else float(raw["updated_at"]),
        )


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("token_name is required")
    name = name.strip()
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise BadRequest(f"invalid token_name: at most {MAX_NAME} printable characters")
    if name == OPERATOR_NAME:
        raise BadRequest(f"'{OPERATOR_NAME}' is the operator token's name: choose another")
    return name


def check_expiry(expiry_secs: Any) -> int | None:
    if expiry_secs is None:
        return None
    if isinstance(expiry_secs, bool) or not isinstance(expiry_secs, int) or expiry_secs <= 0:
        raise BadRequest("expiry_secs must be a positive whole number of seconds (or left out: never expires)")
    return expiry_secs


class TokenStore:
    """The hashed tokens in `<data_dir>/auth.json`; every change is saved before it answers."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._tokens: tuple[TokenRecord, ...] = ()
        self._next_id = 0
        self._last_used: dict[int, float] = {}  # in memory only: since this start

    @property
    def tokens(self) -> tuple[TokenRecord, ...]:
        return self._tokens

    # -- the file -------------------------------------------------------------
    def load(self) -> None:
        if not self.path.exists():
            self._tokens, self._next_id = (), 0
            return
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            tokens = tuple(TokenRecord.from_json(t, i) for i, t in enumerate(raw.get("tokens", [])))
            next_id = max([int(raw.get("next_id", 0)), *(t.id + 1 for t in tokens)])
        except (ValueError, TypeError, AttributeError, KeyError, BadRequest) as e:
            raise StorageError(
                f"cannot read {self.path}: {e} (fix it, or delete it and restart with --admin-token)"
            ) from None
        self._tokens, self._next_id = tokens, next_id

    def _save(self, tokens: tuple[TokenRecord, ...], next_id: int) -> None:
        """Write atomically, readable by the owner only; the new list is live only once durable."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        doc = {"version": FILE_VERSION, "next_id": next_id, "tokens": [t.to_json() for t in tokens]}
        data = json.dumps(doc, indent=2).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)  # in case the tmp file already existed with looser bits
        os.replace(tmp, self.path)
        self._tokens, self._next_id = tokens, next_id

    # -- looking up -------------------------------------------------------------
    def find(self, token: str) -> TokenRecord | None:
        """Constant-time against every stored hash, so timing says nothing about which matched."""
        digest = hash_token(token)
        found = None
        for t in self._tokens:
            if hmac.compare_digest(digest, t.sha256):
                found = t
        return found

    def by_name(self, name: str) -> TokenRecord | None:
        return next((t for t in self._tokens if t.name == name), None)

    def has_admin(self) -> bool:
        return self.operator() is not None

    def operator(self) -> TokenRecord | None:
        return next((t for t in self._tokens if t.operator), None)

    def touch(self, record: TokenRecord) -> None:
        self._last_used[record.id] = time.time()

    def last_used(self, record: TokenRecord) -> float | None:
        return self._last_used.get(record.id)

    # -- changing ---------------------------------------------------------------
    def set_admin(self, token: str) -> TokenRecord:
        """Make `token` the operator token (a new one, or the configured --admin-token)."""
        with self._lock:
            old = self.operator()
            if old is None:
                record = TokenRecord(self._next_id, OPERATOR_NAME, hash_token(token), admin=True)
                self._save((record, *self._tokens), self._next_id + 1)
            else:
                record = dataclasses.replace(old, sha256=hash_token(token), updated_at=time.time())
                self._save(tuple(record if t is old else t for t in self._tokens), self._next_id)
            return record

    def create(
        self,
        name: str,
        *,
        admin: bool,
        permissions: Iterable[Permission] = (),
        expiry_secs: int | None = None,
        created_by: int | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new named token and its plaintext (returned once, never kept)."""
        with self._lock:
            if self.by_name(name) is not None:
                raise AlreadyExists(f"a token named '{name}' already exists")
            token = new_token()
            now = time.time()
            record = TokenRecord(
                self._next_id, name, hash_token(token), admin=admin, created_at=now,
                expiry=None if expiry_secs is None else now + expiry_secs,
                permissions=tuple(permissions), created_by=created_by,
            )
            self._save((*self._tokens, record), self._next_id + 1)
            return record, token

    def delete(self, name: str) -> TokenRecord:
        with self._lock:
            record = self.by_name(name)
            if record is None:
                raise NotFound(f"token not found: {name}")
            if record.operator:
                raise Forbidden("the operator token cannot be deleted (regenerate it instead)")
            self._save(tuple(t for t in self._tokens if t is not record), self._next_id)
            self._last_used.pop(record.id, None)
            return record

