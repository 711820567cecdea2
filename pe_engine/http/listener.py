"""The listening sockets and the accept loop: a bounded number of connections, never an fd flood.

asyncio's own accept loop (`loop.create_server`) accepts whatever arrives and, once the process
is out of file descriptors, logs a traceback for every failed accept. Here the accept loop is
ours:

- at most `max_connections` connections are open. A new connection beyond that first closes the
  connection that has been idle longest (no request being handled: a kept-alive socket, one that
  never sent anything, one still trickling headers); when every connection is busy with a
  request, accepting stops until one ends (new clients wait in the kernel's backlog);
- EMFILE/ENFILE (and ENOBUFS/ENOMEM) on accept close the longest-idle connection, back off
  (doubling up to a second) and retry, logging one line a minute at most.

With TLS, each connection's handshake runs in a task of its own (bounded by the header timeout
and counted against the limit), so a slow or broken handshake never holds up the accept loop;
failed handshakes are logged one line a minute.

`GuardedSite` puts this under an aiohttp `AppRunner` in place of `TCPSite`.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .connection import GuardedRequestHandler
from .ratelog import RateLimitedLog

__all__ = ["GuardedSite", "Listener", "bind_sockets", "RESOURCE_ERRNOS"]

log = logging.getLogger("pe.http.listener")

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# A connection reset before it was accepted, or a transient network error: try the next one.
TRANSIENT_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN,
                              errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINTR})
MIN_BACKOFF = 0.01
MAX_BACKOFF = 1.0


@dataclass
class ListenerStats:
    """What the accept loop has done; read by whoever reports on the server."""

    accepted: int = 0
    evicted: int = 0  # idle connections closed to make room
    resource_errors: int = 0  # EMFILE/ENFILE/... on accept
    full_waits: int = 0  # times accepting paused because every connection was busy


async def bind_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Listening, non-blocking sockets for every address of `host` (as `loop.create_server`)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[tuple] = set()
    out: list[socket.socket] = []
    try:
        for family, type_, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            s = socket.socket(family, type_, proto)
            out.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind(addr)
            except OSError as e:
                raise OSError(e.errno, f"cannot bind {addr!r}: {(e.strerror or str(e)).lower()}") from None
            s.listen(backlog)
            s.setblocking(False)
    except BaseException:
        for s in out:
            s.close()
        raise
    return out


class Listener:
    """Accepts on `sockets`, hands each connection to a `GuardedRequestHandler` from `factory`."""

    def __init__(
        self,
        sockets: list[socket.socket],
        factory: Callable[["Listener"], GuardedRequestHandler],
        *,
        max_connections: int,
        ratelog: RateLimitedLog,
        tls: ssl.SSLContext | None = None,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._sockets = sockets
        self._tls = tls
        self._handshake_timeout = handshake_timeout if handshake_timeout > 0 else 60.0
        self._handshakes: set[asyncio.Task[None]] = set()
        self._factory = factory
        self.max_connections = max(1, max_connections)
        self._ratelog = ratelog
        self._open: dict[GuardedRequestHandler, None] = {}  # insertion order: oldest first
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = ListenerStats()

    # ------------------------------------------------ ConnectionRegistry
    def opened(self, conn: GuardedRequestHandler) -> None:
        self._open[conn] = None

    def closed(self, conn: GuardedRequestHandler) -> None:
        self._open.pop(conn, None)
        self._room.set()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    # ---------------------------------------------- asyncio.Server-like face (BaseSite, runner)
    @property
    def sockets(self) -> list[socket.socket]:
        return list(self._sockets)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self._sockets:
            self._tasks.append(loop.create_task(self._accept_loop(s), name="pe-http-accept"))

    def close(self) -> None:
        """Stop accepting; the sockets close in wait_closed, once no accept is registered on them."""
        for t in (*self._tasks, *self._handshakes):
            t.cancel()

    async def wait_closed(self) -> None:
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in self._sockets:
            s.close()

    # --------------------------------------------------------------- accept
    def _evict_idle(self) -> bool:
        """Close the connection idle the longest; False when every connection is busy."""
        idle = [c for c in self._open if not c.busy and c.transport is not None]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.idle_since)
        self._open.pop(victim, None)  # counted as gone now: its connection_lost comes a tick later
        victim.force_close()
        self.stats.evicted += 1
        return True

    async def _wait_for_room(self) -> None:
        while len(self._open) + len(self._handshakes) >= self.max_connections:
            if self._evict_idle():
                continue
            self.stats.full_waits += 1
            self._ratelog.warning(
                "full", "HTTP: all %d connections are busy with requests (--http-max-connections); "
                "new connections wait until one ends", self.max_connections)
            self._room.clear()
            await self._room.wait()

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        backoff = MIN_BACKOFF
        while True:
            await self._wait_for_room()
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as e:
                if e.errno in RESOURCE_ERRNOS:
                    self.stats.resource_errors += 1
                    self._ratelog.warning(
                        "accept-resources", "HTTP: cannot accept connections: %s (%d open); closing idle "
                        "connections and retrying", e.strerror or e, len(self._open))
                    self._evict_idle()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if e.errno in TRANSIENT_ERRNOS:
                    continue
                self._ratelog.log(logging.ERROR, "accept-other", "HTTP: accept failed: %s", e)
                await asyncio.sleep(MAX_BACKOFF)
                continue
            backoff = MIN_BACKOFF
            self.stats.accepted += 1
            if self._tls is not None:
                task = loop.create_task(self._start_tls(conn), name="pe-tls-handshake")
                self._handshakes.add(task)
                task.add_done_callback(self._handshake_done)
                continue
            try:
                conn.setblocking(False)
                await loop.connect_accepted_socket(lambda: self._factory(self), conn)
            except OSError as e:  # the client left already, or out of fds for the transport
                conn.close()
                log.debug("dropping a connection that failed to start: %s", e)

    async def _start_tls(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            conn.setblocking(False)
            await loop.connect_accepted_socket(lambda: self._factory(self), conn, ssl=self._tls,
                                               ssl_handshake_timeout=self._handshake_timeout)
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as e:
            conn.close()
            self._ratelog.warning("tls-handshake", "TLS handshake with a client failed: %s", e or type(e).__name__)

    def _handshake_done(self, task: asyncio.Task[None]) -> None:
        self._handshakes.discard(task)
        self._room.set()


class GuardedSite(web.BaseSite):
    """A TCP site for `AppRunner` that serves through a `Listener` instead of `loop.create_server`."""

    __slots__ = ("_host", "_port", "_make_listener", "_scheme", "listener")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        make_listener: Callable[[list[socket.socket]], Listener],
        *,
        backlog: int = 128,
        scheme: str = "http",
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._scheme = scheme
        self._host = host
        self._port = port
        self._make_listener = make_listener
        self.listener: Listener | None = None

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self._scheme}://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        sockets = await bind_sockets(self._host, self._port, self._backlog)
        self.listener = self._make_listener(sockets)
        self._server = self.listener  # type: ignore[assignment]  # BaseSite.stop and runner.addresses use it
        self.listener.start()
        if sockets:
            self._port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        listener = self.listener
        await super().stop()  # closes the listener (the sockets) and unregisters the site
        if listener is not None:
            await listener.wait_closed()
