"""The HTTP API's one route table: every (method, path, handler), one module per resource.

To add an endpoint, write the handler in its resource's module and add a row
here. Rows are registered in order and the first match wins, so the catch-all
`/api/v3/engine/{path}` stays last. A GET row also answers HEAD (aiohttp's
add_get) unless `head=False`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from . import (
    caches, databases, engine_requests, influxql, metrics, packages, plugin_tests, plugins, query, status, tables, tokens,
    triggers, write,
)
from .auth import Access, Handler, guarded


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    head: bool = True  # GET only: also answer HEAD
    access: Access = Access.ADMIN  # what the caller's token must allow (auth.py)


TRIGGERS = "/api/v3/configure/processing_engine_trigger"
PLUGIN_ENVIRONMENT = "/api/v3/configure/plugin_environment"
TOKEN = "/api/v3/configure/token"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", status.health),
    Route("GET", "/api/v1/health", status.health),
    Route("GET", "/ping", status.ping),
    Route("GET", "/metrics", metrics.metrics),
    # writes
    Route("POST", "/api/v3/write_lp", write.write_v3, access=Access.WRITE),
    Route("POST", "/api/v2/write", write.write_v2, access=Access.WRITE),
    Route("POST", "/write", write.write_v1, access=Access.WRITE),
    # queries
    Route("GET", "/api/v3/query_sql", query.query_sql, access=Access.READ),
    Route("POST", "/api/v3/query_sql", query.query_sql, access=Access.READ),
    Route("GET", "/api/v3/query_influxql", influxql.query_influxql_v3, access=Access.READ),
    Route("POST", "/api/v3/query_influxql", influxql.query_influxql_v3, access=Access.READ),
    Route("GET", "/query", influxql.query_v1, access=Access.READ),  # CREATE/DROP DATABASE need admin (handler)
    Route("POST", "/query", influxql.query_v1, access=Access.READ),
    # tokens
    Route("POST", TOKEN + "/admin", tokens.create_admin_token, access=Access.OPEN),  # only while none exists
    Route("POST", TOKEN + "/admin/regenerate", tokens.regenerate_admin_token),
    Route("POST", TOKEN + "/named_admin", tokens.create_named_admin_token),
    Route("POST", TOKEN, tokens.create_resource_token),
    Route("POST", "/api/v3/enterprise/configure/token", tokens.create_resource_token),
    Route("DELETE", TOKEN, tokens.delete_token),
    # databases
    Route("GET", "/api/v3/configure/database", databases.list_databases),
    Route("POST", "/api/v3/configure/database", databases.create_database),
    Route("DELETE", "/api/v3/configure/database", databases.delete_database),
    # tables
    Route("POST", "/api/v3/configure/table", tables.create_table),
    Route("DELETE", "/api/v3/configure/table", tables.delete_table),
    # value caches
    Route("POST", "/api/v3/configure/last_cache", caches.create_last_cache),
    Route("DELETE", "/api/v3/configure/last_cache", caches.delete_last_cache),
    Route("POST", "/api/v3/configure/distinct_cache", caches.create_distinct_cache),
    Route("DELETE", "/api/v3/configure/distinct_cache", caches.delete_distinct_cache),
    # processing engine: triggers
    Route("POST", TRIGGERS, triggers.create_trigger),
    Route("DELETE", TRIGGERS, triggers.delete_trigger),
    Route("GET", TRIGGERS, triggers.list_triggers),
    Route("POST", TRIGGERS + "/enable", triggers.enable_trigger),
    Route("POST", TRIGGERS + "/disable", triggers.disable_trigger),
    # plugins
    Route("GET", "/api/v3/plugins", plugins.list_plugins),
    Route("POST", "/api/v3/plugin_test/wal", plugin_tests.plugin_test_wal),
    Route("POST", "/api/v3/plugin_test/schedule", plugin_tests.plugin_test_schedule),
    Route("POST", PLUGIN_ENVIRONMENT + "/install_packages", packages.install_packages),
    Route("POST", PLUGIN_ENVIRONMENT + "/install_requirements", packages.install_requirements),
    Route("POST", "/api/v3/plugins/files", plugins.upload_file),
    Route("PUT", "/api/v3/plugins/files", plugins.upload_file),
    Route("PUT", "/api/v3/plugins/directory", plugins.upload_directory),
    # request triggers: the catch-all, last
    Route("GET", "/api/v3/engine/{path:.*}", engine_requests.engine_request, head=False),
    Route("POST", "/api/v3/engine/{path:.*}", engine_requests.engine_request),
)


def add_routes(router: web.UrlDispatcher, routes: Iterable[Route] = ROUTES) -> None:
    for r in routes:
        handler = guarded(r.handler, r.access)
        if r.method == "GET" and r.head:
            router.add_get(r.path, handler)
        else:
            router.add_route(r.method, r.path, handler)
