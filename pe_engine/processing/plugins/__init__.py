"""Plugins: where their code comes from (local files, uploads, `gh:` repositories), which
version runs, how it is run, and hot reload. The face re-exports the public names."""
from __future__ import annotations

from .loading import ENTRY_POINTS, MISSING_ENTRY_POINT, entry_point, instantiate
from .model import (
    GH_CACHE_DIR,
    GH_PREFIX,
    INIT_PY,
    LoadedPlugin,
    PluginError,
    PluginFileEntry,
    PluginFileInfo,
    PluginKind,
    PluginVersion,
)
from .registry import RESTAT_INTERVAL, PluginRegistry
from .sources import DEFAULT_PLUGIN_REPO, PluginRepo, PluginSources

__all__ = [
    "ENTRY_POINTS", "MISSING_ENTRY_POINT", "entry_point", "instantiate", "GH_CACHE_DIR", "GH_PREFIX", "INIT_PY",
    "LoadedPlugin", "PluginError", "PluginFileEntry", "PluginFileInfo", "PluginKind", "PluginVersion",
    "RESTAT_INTERVAL", "PluginRegistry", "DEFAULT_PLUGIN_REPO", "PluginRepo", "PluginSources",
]
