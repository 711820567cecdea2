"""gRPC on the HTTP port: connections that open with the HTTP/2 preface go to the Flight server.

InfluxDB 3 serves HTTP/1.1 and gRPC (Flight, Flight SQL) on one port, and its clients know no
other (influxdb3-js has no port override). pe's HTTP server is aiohttp, which speaks only
HTTP/1.1, and its Flight server is pyarrow's gRPC server. So the Flight server listens on a
private unix socket, and each HTTP connection looks at its first bytes: the HTTP/2 client
preface hands the connection over to a `GrpcBridge`, which relays it to that socket.

The relay copies in the kernel (`os.splice` through a pipe), one thread per direction; the
threads hold no GIL while data moves, so a large Flight answer costs the event loop nothing.
Over TLS the bytes must be decrypted first, so there the relay is two asyncio protocols on the
event loop, with flow control both ways (`_TlsRelay`).
The number of relayed connections is bounded (`max_connections`): gRPC clients keep one
long-lived connection each, so the HTTP connection limit, made for short requests and idle
keep-alives, does not apply to them.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import threading
from enum import Enum

__all__ = ["PREFACE", "Sniff", "sniff", "GrpcBridge"]

log = logging.getLogger("pe.http.grpc")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CHUNK = 1 << 16
DEFAULT_MAX_CONNECTIONS = 512


class Sniff(Enum):
    HTTP1 = "http/1.1"
    GRPC = "h2"
    UNDECIDED = "undecided"  # a prefix of the preface so far: wait for more bytes


def sniff(first: bytes) -> Sniff:
    n = min(len(first), len(PREFACE))
    if first[:n] != PREFACE[:n]:
        return Sniff.HTTP1
    return Sniff.GRPC if n == len(PREFACE) else Sniff.UNDECIDED


class GrpcBridge:
    """Relays handed-over connections to the Flight server's unix socket."""

    def __init__(self, target: str, *, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.target = target
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._tls: set[_TlsRelay] = set()
        self._closed = False
        self.relayed = 0  # connections handed over since start
        self.refused = 0  # handed over while full, closed at once

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._open) + len(self._tls)

    def take(self, transport: asyncio.Transport, first: bytes) -> bool:
        """Move the transport's connection to a relay (the transport is closed, the connection
        lives on in a duplicate of its socket); False when full or closed (the caller closes)."""
        raw = transport.get_extra_info("socket")
        if raw is None:
            return False
        with self._lock:
            if self._closed or len(self._open) + len(self._tls) >= self.max_connections:
                self.refused += 1
                return False
            if transport.get_extra_info("sslcontext") is not None:  # decrypted on the loop
                self.relayed += 1
                self._tls.add(_TlsRelay(self, transport, first))
                return True
            try:
                client = socket.socket(fileno=os.dup(raw.fileno()))
            except OSError as e:
                log.warning("cannot hand a gRPC connection over: %s", e)
                return False
            self._open.add(client)
            self.relayed += 1
        transport.abort()  # closes asyncio's descriptor only; the duplicate keeps the connection
        client.setblocking(True)
        threading.Thread(target=self._relay, args=(client, first), name="pe-grpc-relay", daemon=True).start()
        return True

    def close(self) -> None:
        """End every relayed connection (server shutdown)."""
        with self._lock:
            self._closed = True
            clients = list(self._open)
            tls = list(self._tls)
        for r in tls:
            r.close()
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------------ relay threads
    def _relay(self, client: socket.socket, first: bytes) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                upstream.connect(self.target)
                upstream.sendall(first)
            except OSError as e:
                log.warning("gRPC connection dropped: the Flight server is not reachable (%s)", e)
                return
            back = threading.Thread(target=_pump, args=(upstream, client), name="pe-grpc-relay-back", daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()
        finally:
            with self._lock:
                self._open.discard(client)
            upstream.close()
            client.close()


    def _tls_ended(self, relay: "_TlsRelay") -> None:
        with self._lock:
            self._tls.discard(relay)


class _TlsRelay:
    """A TLS connection's decrypted gRPC stream, relayed on the event loop to the Flight socket."""

    def __init__(self, bridge: GrpcBridge, down: asyncio.Transport, first: bytes) -> None:
        self.bridge = bridge
        self.down = down
        self.up: asyncio.Transport | None = None
        self.pending: list[bytes] = [first]
        self.ended = False
        down.set_protocol(_Side(self, upstream=False))
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            up, _ = await loop.create_unix_connection(lambda: _Side(self, upstream=True), self.bridge.target)
        except OSError as e:
            log.warning("gRPC connection dropped: the Flight server is not reachable (%s)", e)
            self.close()
            return
        if self.ended:
            up.close()
            return
        self.up = up
        for data in self.pending:
            up.write(data)
        self.pending.clear()

    def received(self, data: bytes, upstream: bool) -> None:
        if upstream:
            self.down.write(data)
        elif self.up is not None:
            self.up.write(data)
        else:
            self.pending.append(data)

    def other(self, upstream: bool) -> asyncio.Transport | None:
        return self.down if upstream else self.up

    def close(self) -> None:
        if not self.ended:
            self.ended = True
            self.bridge._tls_ended(self)
        for t in (self.down, self.up):
            if t is not None and not t.is_closing():
                t.close()


class _Side(asyncio.Protocol):
    """One end of a `_TlsRelay`; a full write buffer on one side pauses reading on the other."""

    def __init__(self, relay: _TlsRelay, *, upstream: bool) -> None:
        self.relay = relay
        self.upstream = upstream

    def data_received(self, data: bytes) -> None:
        self.relay.received(data, self.upstream)

    def eof_received(self) -> bool | None:
        self.relay.close()  # gRPC ends a connection as a whole; a TLS side cannot half-close
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.relay.close()

    def pause_writing(self) -> None:
        other = self.relay.other(self.upstream)
        if other is not None:
            other.pause_reading()

    def resume_writing(self) -> None:
        other = self.relay.other(self.upstream)
        if other is not None:
            other.resume_reading()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy src to dst until src ends or either side fails, then pass the end on (half-close)."""
    try:
        _splice_all(src, dst)
    except OSError as e:
        if e.errno not in (errno.ECONNRESET, errno.EPIPE, errno.EBADF, errno.ENOTCONN):
            log.debug("gRPC relay: %s", e)
        try:  # a failed side: end both directions, so the other pump ends too
            src.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _splice_all(src: socket.socket, dst: socket.socket) -> None:
    r, w = os.pipe()
    try:
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            try:
                n = os.splice(sfd, w, CHUNK)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                _copy_all(src, dst)  # a socket kind splice does not serve
                return
            if n == 0:
                return
            while n:
                n -= os.splice(r, dfd, n)
    finally:
        os.close(r)
        os.close(w)


def _copy_all(src: socket.socket, dst: socket.socket) -> None:
    while True:
        data = src.recv(CHUNK)
        if not data:
            return
        dst.sendall(data)
