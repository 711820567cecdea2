"""The channel between the engine and a plugin worker process.

Messages are pickled tuples, length-prefixed, over a Unix stream socket. Arrow data
never goes through pickle: it travels as a memfd (Arrow IPC in shared memory, see
`shm.py`) passed beside the message with SCM_RIGHTS, so neither side copies it into
the socket. Both ends may be used from more than one thread (a plugin may call
`influxdb3_local` from threads it starts), so sending is serialised and a round trip
holds the conversation lock until its answer arrives.
"""
from __future__ import annotations

import os
import pickle
import select
import socket
import struct
import threading
from typing import Any

__all__ = ["Channel", "ChannelClosed", "MAX_FDS"]

_HEADER = struct.Struct("!I")
MAX_FDS = 64  # memfds one message may carry (one per table of a WAL batch)
_MAX_MESSAGE = 1 << 31


class ChannelClosed(EOFError):
    """The other end went away (its process exited, or closed the socket)."""


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._send_lock = threading.Lock()
        self.conversation = threading.RLock()  # one request/answer at a time
        self.bytes_sent = 0
        self.bytes_received = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, msg: Any, fds: list[int] | tuple[int, ...] = ()) -> None:
        data = pickle.dumps(msg, protocol=5)
        frame = _HEADER.pack(len(data)) + data
        with self._send_lock:
            try:
                if fds:
                    sent = socket.send_fds(self.sock, [frame], list(fds))
                    if sent < len(frame):
                        self.sock.sendall(memoryview(frame)[sent:])
                else:
                    self.sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError, OSError) as e:
                raise ChannelClosed(str(e)) from None
            self.bytes_sent += len(frame)

    def recv(self) -> tuple[Any, list[int]]:
        """The next message and the descriptors that came with it (the caller owns them)."""
        try:
            head, fds, _flags, _addr = socket.recv_fds(self.sock, _HEADER.size, MAX_FDS)
        except (ConnectionResetError, OSError) as e:
            raise ChannelClosed(str(e)) from None
        if not head:
            _close_all(fds)
            raise ChannelClosed("end of stream")
        if len(head) < _HEADER.size:
            head += self._exactly(_HEADER.size - len(head))
        (n,) = _HEADER.unpack(head)
        if n > _MAX_MESSAGE:
            _close_all(fds)
            raise ChannelClosed(f"message of {n} bytes: the channel is corrupt")
        body = self._exactly(n)
        self.bytes_received += n + _HEADER.size
        try:
            return pickle.loads(body), fds
        except Exception:
            _close_all(fds)
            raise

    def _exactly(self, n: int) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = self.sock.recv_into(view[got:], n - got)
            except (ConnectionResetError, OSError) as e:
                raise ChannelClosed(str(e)) from None
            if k == 0:
                raise ChannelClosed("end of stream in the middle of a message")
            got += k
        return bytes(buf)

    def wait(self, timeout: float | None, also: int | None = None) -> tuple[bool, bool]:
        """Block until a message is readable or `also` (a pidfd) fires; (readable, also_fired)."""
        fds = [self.sock.fileno()] + ([also] if also is not None else [])
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return False, False
        return self.sock.fileno() in ready, also is not None and also in ready


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
