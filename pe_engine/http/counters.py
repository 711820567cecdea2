"""Counters only the HTTP layer can keep (requests as clients sent them), one set per app.

The handlers bump plain integers and floats; `/metrics` (metrics.py) reads them at scrape time.
They live on the app, not in a module global, so two servers in one process count apart.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass
class HttpCounters:
    write_requests: int = 0  # /api/v3/write_lp, /api/v2/write, /write, whatever the answer
    queries: int = 0  # /api/v3/query_sql queries handed to the engine, whatever became of them
    query_seconds: float = 0.0  # from then until the engine answered (result encoding not included)


HTTP_COUNTERS = web.AppKey("pe.http_counters", HttpCounters)
