"""HTTP front end of the engine: the InfluxDB 3 compatible API (aiohttp) and the server that runs it.

Names are imported lazily so the CLI's client (`pe_engine.http.client`) starts
without loading aiohttp, pyarrow and DataFusion.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "create_app": "pe_engine.http.app",
    "ROUTES": "pe_engine.http.routes",
    "Auth": "pe_engine.http.auth",
    "is_admin": "pe_engine.http.auth",
    "require_admin": "pe_engine.http.auth",
    "PeServer": "pe_engine.http.server",
    "run_server": "pe_engine.http.server",
    "serve": "pe_engine.http.server",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pe_engine.http' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
