"""Where the Flight service listens, and starting and stopping it off the event loop."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .service import PeFlightServer

if TYPE_CHECKING:
    from ..config import EngineConfig
    from ..engine import Engine
    from ..http.auth import Auth

log = logging.getLogger("pe.flight")


class FlightBindError(OSError):
    """The configured Flight address could not be opened."""


def flight_address(config: "EngineConfig") -> tuple[str, int, bool] | None:
    """(host, port, explicit) to listen on, or None when Flight is off."""
    if getattr(config, "without_flight", False):
        return None
    bind = getattr(config, "flight_bind", None)
    if bind:
        host, _, port = bind.rpartition(":")
        return (host or "127.0.0.1").strip("[]"), int(port), True
    host, port = config.http_host_port
    return host.strip("[]"), (port + 1 if port else 0), False


def _grpc_url(host: str, port: int) -> str:
    return f"grpc+tcp://[{host}]:{port}" if ":" in host else f"grpc+tcp://{host}:{port}"


async def start_flight(engine: "Engine", auth: "Auth", config: "EngineConfig") -> PeFlightServer | None:
    """Open the Flight port (in a thread: gRPC start-up blocks). None when off or, for the derived
    default address only, when it cannot bind."""
    where = flight_address(config)
    if where is None:
        return None
    host, port, explicit = where
    loop = asyncio.get_running_loop()
    try:
        server = await loop.run_in_executor(None, PeFlightServer, engine, auth, _grpc_url(host, port))
    except Exception as e:
        if explicit:
            raise FlightBindError(f"cannot serve Arrow Flight on {host}:{port}: {e}") from e
        log.warning("Arrow Flight not started: cannot listen on %s:%d (%s); use --flight-bind", host, port, e)
        return None
    log.info("Arrow Flight queries on %s", _grpc_url(host, server.port))
    return server


async def stop_flight(server: PeFlightServer | None) -> None:
    if server is not None:
        await asyncio.get_running_loop().run_in_executor(None, server.shutdown)

