"""The executor interface: run one invocation of one trigger's plugin, get an outcome back.

Modelled on APScheduler 4's JobExecutor. The runtime (WAL, schedule and request
triggers) and dry runs submit an `ActivationRequest`; the executor loads the
plugin, builds `influxdb3_local`, calls the entry point under the request's
limits, measures it and hands back an `Outcome` holding the `ActivationRecord`.
It records nothing itself: where the outcome goes is the caller's business.
Implementations live in `executors/`: `thread` (one interpreter), `process` (a pool of
worker processes) and `routing` (picks one per request).
"""
from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .activations import ActivationRecord
from .enums import Isolation
from .invocations import Job
from .py_api.cache import TriggerCache
from .responses import PluginResponse

if TYPE_CHECKING:
    from .plugins.model import LoadedPlugin
    from .py_api.local import PluginApi
    from .triggers.settings import TriggerSettings

__all__ = ["Limits", "ActivationRequest", "Outcome", "Executor", "LogFn"]

LogFn = Callable[[str, str], None]  # (level, text)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one activation may use; None = unlimited."""

    deadline: float | None = None  # seconds of wall time
    cpu_limit: float | None = None  # seconds of CPU time
    memory_limit: int | None = None  # bytes

    @classmethod
    def of(cls, s: "TriggerSettings") -> "Limits":
        return cls(s.deadline_seconds, s.cpu_limit_seconds, s.memory_limit_bytes)


@dataclass(slots=True)
class ActivationRequest:
    """One call to make: whose plugin, with what input, under which limits, logging where."""

    database: str
    trigger: str
    plugin: str  # plugin filename
    arguments: dict[str, str] | None
    job: Job
    limits: Limits
    cache: TriggerCache
    log: LogFn  # where the activation's log lines go besides its record
    capture_writes: bool = False  # dry runs: collect writes instead of writing them
    loaded: "LoadedPlugin | None" = None  # dry runs load first; else the registry's current version
    record_id: int | None = None  # None: the executor reserves the next activation id
    # Dry runs log "starting execution" only once the entry point is found, and
    # "finished execution" only after a success; triggers log both around every attempt.
    notes_only_when_called: bool = False
    on_api: Callable[["PluginApi", bool], None] | None = None  # (api, started?): lets stop() cancel it
    isolation: Isolation | None = None  # the trigger's setting; None: the server's default


@dataclass(slots=True)
class Outcome:
    record: ActivationRecord
    response: PluginResponse | None = None
    queued_writes: dict[str, list[str]] | None = None  # on success: what the plugin queued
    captured_writes: dict[str, list[str]] | None = None  # capture mode: every write, even on failure


class Executor(ABC):
    """Runs activations off the event loop."""

    @abstractmethod
    def submit(self, request: ActivationRequest, done: Callable[[Outcome], None]) -> None:
        """Start the activation; `done(outcome)` is called once, from whichever thread finished it."""

    async def run(self, request: ActivationRequest) -> Outcome:
        """Submit and await the outcome on the running loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()

        def done(outcome: Outcome) -> None:
            def settle() -> None:
                if not fut.done():
                    fut.set_result(outcome)

            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # loop closed during shutdown
                pass

        self.submit(request, done)
        return await fut

    @abstractmethod
    def shutdown(self) -> None:
        """Stop accepting work and let the workers go."""

    def describe(self) -> dict[str, Any]:
        return {"kind": type(self).__name__}
