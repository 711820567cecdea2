"""EngineThread: the engine and its HTTP server on a private event loop in a daemon thread.

For host programs that own the main thread (the console, notebooks, tests): the
engine keeps its own loop, so a slow host never delays a trigger and a busy
engine never freezes the host. Talk to it only through the thread-safe
wrappers:

    with EngineThread(EngineConfig(data_dir=..., plugin_dir=...)) as et:
        et.run(et.engine.write_lp("db", "cpu v=1"))          # blocking, with a timeout
        fut = et.call(et.engine.query("db", "SELECT 1"))     # concurrent.futures.Future
        names = et.call_soon(et.engine.list_databases).result()  # a plain function on the loop

`stop()` stops the HTTP server (in-flight requests finish), then the engine
(last WAL record flushed, plugin caches snapshotted), then joins the thread.

No Textual (or any UI) import here: pe_engine never depends on the console.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .config import EngineConfig
from .engine import Engine

if TYPE_CHECKING:
    from .http.server import PeServer

log = logging.getLogger("pe.embedded")

T = TypeVar("T")

START_TIMEOUT = 120.0  # WAL replay of a big data directory can take a while
STOP_TIMEOUT = 60.0


class EngineThreadError(RuntimeError):
    """The engine thread is not running (never started, failed to start, or stopped)."""


class EngineThread:
    """Engine (+ PeServer when `http=True`) running on its own loop in a daemon thread."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        http: bool = True,
        access_log: bool = False,
        name: str = "pe-engine",
    ) -> None:
        self.config = config
        self.http = http
        self.access_log = access_log
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        # Built here (no loop needed yet) so a host can subscribe to `engine.bus`
        # before start() and see the start-up log lines too.
        self.engine: Engine = Engine(config)
        self.server: PeServer | None = None  # when http=True
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._stop_event: asyncio.Event | None = None
        self._start_error: BaseException | None = None
        self._stop_error: BaseException | None = None

    # ------------------------------------------------------------------ properties
    @property
    def running(self) -> bool:
        return self._ready.is_set() and not self._stopped.is_set() and self._start_error is None

    @property
    def url(self) -> str | None:
        """The HTTP address clients use (the real port when the config asked for port 0)."""
        return self.server.url if self.server is not None else None

    @property
    def generated_token(self) -> str | None:
        """The admin token created by this start (None when auth is off or a token existed)."""
        auth = getattr(self.server, "auth", None)
        return getattr(auth, "generated_token", None)

    @property
    def auth_enabled(self) -> bool:
        auth = getattr(self.server, "auth", None)
        return bool(getattr(auth, "enabled", False))

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = START_TIMEOUT) -> "EngineThread":
        """Start the thread and wait until the engine (and server) are ready.

        Re-raises whatever made the start fail (bad config, data dir locked, port in use).
        """
        if self._thread is not None:
            raise EngineThreadError("EngineThread.start() called twice")
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EngineThreadError(f"the engine did not start within {timeout:g}s")
        if self._start_error is not None:
            self._thread.join(5.0)
            raise self._start_error
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop server and engine cleanly and join the thread. Safe to call twice."""
        thread = self._thread
        if thread is None or self._stopped.is_set() and not thread.is_alive():
            return
        loop, ev = self.loop, self._stop_event
        if loop is not None and ev is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise EngineThreadError(f"the engine did not stop within {timeout:g}s")
        if self._stop_error is not None:
            err, self._stop_error = self._stop_error, None
            raise err

    def __enter__(self) -> "EngineThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ thread-safe calls
    def call(self, coro: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        """Schedule a coroutine on the engine loop; returns a concurrent Future."""
        loop = self._live_loop()
        if loop is None:
            coro.close()
            raise EngineThreadError("the engine thread is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the engine loop and wait for its result (never from the loop itself)."""
        if self._on_loop_thread():
            coro.close()
            raise EngineThreadError("EngineThread.run() called from the engine thread: it would deadlock")
        fut = self.call(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"the engine did not answer within {timeout:g}s") from None

    def call_soon(self, fn: Callable[..., T], *args: Any) -> "concurrent.futures.Future[T]":
        """Run a plain function on the engine loop (to read loop-owned state consistently)."""
        loop = self._live_loop()
        if loop is None:
            raise EngineThreadError("the engine thread is not running")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # handed to the caller
                fut.set_exception(e)

        loop.call_soon_threadsafe(invoke)
        return fut

    def _live_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self.loop
        if loop is None or loop.is_closed() or not self.running:
            return None
        return loop

    def _on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    # ------------------------------------------------------------------ the thread
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as e:  # noqa: BLE001 -- reported to start()/stop()
            if not self._ready.is_set():
                self._start_error = e
            else:
                self._stop_error = e
                log.exception("engine thread failed")
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            except Exception:  # noqa: BLE001
                log.exception("engine thread cleanup failed")
            finally:
                loop.close()
                self._stopped.set()
                self._ready.set()  # never leave start() waiting

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        if self.http:
            from .http.server import PeServer

            server = PeServer(self.config, engine=self.engine, access_log=self.access_log, announce_token=None)
            await server.start()
            self.server = server
        else:
            await self.engine.start()
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            log.info("engine thread: stopping")
            if self.server is not None:
                await self.server.stop()
            else:
                await self.engine.stop()
            log.info("engine thread: stopped cleanly")
