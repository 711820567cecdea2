"""Picks the executor per activation: the trigger's `isolation` setting, else the server's default.

The process pool is only started when something needs it, so a server whose triggers
all run in threads never spawns a worker.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

from ..enums import Isolation
from ..executor import ActivationRequest, Executor, Outcome
from .process import ProcessExecutor
from .thread import ThreadExecutor

__all__ = ["RoutingExecutor"]


class RoutingExecutor(Executor):
    def __init__(self, default: Isolation, thread: ThreadExecutor, process: Callable[[], ProcessExecutor]):
        self.default = default
        self.thread = thread
        self._make_process = process
        self._process: ProcessExecutor | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.thread.bind(loop)
        if self._process is not None:
            self._process.bind(loop)

    def start(self) -> None:
        """With process isolation as the default, the warm workers start with the server."""
        if self.default == Isolation.PROCESS:
            self.process.start()

    @property
    def process(self) -> ProcessExecutor:
        with self._lock:
            if self._process is None:
                self._process = self._make_process()
                if self._loop is not None:
                    self._process.bind(self._loop)
                self._process.start()
            return self._process

    def for_request(self, request: ActivationRequest) -> Executor:
        mode = request.isolation or self.default
        return self.process if mode == Isolation.PROCESS else self.thread

    def submit(self, request: ActivationRequest, done: Callable[[Outcome], None]) -> None:
        self.for_request(request).submit(request, done)

    def recycle(self) -> None:
        """Packages changed: worker processes reload their environment."""
        if self._process is not None:
            self._process.recycle()

    def shutdown(self) -> None:
        self.thread.shutdown()
        if self._process is not None:
            self._process.shutdown()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": str(self.default), "thread": self.thread.describe()}
        if self._process is not None:
            out["process"] = self._process.describe()
        return out
