"""Running plugin code: a single file in fresh globals per call, a directory as an
imported package (InfluxDB 3 semantics, reference §2.1), and finding the entry point."""
from __future__ import annotations

import builtins
import importlib
import shutil
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from .model import PLUGIN_MODULE_NAME, PYCACHE_DIR, LoadedPlugin, PluginError

__all__ = ["ENTRY_POINTS", "MISSING_ENTRY_POINT", "entry_point", "instantiate", "format_compile_error"]

# Plugin type (trigger spec) -> entry point name, and the exact error InfluxDB gives when missing.
ENTRY_POINTS: dict[str, str] = {
    "wal_rows": "process_writes",
    "schedule": "process_scheduled_call",
    "request": "process_request",
}
MISSING_ENTRY_POINT: dict[str, str] = {
    "process_writes": "the process_writes function is not present in the plugin. Should be defined as: "
    "process_writes(influxdb3_local, table_batches, args=None)",
    "process_scheduled_call": "the process_scheduled_call function is not present in the plugin. Should be "
    "defined as: process_scheduled_call(influxdb3_local, call_time, args=None)",
    "process_request": "the process_request function is not present in the plugin. Should be defined as: "
    "process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None) "
    "-> Tuple[str, Optional[Dict[str, str]]]",
}

# sys.path and sys.modules are process-wide, so the lock that guards them must be too.
_IMPORT_LOCK = threading.RLock()


def format_compile_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def entry_point(namespace_or_module: Any, name: str | None, plugin_type: str | None = None) -> Callable[..., Any]:
    """The plugin's entry function, or PluginError with InfluxDB's exact "not present" text.

    `name` is the function name (e.g. "process_writes"); when None it is derived from
    `plugin_type` ("wal_rows" | "schedule" | "request").
    """
    if not name:
        if plugin_type not in ENTRY_POINTS:
            raise PluginError(f"unknown plugin type: {plugin_type}")
        name = ENTRY_POINTS[plugin_type]
    if isinstance(namespace_or_module, dict):
        fn = namespace_or_module.get(name)
    else:
        fn = getattr(namespace_or_module, name, None)
    if fn is None:
        raise PluginError(MISSING_ENTRY_POINT.get(name, f"the {name} function is not present in the plugin."))
    if not callable(fn):
        raise PluginError(f"{name} is defined in the plugin but is not callable")
    return fn


def instantiate(loaded: LoadedPlugin) -> dict[str, Any]:
    """Make the plugin ready for one invocation and return its namespace.

    Single file: runs the cached code object in fresh globals every time (InfluxDB semantics:
    module-level variables do not survive between calls). Directory: imports the package with its
    parent dir temporarily on sys.path and returns the module's live namespace (state persists);
    when the version changed since the last import, the package and its submodules are dropped
    from sys.modules first so the new code takes effect.
    """
    if loaded.kind == "file":
        assert loaded.code is not None
        namespace: dict[str, Any] = {
            "__name__": PLUGIN_MODULE_NAME,
            "__file__": str(loaded.path),
            "__builtins__": builtins,
        }
        exec(loaded.code, namespace)
        return namespace
    return _import_package(loaded).__dict__


def _package_modules(package: str) -> dict[str, ModuleType]:
    prefix = package + "."
    return {n: m for n, m in list(sys.modules.items()) if n == package or n.startswith(prefix)}


def _import_package(loaded: LoadedPlugin) -> ModuleType:
    package = loaded.package_name
    assert package is not None
    path = str(loaded.path)
    with _IMPORT_LOCK:
        existing = sys.modules.get(package)
        if existing is not None:
            owner = getattr(existing, "__pe_plugin_path__", None)
            if owner == path and getattr(existing, "__pe_version__", None) == loaded.version.content_hash:
                return existing
            if owner is None or (owner != path and Path(owner).exists()):
                where = owner or getattr(existing, "__file__", None) or "built-in"
                raise PluginError(
                    f"directory plugin '{loaded.filename}': package name '{package}' clashes with an "
                    f"already imported module ({where}); rename the plugin directory"
                )
        old = _package_modules(package)
        for name in old:
            del sys.modules[name]
        # Stale bytecode is validated by mtime (whole seconds) and size: an edit within the same
        # second that keeps the size would silently run the old code. Drop the cache instead.
        for cache in loaded.path.rglob(PYCACHE_DIR):
            shutil.rmtree(cache, ignore_errors=True)
        importlib.invalidate_caches()
        parent = str(loaded.path.parent)
        sys.path.insert(0, parent)
        try:
            module = importlib.import_module(package)
        except BaseException:
            for name in _package_modules(package):
                del sys.modules[name]
            sys.modules.update(old)  # keep the last good code importable
            raise
        finally:
            if sys.path and sys.path[0] == parent:
                del sys.path[0]
            else:
                try:
                    sys.path.remove(parent)
                except ValueError:
                    pass
        module.__pe_plugin_path__ = path  # type: ignore[attr-defined]
        module.__pe_version__ = loaded.version.content_hash  # type: ignore[attr-defined]
        return module
