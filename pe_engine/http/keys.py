"""Where the app keeps its shared objects, and the accessor for the optional processing engine.

Typed `web.AppKey`s for our own code; the same objects are also stored under
plain string keys ("engine", "config", "auth") so extensions can use
`request.app["engine"]` without importing this module.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from aiohttp import web

from ..config import EngineConfig
from ..engine import Engine
from ..errors import BadRequest
from .auth import Auth

if TYPE_CHECKING:
    from ..processing.manager import ProcessingEngine

ENGINE = web.AppKey("engine", Engine)
CONFIG = web.AppKey("config", EngineConfig)
AUTH = web.AppKey("auth", Auth)


def store(app: web.Application, engine: Engine, config: EngineConfig, auth: Auth) -> None:
    app[ENGINE] = engine
    app[CONFIG] = config
    app[AUTH] = auth
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["engine"] = engine
        app["config"] = config
        app["auth"] = auth


def processing_engine(request: web.Request) -> "ProcessingEngine":
    """The engine's processing engine, or 400 as InfluxDB 3 answers when no plugin dir is configured."""
    pe = request.app[ENGINE].processing
    if pe is None:
        raise BadRequest("Node not configured with plugin directory")
    return pe
