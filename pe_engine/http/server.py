"""Run the engine behind the HTTP API, headless (`pe serve`) or inside another program's loop.

`PeServer` is the reusable piece: start() and stop() on whatever loop the
caller runs (the console runs it on its own engine thread). `run_server` adds
waiting for a stop signal; `serve` adds process concerns: logging, uvloop,
SIGINT/SIGTERM.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..config import EngineConfig
from ..engine import Engine
from ..errors import PeError
from ..flight import FlightBindError, FlightListeners, announce, start_flight, stop_flight
from .access_log import RedactingAccessLogger
from .app import create_app
from .auth import Auth, announce_to_stderr
from .body import BODY_TIMEOUT
from .connection import GuardedRequestHandler, limit_keepalive
from .grpc_bridge import GrpcBridge
from .limits import MAX_FIELD_SIZE, MAX_HEADERS, MAX_LINE_SIZE, HttpLimits
from .listener import GuardedSite, Listener
from .ratelog import RateLimitedLog
from .tls import server_context

log = logging.getLogger("pe.server")

SHUTDOWN_TIMEOUT = 10.0  # seconds in-flight requests get to finish on shutdown

Announce = Callable[[str, Path], None]


class BindError(OSError):
    """The HTTP socket could not be opened (port in use, no such address, no permission)."""


class PeServer:
    """One engine and the HTTP site in front of it."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        engine: Engine | None = None,
        access_log: bool = False,
        announce_token: Announce | None = announce_to_stderr,
    ):
        self.config = config
        self.engine = engine or Engine(config)
        self.auth: Auth | None = None
        self.access_log = access_log
        self.announce_token = announce_token
        self.runner: web.AppRunner | None = None
        self.limits = HttpLimits.from_config(config)
        self.listener: Listener | None = None  # the accept loop, once serving
        self.flight: FlightListeners | None = None  # the Arrow Flight servers, when serving
        self.grpc: GrpcBridge | None = None  # relays gRPC on the HTTP port to self.flight
        host, self.port = config.http_host_port
        self.host = host.strip("[]")  # "[::1]:8181" names an IPv6 address
        self.tls = server_context(config.tls_cert, config.tls_key, config.tls_minimum_version)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls is not None else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        """Engine first (WAL replay), then the socket: no request arrives before data is ready."""
        c = self.config
        c.data_dir.mkdir(parents=True, exist_ok=True)
        self.auth = Auth.setup(
            c.data_dir, without_auth=c.without_auth, admin_token=c.admin_token, announce=self.announce_token
        )
        await self.engine.start()
        try:
            self.flight = await start_flight(self.engine, self.auth, c)
            if self.flight is not None:
                self.grpc = GrpcBridge(self.flight.socket_path)
            app = create_app(self.engine, self.auth, config=c)
            app[BODY_TIMEOUT] = self.limits.body_timeout
            app.on_response_prepare.append(limit_keepalive)
            handler_args = self._handler_args()
            self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT, **handler_args)
            await self.runner.setup()
            site = GuardedSite(self.runner, self.host, self.port, self._listener_factory(handler_args),
                               scheme="https" if self.tls is not None else "http")
            try:
                await site.start()
            except OSError as e:
                raise BindError(e.errno, e.strerror or str(e)) from e
            self.listener = site.listener
            if self.runner.addresses:  # the real port when the config asked for port 0
                self.port = int(self.runner.addresses[0][1])
            if self.flight is not None:
                announce(self.flight, self.host, self.port, tls=self.tls is not None)
        except BaseException:
            await self._cleanup_runner()
            await self._stop_flight()
            await self.engine.stop()
            raise

    def _handler_args(self) -> dict[str, Any]:
        """What every connection's aiohttp protocol gets (the runner's copy serves aiohttp's own use)."""
        return {
            "access_log": logging.getLogger("pe.access") if self.access_log else None,
            "access_log_class": RedactingAccessLogger,  # never a token from the query string
            "auto_decompress": False,  # body.py gunzips under the size limit
            "keepalive_timeout": self.limits.keepalive_timeout,
            "max_line_size": MAX_LINE_SIZE,
            "max_field_size": MAX_FIELD_SIZE,
            "max_headers": MAX_HEADERS,
        }

    def _listener_factory(self, handler_args: dict[str, Any]) -> Callable[[list[socket.socket]], Listener]:
        limits, ratelog, grpc = self.limits, RateLimitedLog(log), self.grpc
        loop = asyncio.get_running_loop()
        runner = self.runner
        assert runner is not None and runner.server is not None
        manager = runner.server

        def connection(listener: Listener) -> GuardedRequestHandler:
            return GuardedRequestHandler(
                manager, loop=loop, registry=listener, header_timeout=limits.header_timeout,
                max_requests=limits.max_keepalive_requests, ratelog=ratelog, grpc=grpc, **handler_args,
            )

        def listener(sockets: list[socket.socket]) -> Listener:
            return Listener(sockets, connection, max_connections=limits.max_connections, ratelog=ratelog,
                            tls=self.tls, handshake_timeout=limits.header_timeout)

        return listener

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, then flush the last WAL record."""
        await self._cleanup_runner()
        await self._stop_flight()
        await self.engine.stop()

    async def _stop_flight(self) -> None:
        grpc, self.grpc = self.grpc, None
        if grpc is not None:
            grpc.close()
        flight_servers, self.flight = self.flight, None
        await stop_flight(flight_servers)

    async def _cleanup_runner(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            self.listener = None
            await runner.cleanup()

    async def __aenter__(self) -> "PeServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def ready_line(server: PeServer) -> str:
    return f"pe serving on {server.url} (data: {server.config.data_dir.resolve()})"


async def run_server(
    config: EngineConfig,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    *,
    install_signals: bool = False,
    access_log: bool = False,
    on_ready: Callable[[PeServer], None] | None = None,
    quiet: bool = False,
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM with install_signals), then shut down cleanly.

    `quiet` prints nothing (for a host program that owns the terminal, like the
    console): read a newly generated admin token from `server.auth.generated_token`
    in `on_ready` instead.
    """
    stop = stop or asyncio.Event()
    server = PeServer(config, access_log=access_log, announce_token=None if quiet else announce_to_stderr)
    await server.start()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        if install_signals:
            for sig in signals:
                loop.add_signal_handler(sig, _on_signal, stop, sig)
        if quiet:
            log.info(ready_line(server))
        else:
            print(ready_line(server), file=sys.stderr, flush=True)
        if on_ready is not None:
            on_ready(server)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("shutting down: finishing requests, flushing the WAL")
    finally:
        await server.stop()
        if install_signals:
            for sig in signals:
                loop.remove_signal_handler(sig)
    log.info("stopped cleanly")


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    if stop.is_set():  # second signal: the operator means it
        log.warning("%s again: exiting without waiting", sig.name)
        os._exit(1)
    log.info("received %s", sig.name)
    stop.set()


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def serve(config: EngineConfig, *, log_level: str = "INFO", access_log: bool = False) -> int:
    """Blocking entry point for `pe serve`: returns the process exit code."""
    configure_logging(log_level)
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(run_server(config, install_signals=True, access_log=access_log))
    except BindError as e:
        return _failed(f"cannot serve on {config.http_bind}: {e.strerror}")
    except FlightBindError as e:
        return _failed(str(e))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed (during WAL replay)
        return 130
    except Exception as e:  # any other start-up (or run) failure: say why and exit, never hang
        reason = str(e) if isinstance(e, (OSError, PeError)) else f"{type(e).__name__}: {e}"
        log.debug("start-up failure", exc_info=True)
        return _failed(f"cannot start: {reason}")
    return 0


EXIT_GRACE = 5.0  # seconds a failed start may take to exit before the process is ended hard


def _failed(reason: str) -> int:
    """One line with the reason, and a guarantee the process ends: a thread left behind by a
    half-started engine (a store connection, a pool worker) must not keep it alive."""
    log.error("%s", reason)
    timer = threading.Timer(EXIT_GRACE, _hard_exit, (1,))
    timer.daemon = True
    timer.start()
    return 1


def _hard_exit(code: int) -> None:
    logging.shutdown()
    os._exit(code)
