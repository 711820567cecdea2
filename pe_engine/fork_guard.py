"""A process forked from the server (a plugin calling `os.fork()` in thread isolation) must not
keep the server's data-dir lock or its listening sockets: after the server dies, the child would
block its restart ("data directory is in use", "address already in use") until someone finds it.

In the child, right after the fork, the lock's descriptor and every listening socket are
closed. The parent is untouched (a flock belongs to the open file description, which the
parent keeps). Worker processes of process isolation never need this: they are spawned, not
forked, with nothing of the server's open.
"""
from __future__ import annotations

import os
import socket
import stat
import weakref
from typing import Callable

__all__ = ["guard_after_fork", "close_server_fds"]


def close_server_fds(lock_fd: int | None) -> int:
    """Close `lock_fd` and every listening socket of this process; returns how many were closed."""
    closed = 0
    if lock_fd is not None:
        try:
            os.close(lock_fd)
            closed += 1
        except OSError:
            pass
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return closed
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=fd)
            try:
                listening = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            finally:
                s.detach()
            if listening:
                os.close(fd)
                closed += 1
        except OSError:
            continue
    return closed


def guard_after_fork(owner: object, lock_fd: Callable[[object], int | None]) -> None:
    """From now on, a child forked from this process drops `owner`'s lock and all listening sockets.

    The hook holds `owner` weakly: once the engine is gone it does nothing."""
    ref = weakref.ref(owner)

    def in_child() -> None:
        obj = ref()
        if obj is not None:
            close_server_fds(lock_fd(obj))

    os.register_at_fork(after_in_child=in_child)
