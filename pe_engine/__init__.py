"""pe_engine: an embedded time-series processing engine compatible with the InfluxDB 3 Processing Engine.

The public names are imported lazily so that `import pe_engine.lineprotocol`
(e.g. from a plugin test harness) does not pull in DataFusion and the server.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Engine", "EngineConfig", "FlushedWrites", "LineBuilder", "PeError", "WriteResult"]
__version__ = "0.1.0"

_LAZY = {
    "Engine": ("pe_engine.engine", "Engine"),
    "FlushedWrites": ("pe_engine.engine", "FlushedWrites"),
    "WriteResult": ("pe_engine.engine", "WriteResult"),
    "EngineConfig": ("pe_engine.config", "EngineConfig"),
    "PeError": ("pe_engine.errors", "PeError"),
    "LineBuilder": ("pe_engine.lineprotocol.builder", "LineBuilder"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pe_engine' has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(module), attr)
