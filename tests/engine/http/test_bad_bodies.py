"""Malformed input against the real HTTP server in process (PeServer on loopback, the test plugins,
an aiohttp client): every case answers 400 with a message naming the rule, and the server goes
on serving. Also: install_requirements reads only files inside the plugin directory, trigger
arguments that look secret are `***` in the listing and the system tables (the plugin still gets
them), and the access log never holds a credential."""
from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pe_engine.engine import Engine
from pe_engine.http.server import PeServer
from support.engines import make_engine

TRIGGERS = "/api/v3/configure/processing_engine_trigger"
REQUIREMENTS = "/api/v3/configure/plugin_environment/install_requirements"
SECRET = "sk-live-do-not-show-0123456789"


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, str]]:
    engine = make_engine(tmp_path, http_bind="127.0.0.1:0", without_auth=True, without_flight=True)
    server = PeServer(engine.config, engine=engine, access_log=True, announce_token=None)
    await server.start()
    try:
        await engine.create_database("db")
        yield engine, server.url
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def client(served: tuple[Engine, str]) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(served[1]) as session:
        yield session


async def call(client: aiohttp.ClientSession, method: str, path: str, *, data: bytes | str | None = None,
               **kw: Any) -> tuple[int, Any]:
    async with client.request(method, path, data=data, **kw) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def still_serves(client: aiohttp.ClientSession) -> None:
    assert (await call(client, "GET", "/health"))[0] == 200
    status, _ = await call(client, "POST", "/api/v3/write_lp?db=db", data="after v=1 1")
    assert status == 204
    status, rows = await call(client, "POST", "/api/v3/query_sql", json={"db": "db", "q": "SELECT v FROM after"})
    assert status == 200 and rows == [{"v": 1.0}], rows


def trigger_body(**over: Any) -> dict[str, Any]:
    body = {"db": "db", "trigger_name": "t", "plugin_filename": "hello_request.py",
            "trigger_specification": "request:hello"}
    body.update(over)
    return body


async def bad(client: aiohttp.ClientSession, path: str, body: bytes, *, rule: str) -> None:
    status, doc = await call(client, "POST", path, data=body, headers={"Content-Type": "application/json"})
    assert status == 400, (status, doc)
    assert rule in doc["error"], doc
    await still_serves(client)


# ------------------------------------------------------------------------------- JSON bodies
@pytest.mark.parametrize("depth", [100, 100_000])
async def test_deeply_nested_json_body(client: aiohttp.ClientSession, depth: int) -> None:
    body = b'{"db": ' + b"[" * depth + b"]" * depth + b"}"
    await bad(client, "/api/v3/configure/database", body, rule="nested deeper than 64 levels")


async def test_nesting_the_api_uses_is_fine(client: aiohttp.ClientSession) -> None:
    body = json.dumps(trigger_body(trigger_name="shallow", trigger_settings={"run_async": False})).encode()
    status, doc = await call(client, "POST", TRIGGERS, data=body, headers={"Content-Type": "application/json"})
    assert status == 200, doc


async def test_trigger_arguments_that_are_not_json(client: aiohttp.ClientSession) -> None:
    await bad(client, TRIGGERS, json.dumps(trigger_body(trigger_arguments="{bad")).encode(),
              rule="trigger_arguments is not valid JSON")


async def test_trigger_settings_nested_too_deeply(client: aiohttp.ClientSession) -> None:
    settings = "[" * 5000 + "]" * 5000
    await bad(client, TRIGGERS, json.dumps(trigger_body(trigger_settings=settings)).encode(),
              rule="trigger_settings is nested deeper")


@pytest.mark.parametrize(("field", "escaped"), [("trigger_name", '"x\\ud800y"'),
                                               ("trigger_arguments", '{"k": "x\\udfffy"}')])
async def test_lone_surrogate_in_a_json_string(client: aiohttp.ClientSession, field: str, escaped: str) -> None:
    raw = json.dumps(trigger_body(**{field: "PLACEHOLDER"})).replace('"PLACEHOLDER"', escaped)
    assert "\\ud" in raw  # the JSON escape itself, as a client sends it
    await bad(client, TRIGGERS, raw.encode(), rule="lone UTF-16 surrogate")


async def test_lone_surrogate_in_a_database_name(client: aiohttp.ClientSession) -> None:
    await bad(client, "/api/v3/configure/database", b'{"db": "a\\udc80b"}', rule="lone UTF-16 surrogate")


async def test_body_that_is_not_utf8(client: aiohttp.ClientSession) -> None:
    await bad(client, "/api/v3/configure/database", b'{"db": "\xff\xfe"}', rule="request body is not valid JSON")


# ----------------------------------------------------------------------------- plugin names
@pytest.mark.parametrize(("name", "rule"), [
    ("hello\x00.py", "NUL character"),
    ("a/" * 2000 + "x.py", "longer than 1024 characters"),
    ("a/" * 40 + "x.py", "more than 32 path levels"),
    ("d" * 300 + ".py", "longer than 255 bytes"),
])
async def test_plugin_filename_no_file_system_could_hold(client: aiohttp.ClientSession, name: str, rule: str) -> None:
    await bad(client, TRIGGERS, json.dumps(trigger_body(plugin_filename=name)).encode(), rule=rule)


