"""/health (also /api/v1/health, as InfluxDB 3 Core) and /ping: liveness and version, with the headers
v1/v2 clients look for."""
from __future__ import annotations

import os

from aiohttp import web

from .. import __version__

BUILD = "pe"


def _version_headers() -> dict[str, str]:
    return {"X-Influxdb-Version": __version__, "X-Influxdb-Build": BUILD}


async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers=_version_headers())


async def ping(request: web.Request) -> web.Response:
    """Like InfluxDB 3: 200 with version info in the body and the headers v1/v2 clients look for."""
    body = {"version": __version__, "revision": BUILD, "process_id": str(os.getpid())}
    return web.json_response(body, headers=_version_headers())
