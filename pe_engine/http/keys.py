"""Where the app keeps its shared objects.

Typed `web.AppKey`s for our own code; the same objects are also stored under
plain string keys ("engine", "config", "auth") so extensions can use
`request.app["engine"]` without importing this module.
"""
from __future__ import annotations

import warnings

from aiohttp import web

from ..config import EngineConfig
from ..engine import Engine
from .auth import Auth

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
