"""Arrow data in shared memory: one copy into a sealed memfd on the engine side, zero on the worker's.

The engine writes a record batch (or table) as an Arrow IPC stream straight into a
memfd sized with a mock pass, seals it against writes and hands the descriptor to
the worker, which maps it read-only: every buffer of the batch the plugin sees is a
view of that mapping. The memory is freed when the last descriptor and mapping go.
"""
from __future__ import annotations

import fcntl
import mmap
import os
from dataclasses import dataclass

import pyarrow as pa

__all__ = ["Segment", "write_arrow", "read_batch", "read_table"]

_SEALS = getattr(fcntl, "F_SEAL_WRITE", 0) | getattr(fcntl, "F_SEAL_GROW", 0) | getattr(fcntl, "F_SEAL_SHRINK", 0)


@dataclass(slots=True)
class Segment:
    """An Arrow IPC stream in a memfd the engine owns (close it when done with it)."""

    fd: int
    size: int

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def write_arrow(data: pa.RecordBatch | pa.Table) -> Segment:
    mock = pa.MockOutputStream()
    with pa.ipc.new_stream(mock, data.schema) as w:
        w.write(data)
    size = mock.size()
    flags = os.MFD_CLOEXEC | getattr(os, "MFD_ALLOW_SEALING", 0)
    fd = os.memfd_create("pe-arrow", flags)
    try:
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size)
        _write_into(mm, data)
        mm.close()
        if _SEALS:
            try:
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            except OSError:
                pass  # a kernel without seals: the worker still maps it read-only
    except BaseException:
        os.close(fd)
        raise
    return Segment(fd, size)


def _write_into(mm: mmap.mmap, data: pa.RecordBatch | pa.Table) -> None:
    """In its own frame, so every export of the map is gone when it returns."""
    sink = pa.FixedSizeBufferWriter(pa.py_buffer(mm))
    with pa.ipc.new_stream(sink, data.schema) as w:
        w.write(data)
    sink.close()


def _map(fd: int, size: int) -> pa.Buffer:
    """Map a received descriptor read-only and close it; the buffer keeps the mapping alive."""
    try:
        mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    return pa.py_buffer(mm)


def read_table(fd: int, size: int) -> pa.Table:
    with pa.ipc.open_stream(_map(fd, size)) as reader:
        return reader.read_all()


def read_batch(fd: int, size: int) -> pa.RecordBatch:
    table = read_table(fd, size)
    batches = table.to_batches()
    if len(batches) == 1:
        return batches[0]
    return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema)
