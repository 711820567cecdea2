"""One HTTP connection with deadlines: aiohttp's protocol plus a header timer.

aiohttp closes a connection that stays idle past `keepalive_timeout`, but a client that trickles
a request's headers one byte at a time, or opens a socket and says nothing, would hold its file
descriptor for that whole time (an hour by default). Here:

- the headers of a request must be complete within `header_timeout` of the connection's accept,
  or of the first byte of a later request on a kept-alive connection;
- between requests the connection may idle for `keepalive_timeout` (aiohttp's own timer);
- a connection serves at most `max_requests` requests, the last one answered with
  `Connection: close` (see `limit_keepalive`);
- the connection's registry (the listener) learns when it opens and closes and asks whether it
  is idle, so it can close the longest-idle connection when the server is full.

Body reads have their own deadline in body.py, where a stalled body gets a 408.

A connection that opens with the HTTP/2 preface is gRPC (Flight): it is handed to the
`GrpcBridge` (grpc_bridge.py) before aiohttp sees a byte, and leaves this registry.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .grpc_bridge import GrpcBridge, Sniff, sniff
from .ratelog import RateLimitedLog

__all__ = ["ConnectionRegistry", "GuardedRequestHandler", "limit_keepalive"]

log = logging.getLogger("pe.http.connections")


class ConnectionRegistry(Protocol):
    def opened(self, conn: "GuardedRequestHandler") -> None: ...

    def closed(self, conn: "GuardedRequestHandler") -> None: ...


class GuardedRequestHandler(RequestHandler):
    __slots__ = ("_registry", "_header_timeout", "_header_timer", "_max_requests", "_responses",
                 "_ratelog", "_grpc", "_sniffed", "idle_since", "closed_by_timeout")

    def __init__(
        self,
        manager: web.Server,
        *,
        registry: ConnectionRegistry,
        header_timeout: float,
        max_requests: int,
        ratelog: RateLimitedLog,
        grpc: GrpcBridge | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._grpc = grpc
        self._sniffed: bytes | None = b"" if grpc is not None else None  # None: decided, HTTP/1.1
        self._registry = registry
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._max_requests = max_requests
        self._responses = 0
        self._ratelog = ratelog
        self.idle_since = self._loop.time()
        self.closed_by_timeout = False

    # ------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        """A request of this connection is parsed and queued or being handled."""
        return bool(self._messages) or self._request_in_progress or self._current_request is not None

    def count_response(self) -> bool:
        """Count one response; True when it is the connection's last one."""
        self._responses += 1
        self.idle_since = self._loop.time()  # about when the connection goes idle again
        return self._max_requests > 0 and self._responses >= self._max_requests

    # ------------------------------------------------------------- lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._registry.opened(self)
        self._arm_header_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_header_timer()
        self._registry.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._sniffed is not None:  # the connection's first bytes: HTTP/1.1 or gRPC?
            data = self._sniffed + data
            kind = sniff(data)
            if kind is Sniff.UNDECIDED:
                self._sniffed = data
                return
            self._sniffed = None
            if kind is Sniff.GRPC:
                self._hand_over(data)
                return
        super().data_received(data)
        if self.busy:
            self._disarm_header_timer()  # the headers are in
        elif data and self._header_timer is None:
            self._arm_header_timer()  # the first bytes of the next request on a kept-alive connection

    def _hand_over(self, first: bytes) -> None:
        self._disarm_header_timer()
        transport = self.transport
        assert self._grpc is not None and transport is not None
        tls = transport.get_extra_info("sslcontext") is not None
        if not self._grpc.take(transport, first):
            self._ratelog.warning("grpc-full", "gRPC: %d connections are open (the most relayed); "
                                  "closing a new one", self._grpc.max_connections)
            transport.abort()
        elif tls:  # the transport lives on under the relay's protocol: end aiohttp's side only
            self.transport = None
            self.connection_lost(None)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp logs a traceback for every malformed request, so a client sending garbage in a
        loop would flood the log: one line a minute per cause is enough."""
        exc = kw.get("exc_info")
        what = str(args[0]) if args else "error"
        if what.startswith("Error handling request"):  # the parser rejected what the client sent
            self._ratelog.warning("bad-request", "bad HTTP request from a client: %s", exc)
        else:
            self._ratelog.log(logging.ERROR, "unhandled", "HTTP connection: %s", what, exc_info=exc)

    # ------------------------------------------------------------ the timer
    def _arm_header_timer(self) -> None:
        if self._header_timeout > 0:
            self._header_timer = self._loop.call_later(self._header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.busy or self.transport is None:
            return
        log.debug("closing a connection whose request headers took over %.1fs", self._header_timeout)
        self.closed_by_timeout = True
        self.force_close()


async def limit_keepalive(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: the connection's last allowed response says Connection: close."""
    proto = request.protocol
    if isinstance(proto, GuardedRequestHandler) and proto.count_response():
        response.force_close()  # aiohttp closes after this response...
        # ...but has written its Connection header already (the hook runs after it)
        if request.version >= (1, 1):
            response.headers["Connection"] = "close"
        else:
            response.headers.popall("Connection", None)
