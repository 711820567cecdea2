"""Token endpoints and per-route authorization, through the real app on a real auth.json.

An in-process engine behind aiohttp's test server: every request goes through the same
middleware, route table and handlers as under `pe serve`.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pe_engine.http.app import create_app
from pe_engine.http.auth import Auth
from pe_engine.http.token_store import AUTH_FILE, TokenStore

OPERATOR = "apiv3_operator_for_tests"
TOKEN = "/api/v3/configure/token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[TestClient]:
    server = TestServer(app)
    await server.start_server(auto_decompress=False)  # as PeServer: body.py gunzips
    async with TestClient(server) as c:
        yield c


@pytest_asyncio.fixture
async def client(engine, tmp_path: Path) -> AsyncIterator[TestClient]:
    auth = Auth.setup(tmp_path / "auth", admin_token=OPERATOR, announce=None)
    async with serving(create_app(engine, auth)) as c:
        yield c


async def make_token(client: TestClient, path: str, body: dict[str, Any], token: str = OPERATOR) -> dict:
    r = await client.post(path, json=body, headers=bearer(token))
    assert r.status == 201, await r.text()
    return await r.json()


async def resource_token(client: TestClient, name: str, dbs: list[str], actions: list[str], **extra: Any) -> str:
    perms = [{"resource_type": "db", "resource_identifier": dbs, "actions": actions}]
    out = await make_token(client, TOKEN, {"token_name": name, "permissions": perms, **extra})
    assert out["name"] == name and out["token"].startswith("apiv3_") and out["permissions"] == perms
    return out["token"]


async def query(client: TestClient, db: str, token: str, sql: str = "SELECT 1 AS one") -> web.Response:
    return await client.get("/api/v3/query_sql", params={"db": db, "q": sql}, headers=bearer(token))


async def write(client: TestClient, db: str, token: str, path: str = "/api/v3/write_lp", key: str = "db"):
    return await client.post(path, params={key: db}, data="m v=1 1", headers=bearer(token))


async def test_operator_token_is_created_once_when_none_exists(engine, tmp_path: Path):
    store = TokenStore(tmp_path / AUTH_FILE)
    store.load()  # no file: no token at all
    async with serving(create_app(engine, Auth(store))) as c:
        r = await c.post(TOKEN + "/admin")  # no token needed while none exists, as in Core
        assert r.status == 201
        out = await r.json()
        assert set(out) == {"id", "name", "token", "hash", "created_at", "expiry"}
        assert out["name"] == "_admin" and out["expiry"] is None and out["created_at"].endswith("Z")
        token = out["token"]
        r = await c.get("/api/v3/configure/database", headers=bearer(token))
        assert r.status == 200
        r = await c.post(TOKEN + "/admin", headers=bearer(token))
        assert r.status == 409 and "already exists" in (await r.json())["error"]
    text = (tmp_path / AUTH_FILE).read_text()
    assert token not in text and out["hash"] in text
    assert stat.S_IMODE(os.stat(tmp_path / AUTH_FILE).st_mode) == 0o600


async def test_regenerate_replaces_the_operator_token_at_once(client: TestClient):
    r = await client.post(TOKEN + "/admin/regenerate")
    assert r.status == 401
    out = await make_token(client, TOKEN + "/admin/regenerate", {})
    assert out["name"] == "_admin" and out["token"] != OPERATOR
    r = await client.get("/api/v3/configure/database", headers=bearer(OPERATOR))
    assert r.status == 401 and "invalid token" in (await r.json())["error"]
    r = await client.get("/api/v3/configure/database", headers=bearer(out["token"]))
    assert r.status == 200


async def test_named_admin_token_works_until_deleted(client: TestClient):
    out = await make_token(client, TOKEN + "/named_admin", {"token_name": "ops", "expiry_secs": 3600})
    ops = out["token"]
    assert out["expiry"] is not None
    r = await client.post("/api/v3/configure/database", json={"db": "made_by_ops"}, headers=bearer(ops))
    assert r.status == 200, await r.text()
    r = await client.post(TOKEN + "/named_admin", json={"token_name": "ops"}, headers=bearer(ops))
    assert r.status == 409
    r = await client.delete(TOKEN, params={"token_name": "_admin"}, headers=bearer(ops))
    assert r.status == 403 and "operator token cannot be deleted" in (await r.json())["error"]
    r = await client.delete(TOKEN, params={"token_name": "nobody"}, headers=bearer(OPERATOR))
    assert r.status == 404
    r = await client.delete(TOKEN, params={"token_name": "ops"}, headers=bearer(OPERATOR))
    assert r.status == 200
    r = await client.get("/api/v3/configure/database", headers=bearer(ops))
    assert r.status == 401


async def test_read_token_reads_its_database_only(client: TestClient, engine):
    await engine.create_database("a")
    await engine.create_database("b")
    reader = await resource_token(client, "reader", ["a"], ["read"])
    assert (await query(client, "a", reader)).status == 200
    r = await query(client, "b", reader)
    assert r.status == 403 and "no read permission on database 'b'" in (await r.json())["error"]
    r = await write(client, "a", reader)
    assert r.status == 403 and "no write permission on database 'a'" in (await r.json())["error"]
    r = await client.get("/api/v3/configure/database", headers=bearer(reader))
    assert r.status == 403 and "admin token" in (await r.json())["error"]
    r = await client.post(TOKEN, json={"token_name": "x", "permissions": []}, headers=bearer(reader))
    assert r.status == 403


async def test_query_database_in_the_body_is_checked_and_the_body_still_reaches_the_handler(client, engine):
    await engine.create_database("a")
    await engine.create_database("b")
    await engine.write_lp("a", b"m v=7 1")
    reader = await resource_token(client, "reader", ["a"], ["read"])
    sql = "SELECT v FROM m"
    r = await client.post("/api/v3/query_sql", json={"db": "a", "q": sql}, headers=bearer(reader))
    assert r.status == 200 and await r.json() == [{"v": 7.0}]
    body = gzip.compress(json.dumps({"db": "a", "q": sql}).encode())
    r = await client.post("/api/v3/query_sql", data=body,
                          headers={**bearer(reader), "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status == 200 and await r.json() == [{"v": 7.0}]
    r = await client.post("/api/v3/query_sql", data="db=a&q=SELECT+v+FROM+m", headers={
        **bearer(reader), "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and await r.json() == [{"v": 7.0}]
    # the query string says a, the body (which the handler reads) says b: refused
    r = await client.post("/api/v3/query_sql", params={"db": "a"}, json={"db": "b", "q": sql}, headers=bearer(reader))
    assert r.status == 403 and "'b'" in (await r.json())["error"]


async def test_write_token_on_every_write_api(client: TestClient, engine):
    await engine.create_database("b")
    writer = await resource_token(client, "writer", ["a"], ["write"])
    assert (await write(client, "a", writer)).status == 204
    assert (await write(client, "a", writer, "/api/v2/write", "bucket")).status == 204
    assert (await write(client, "a", writer, "/write")).status == 204
    assert (await write(client, "b", writer)).status == 403
    assert (await write(client, "b/autogen", writer, "/api/v2/write", "bucket")).status == 403
    assert (await write(client, "b", writer, "/write")).status == 403
    r = await client.post("/write", params={"db": "b", "p": writer}, data="m v=1 1")  # v1 ?p= token
    assert r.status == 403
    assert (await query(client, "a", writer)).status == 403


async def test_wildcard_token_covers_databases_but_not_internal(client: TestClient, engine):
    await engine.create_database("x")
    rw = await resource_token(client, "rw", ["*"], ["read", "write"])
    assert (await write(client, "x", rw)).status == 204
    assert (await query(client, "x", rw)).status == 200
    r = await query(client, "_internal", rw, "SELECT * FROM system.tokens")
    assert r.status == 403


async def test_expired_token_gets_401_with_a_clear_message(client: TestClient, engine):
    await engine.create_database("a")
    short = await resource_token(client, "short", ["a"], ["read"], expiry_secs=1)
    deadline = time.monotonic() + 10
    while True:
        r = await query(client, "a", short)
        if r.status != 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert r.status == 401 and "token expired: 'short' expired at" in (await r.json())["error"]


async def test_system_tokens_lists_tokens_without_secrets(client: TestClient, engine):
    reader = await resource_token(client, "reader", ["a", "b"], ["read"], expiry_secs=600)
    ops = (await make_token(client, TOKEN + "/named_admin", {"token_name": "ops"}))["token"]
    r = await client.get("/api/v3/query_sql", headers=bearer(OPERATOR), params={
        "db": "_internal", "q": "SELECT * FROM system.tokens ORDER BY token_id"})
    assert r.status == 200, await r.text()
    text = await r.text()
    rows = json.loads(text)
    assert [(row["name"], row["permissions"]) for row in rows] == [
        ("_admin", "*:*:*"), ("reader", "db:a,b:read"), ("ops", "*:*:*")]
    r = await client.get("/api/v3/query_sql", headers=bearer(OPERATOR), params={
        "db": "_internal", "q": "SELECT column_name FROM information_schema.columns WHERE table_name = 'tokens'"})
    assert [c["column_name"] for c in await r.json()] == [
        "token_id", "name", "created_at", "created_by_token_id", "updated_at", "expiry", "permissions",
        "last_used_at"]
    assert "expiry" in rows[1] and "expiry" not in rows[2]  # the JSON format leaves nulls out
    assert rows[1]["created_by_token_id"] == rows[0]["token_id"]
    assert "last_used_at" in rows[0] and "last_used_at" not in rows[1]
    for secret in (OPERATOR, reader, ops):
        assert secret not in text
    store = client.server.app["auth"].store
    for record in store.tokens:
        assert record.sha256 not in text and record.sha256[:9] not in text
    await engine.create_database("user_db")
    r = await client.get("/api/v3/query_sql", headers=bearer(OPERATOR), params={
        "db": "user_db", "q": "SELECT * FROM system.tokens"})
    assert r.status == 400 and "tokens" in (await r.json())["error"]  # served in _internal only


@pytest.mark.parametrize("body, message", [
    ({"permissions": [{"resource_type": "db", "resource_identifier": ["a"], "actions": ["read"]}]},
     "token_name is required"),
    ({"token_name": "t", "permissions": []}, "permissions must be a non-empty list"),
    ({"token_name": "t", "permissions": [{"resource_type": "system", "resource_identifier": ["*"],
                                          "actions": ["read"]}]}, "unsupported resource_type"),
    ({"token_name": "t", "permissions": [{"resource_type": "db", "resource_identifier": [],
                                          "actions": ["read"]}]}, "resource_identifier"),
    ({"token_name": "t", "permissions": [{"resource_type": "db", "resource_identifier": ["a"],
                                          "actions": ["delete"]}]}, "unknown action"),
    ({"token_name": "t", "expiry_secs": -5, "permissions": [
        {"resource_type": "db", "resource_identifier": ["a"], "actions": ["read"]}]}, "expiry_secs"),
    ({"token_name": "_admin", "permissions": [
        {"resource_type": "db", "resource_identifier": ["a"], "actions": ["read"]}]}, "operator token's name"),
])
async def test_bad_token_requests_get_a_400_that_says_why(client: TestClient, body: dict, message: str):
    r = await client.post(TOKEN, json=body, headers=bearer(OPERATOR))
    assert r.status == 400 and message in (await r.json())["error"]
    r = await client.get("/health")
    assert r.status == 200


async def test_routes_a_host_adds_need_an_admin_token(engine, tmp_path: Path):
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": True})

    auth = Auth.setup(tmp_path, admin_token=OPERATOR, announce=None)
    app = create_app(engine, auth, hooks=[lambda a: a.router.add_get("/api/v3/engine/hello", hello)])
    async with serving(app) as c:
        token = await resource_token(c, "rw", ["*"], ["read", "write"])
        assert (await c.get("/api/v3/engine/hello", headers=bearer(token))).status == 403
        assert (await c.get("/api/v3/engine/hello", headers=bearer(OPERATOR))).status == 200
        assert (await c.get("/api/v3/no/such/thing", headers=bearer(token))).status == 404


async def test_tokens_survive_a_new_auth_over_the_same_file(engine, tmp_path: Path):
    auth = Auth.setup(tmp_path, admin_token=OPERATOR, announce=None)
    async with serving(create_app(engine, auth)) as c:
        reader = await resource_token(c, "reader", ["a"], ["read"], expiry_secs=3600)
    again = Auth.setup(tmp_path, admin_token=OPERATOR, announce=None)
    record = again.check_token(reader)
    assert record.name == "reader" and record.permissions_text() == "db:a:read" and record.expiry is not None
    assert again.store is not None and [t.name for t in again.store.tokens] == ["_admin", "reader"]


async def test_token_endpoints_are_off_without_auth(engine):
    async with serving(create_app(engine, Auth.disabled())) as c:
        r = await c.post(TOKEN + "/admin")
        assert r.status == 405 and "--without-auth" in (await r.json())["error"]
        assert (await c.post("/api/v3/write_lp", params={"db": "x"}, data="m v=1 1")).status == 204


async def test_concurrent_creations_all_land_in_the_file(client: TestClient, tmp_path: Path):
    names = [f"t{i}" for i in range(8)]
    await asyncio.gather(*(make_token(client, TOKEN + "/named_admin", {"token_name": n}) for n in names))
    store = TokenStore(tmp_path / "auth" / AUTH_FILE)
    store.load()
    assert sorted(t.name for t in store.tokens) == sorted(["_admin", *names])
