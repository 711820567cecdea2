"""Where the Flight service listens, and starting and stopping it off the event loop.

Flight is served on the HTTP port, as InfluxDB 3 does: the gRPC server listens on a private unix
socket (in a 0700 directory of its own) and the HTTP server relays connections that open with
the HTTP/2 preface to it (http/grpc_bridge.py). `--flight-bind HOST:PORT` adds a TCP listener of
its own (failing to bind it stops the start); `--without-flight` serves no gRPC at all.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .service import PeFlightServer

if TYPE_CHECKING:
    from ..config import EngineConfig
    from ..engine import Engine
    from ..http.auth import Auth

log = logging.getLogger("pe.flight")


class FlightBindError(OSError):
    """The configured Flight address could not be opened."""


def flight_address(config: "EngineConfig") -> tuple[str, int] | None:
    """(host, port) of the extra TCP listener, when --flight-bind asks for one."""
    bind = getattr(config, "flight_bind", None)
    if not bind or getattr(config, "without_flight", False):
        return None
    host, _, port = bind.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


def _grpc_url(host: str, port: int) -> str:
    return f"grpc+tcp://[{host}]:{port}" if ":" in host else f"grpc+tcp://{host}:{port}"


@dataclass
class FlightListeners:
    """The Flight servers of one pe server."""

    private: PeFlightServer  # on `socket_path`, reached through the HTTP port
    socket_dir: Path
    extra: PeFlightServer | None = None  # --flight-bind
    extra_url: str | None = None

    @property
    def socket_path(self) -> str:
        return str(self.socket_dir / "flight.sock")


async def start_flight(engine: "Engine", auth: "Auth", config: "EngineConfig") -> FlightListeners | None:
    """Start the Flight servers (in a thread: gRPC start-up blocks); None with --without-flight."""
    if getattr(config, "without_flight", False):
        return None
    loop = asyncio.get_running_loop()
    # a short path of its own: a unix socket path is limited to 107 bytes, a data dir is not
    socket_dir = Path(tempfile.mkdtemp(prefix="pe-grpc-"))
    extra: PeFlightServer | None = None
    try:
        private = await loop.run_in_executor(
            None, PeFlightServer, engine, auth, f"grpc+unix://{socket_dir / 'flight.sock'}")
        where = flight_address(config)
        if where is not None:
            host, port = where
            try:
                extra = await loop.run_in_executor(None, PeFlightServer, engine, auth, _grpc_url(host, port))
            except Exception as e:
                await loop.run_in_executor(None, private.shutdown)
                raise FlightBindError(f"cannot serve Arrow Flight on {host}:{port}: {e}") from e
    except BaseException:
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise
    extra_url = _grpc_url(where[0], extra.port) if extra is not None and where is not None else None
    return FlightListeners(private, socket_dir, extra, extra_url)


def announce(listeners: FlightListeners, http_host: str, http_port: int, *, tls: bool = False) -> None:
    url = _grpc_url(http_host, http_port)
    log.info("Arrow Flight queries on %s (the HTTP port)", url.replace("grpc+tcp:", "grpc+tls:") if tls else url)
    if listeners.extra_url is not None:
        log.info("Arrow Flight queries also on %s (--flight-bind)", listeners.extra_url)


async def stop_flight(listeners: FlightListeners | None) -> None:
    if listeners is None:
        return
    loop = asyncio.get_running_loop()
    for server in (listeners.extra, listeners.private):
        if server is not None:
            await loop.run_in_executor(None, server.shutdown)
    shutil.rmtree(listeners.socket_dir, ignore_errors=True)