@pytest.mark.parametrize("path", ["/api/v3/plugins/files"])
async def test_upload_with_a_nul_in_the_name(client: aiohttp.ClientSession, path: str) -> None:
    await bad(client, path, json.dumps({"plugin_name": "x\x00.py", "content": "x = 1\n"}).encode(),
              rule="NUL character")


# ------------------------------------------------------------------------- requirements files
@pytest.mark.parametrize("where", ["etc", "data_dir_auth", "symlink_out", "relative_escape"])
async def test_requirements_outside_the_plugin_dir_are_refused(
    served: tuple[Engine, str], client: aiohttp.ClientSession, tmp_path: Path, where: str
) -> None:
    engine, _ = served
    plugin_dir = engine.config.plugin_dir
    assert plugin_dir is not None
    outside = tmp_path / "outside.txt"
    outside.write_text(f"TOKEN={SECRET}\n")
    location = {
        "etc": "/etc/passwd",
        "data_dir_auth": str(tmp_path / "data" / "pe.sqlite"),
        "symlink_out": "link.txt",
        "relative_escape": "../outside.txt",
    }[where]
    if where == "symlink_out":
        os.symlink(outside, plugin_dir / "link.txt")
    status, doc = await call(client, "POST", REQUIREMENTS, json={"requirements_location": location})
    assert status == 400, doc
    assert "requirements_location must name a file inside the plugin directory" in doc["error"], doc
    assert SECRET not in json.dumps(doc) and "root:" not in json.dumps(doc)
    await still_serves(client)


async def test_requirements_file_missing_in_the_plugin_dir(client: aiohttp.ClientSession) -> None:
    status, doc = await call(client, "POST", REQUIREMENTS, json={"requirements_location": "nope.txt"})
    assert status == 400 and "is not a file there" in doc["error"], doc


# ------------------------------------------------------------------------- secret arguments
async def test_secret_arguments_are_masked_but_reach_the_plugin(
    served: tuple[Engine, str], client: aiohttp.ClientSession
) -> None:
    args = {"API_KEY": SECRET, "authToken": SECRET, "db_password": SECRET, "greeting": "Hi"}
    status, doc = await call(client, "POST", TRIGGERS, json=trigger_body(trigger_name="keyed",
                                                                          trigger_specification="request:keyed",
                                                                          plugin_filename="echo_request.py",
                                                                          trigger_arguments=args))
    assert status == 200, doc
    # the plugin gets the real values
    status, echoed = await call(client, "GET", "/api/v3/engine/keyed")
    assert status == 200 and echoed["args"] == args, echoed
    # the listing and the system tables do not
    status, listing = await call(client, "GET", TRIGGERS, params={"db": "db"})
    assert status == 200, listing
    (keyed,) = [t for t in listing if t["trigger_name"] == "keyed"]
    assert keyed["trigger_arguments"] == {"API_KEY": "***", "authToken": "***", "db_password": "***",
                                          "greeting": "Hi"}
    status, rows = await call(client, "POST", "/api/v3/query_sql", json={
        "db": "db", "q": "SELECT argument_key, argument_value FROM system.processing_engine_trigger_arguments "
                         "WHERE trigger_name = 'keyed' ORDER BY argument_key"})
    assert status == 200, rows
    assert rows == [{"argument_key": "API_KEY", "argument_value": "***"},
                    {"argument_key": "authToken", "argument_value": "***"},
                    {"argument_key": "db_password", "argument_value": "***"},
                    {"argument_key": "greeting", "argument_value": "Hi"}]
    assert SECRET not in json.dumps(listing) + json.dumps(rows)


async def test_a_rejected_secret_argument_is_not_echoed(client: aiohttp.ClientSession) -> None:
    status, doc = await call(client, "POST", TRIGGERS,
                             json=trigger_body(trigger_arguments={"api_key": [SECRET]}))
    assert status == 400 and "must be a string" in doc["error"], doc
    assert SECRET not in doc["error"]


# ------------------------------------------------------------------------------- access log
async def test_access_log_never_holds_a_credential(
    client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pe.access"):
        await call(client, "GET", f"/query?db=db&q=SELECT+1&u=me&p={SECRET}")
        await call(client, "GET", f"/api/v3/query_sql?db=db&q=SELECT%201&token={SECRET}&api_key={SECRET}",
                   headers={"Authorization": f"Bearer {SECRET}", "Referer": f"http://x/?p={SECRET}"})
        await call(client, "GET", "/health", headers={"Authorization": f"Token {SECRET}"})
    lines = [r.getMessage() for r in caplog.records if r.name == "pe.access"]
    assert len(lines) == 3, lines
    assert all(SECRET not in line for line in lines), lines
    assert "p=***" in lines[0] and "u=***" in lines[0] and "q=SELECT+1" in lines[0]
    assert "token=***" in lines[1] and "api_key=***" in lines[1]
    assert '"GET /health HTTP/1.1" 200' in lines[2]
