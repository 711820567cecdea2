"""Where plugins run, as the console shows it: the server's default isolation and the pool of
worker processes.

The bridge reads this through one small interface, `ExecutorDescription` (the engine's
`processing.executor` satisfies it: `describe()` returns
`{"default": "thread"|"process", "thread": {...}, "process": {...}}`, the "process" part only
once a worker pool was started), never through the executor's internals.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ExecutorDescription", "Placement", "read_placement", "effective_isolation"]

class ExecutorDescription(Protocol):
    def describe(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Placement:
    default: str = "thread"  # the server's --plugin-isolation
    workers: int | None = None  # None: no worker pool started
    workers_max: int = 0
    started: int = 0
    replaced: int = 0
    pids: tuple[int, ...] = field(default_factory=tuple)


def read_placement(executor: ExecutorDescription | None, fallback_default: str = "thread") -> Placement:
    """The executor's description as a Placement (a missing or odd field reads as "nothing")."""
    if executor is None:
        return Placement(default=fallback_default)
    d = executor.describe()
    default = str(d.get("default") or fallback_default)
    proc = d.get("process")
    if not isinstance(proc, Mapping):
        return Placement(default=default)
    return Placement(
        default=default,
        workers=int(proc.get("workers") or 0),
        workers_max=int(proc.get("max_workers") or 0),
        started=int(proc.get("started") or 0),
        replaced=int(proc.get("replaced") or 0),
        pids=tuple(int(p) for p in proc.get("pids") or ()),
    )


def effective_isolation(setting: Any, default: str) -> str:
    """A trigger's isolation: its own setting when it has one, else the server's default."""
    return str(setting) if setting is not None else default
