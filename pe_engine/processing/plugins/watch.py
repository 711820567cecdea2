"""Hot reload: follow the plugin directory and reload the plugins whose files change."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from .files import is_hidden_part
from .model import LoadedPlugin, PluginError

__all__ = ["WatchedRegistry", "watch_plugins", "affected"]


class WatchedRegistry(Protocol):
    """What the watcher needs of the registry."""

    plugin_dir: Path | None

    @property
    def root(self) -> Path: ...

    def watched(self) -> list[tuple[str, Path | None, Path]]: ...

    def reload(self, key: str) -> LoadedPlugin: ...


async def watch_plugins(
    registry: WatchedRegistry, stop: asyncio.Event, *, step_ms: int = 50, debounce_ms: int = 400
) -> None:
    """Reload plugins whose files change under the plugin dir until `stop` is set.

    Ignores `__pycache__`, `.venv`, the `.gh` cache and other hidden entries. Each reload goes
    through the same path as `load()`, so `on_change` fires only for a new version or error.
    """
    import watchfiles

    if registry.plugin_dir is None:
        await stop.wait()
        return
    registry.plugin_dir.mkdir(parents=True, exist_ok=True)
    root = registry.root

    def keep(_change: Any, path: str) -> bool:
        try:
            rel = Path(path).relative_to(root)
        except ValueError:
            return True
        return not any(is_hidden_part(p) for p in rel.parts) and not path.endswith((".pyc", ".pyo"))

    async for changes in watchfiles.awatch(
        root, watch_filter=keep, stop_event=stop, recursive=True, step=step_ms, debounce=debounce_ms
    ):
        for key in affected(registry, {Path(p) for _, p in changes}):
            try:
                await asyncio.to_thread(registry.reload, key)
            except PluginError:
                pass  # recorded as last_error and reported through on_change


def affected(registry: WatchedRegistry, changed: set[Path]) -> list[str]:
    """Keys of the plugins that own (or sit under, or above) one of the changed paths."""
    out: list[str] = []
    for key, real, nominal in registry.watched():
        for target in {p for p in (real, nominal) if p is not None}:
            if any(c == target or target in c.parents or c in target.parents for c in changed):
                out.append(key)
                break
    return out
