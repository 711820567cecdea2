"""Write-ahead log: durable, CRC-framed Arrow record batches in append-only segments.

A write is acknowledged only after its record is in the WAL (and fsync'd unless the
caller asked for no_sync), so this module is the engine's durability promise. Layout:

- Segment files ``<seq, 20 digits>.wal``, named after the first seq appended to them
  (bumped past any damaged file kept on disk): lexical order is append order.
  Each starts with an 8-byte header: ``b"PEWAL\\0"`` + u16 LE format version.
- Frames: ``u32 LE payload length`` + ``u32 LE zlib.crc32(payload)`` + payload. Payload
  lengths are multiples of 8, so every payload starts 8-byte aligned in the file.
- Payload: ``u64 seq, u32 n_entries, u32 reserved``; then per entry ``u32 len(db_id),
  u32 len(db_name), u32 len(table), u32 reserved, u64 batch offset, u64 batch length``;
  then the UTF-8 names; then each batch as an Arrow IPC stream at an 8-aligned offset.
  Replay slices the segment buffer and hands it to ``pa.ipc.open_stream`` (zero-copy).

Recovery follows the "torn tail" rule: the first bad frame of the last segment and
everything after it is cut off (the file is truncated) before anything new is appended,
so a later acknowledged record can never sit behind garbage.
"""
from __future__ import annotations

import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..errors import StorageError

MAGIC = b"PEWAL\x00"
VERSION = 1
SEGMENT_HEADER = MAGIC + struct.pack("<H", VERSION)
HEADER_LEN = len(SEGMENT_HEADER)  # 8

_FRAME = struct.Struct("<II")  # payload length, crc32
_REC = struct.Struct("<QII")  # seq, n_entries, reserved
_ENT = struct.Struct("<IIIIQQ")  # id len, name len, table len, reserved, batch off, batch len
FRAME_LEN = _FRAME.size
MIN_PAYLOAD = _REC.size
MAX_PAYLOAD = 2**32 - 8
SEGMENT_RE = re.compile(r"^(\d{20})\.wal$")


def _align8(n: int) -> int:
    return (n + 7) & ~7


def segment_name(seq: int) -> str:
    return f"{seq:020d}.wal"


@dataclass(slots=True)
class WalEntry:
    """One table's rows for one database: a narrow batch as the buffer receives it."""

    db_id: str
    db_name: str
    table: str
    batch: pa.RecordBatch


@dataclass(slots=True)
class WalRecord:
    """One group commit: everything flushed in one interval, under one sequence number."""

    seq: int
    entries: list[WalEntry]


@dataclass
class ReplayReport:
    """What replay found, so start-up can log it and operators can see any damage.

    `records`/`first_seq` describe the records yielded (seq > after_seq); `skipped`
    counts valid records at or below after_seq; `last_seq` is the highest valid seq in
    the log, i.e. where numbering must continue.
    """

    records: int = 0
    first_seq: int | None = None
    last_seq: int = 0
    segments: int = 0
    truncated_bytes: int = 0
    truncated_segment: str | None = None
    corrupt: list[str] = field(default_factory=list)
    skipped: int = 0
    log_first_seq: int | None = None  # the first valid record in the log (skipped ones included)
    # (first missing seq, last missing seq, segment the next record was found in): a deleted
    # middle segment, or records lost behind garbage in a segment that is not the last
    gaps: list[tuple[int, int, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (segment, why): skipped whole

    def covers(self, first: int, last: int) -> bool:
        """True when every seq in first..last is a valid record of this log (no gap inside)."""
        if self.log_first_seq is None or first < self.log_first_seq or last > self.last_seq:
            return False
        return not any(lo <= last and hi >= first for lo, hi, _ in self.gaps)

    def summary(self) -> str:
        if self.records:
            text = f"replayed {self.records} WAL records (seq {self.first_seq}..{self.last_seq})"
        else:
            text = f"replayed 0 WAL records (last seq {self.last_seq})"
        text += f" from {self.segments} segment(s)"
        if self.skipped:
            text += f", {self.skipped} already persisted"
        if self.truncated_segment is not None:
            text += f"; truncated {self.truncated_bytes} torn bytes from {self.truncated_segment}"
        if self.gaps:
            text += "; MISSING seq " + ", ".join(f"{lo}..{hi} (before {name})" for lo, hi, name in self.gaps)
        if self.corrupt:
            text += f"; {len(self.corrupt)} problem(s): " + "; ".join(self.corrupt)
        return text


@dataclass(slots=True)
class _Segment:
    name: str
    size: int
    first_seq: int | None = None
    last_seq: int | None = None
    clean: bool = True  # every byte is a good frame: safe to append to, last_seq is exact


class _BadPayload(Exception):
    pass


# ---------------------------------------------------------------- encoding


def _encode(record: WalRecord, prefix: bytes) -> bytearray:
    """Build `prefix + frame` in one buffer; Arrow writes each batch straight into it."""
    names: list[tuple[bytes, bytes, bytes]] = []
    sizes: list[int] = []
    for e in record.entries:
        if not isinstance(e.batch, pa.RecordBatch):
            raise TypeError(f"WalEntry.batch must be a pyarrow.RecordBatch, not {type(e.batch).__name__}")
        names.append((e.db_id.encode(), e.db_name.encode(), e.table.encode()))
        mock = pa.MockOutputStream()  # sizing pass: counts bytes, copies nothing
        with pa.ipc.new_stream(mock, e.batch.schema) as w:
            w.write_batch(e.batch)
        sizes.append(mock.size())
    n = len(record.entries)
    off = _align8(_REC.size + _ENT.size * n + sum(len(a) + len(b) + len(c) for a, b, c in names))
    offsets = []
    for size in sizes:
        offsets.append(off)
        off = _align8(off + size)
    payload_len = off
    if payload_len > MAX_PAYLOAD:
        raise StorageError(f"WAL record too large: {payload_len} bytes (limit {MAX_PAYLOAD})")

    base = len(prefix) + FRAME_LEN
    buf = bytearray(base + payload_len)
    buf[: len(prefix)] = prefix
    mv = memoryview(buf)
    _REC.pack_into(buf, base, record.seq, n, 0)
    pos = base + _REC.size
    strings = pos + _ENT.size * n
    for (db_id, db_name, table), boff, size in zip(names, offsets, sizes):
        _ENT.pack_into(buf, pos, len(db_id), len(db_name), len(table), 0, boff, size)
        pos += _ENT.size
        for text in (db_id, db_name, table):
            buf[strings : strings + len(text)] = text
            strings += len(text)
    for e, boff, size in zip(record.entries, offsets, sizes):
        sink = pa.FixedSizeBufferWriter(pa.py_buffer(mv[base + boff : base + boff + size]))
        with pa.ipc.new_stream(sink, e.batch.schema) as w:
            w.write_batch(e.batch)
        if sink.tell() != size:  # pragma: no cover - Arrow wrote a different size than it measured
            raise StorageError("WAL encode: Arrow IPC size changed between passes")
    crc = zlib.crc32(mv[base:])
    _FRAME.pack_into(buf, len(prefix), payload_len, crc)
    mv.release()
    return buf


def _decode_layout(data: bytes, start: int, length: int) -> tuple[int, list[tuple[str, str, str, int, int]]]:
    """Parse a payload's seq and entry table, checking every offset stays inside it."""
    seq, n, _ = _REC.unpack_from(data, start)
    table_end = _REC.size + _ENT.size * n
    if table_end > length:
        raise _BadPayload(f"entry table of {n} entries overruns the {length}-byte payload")
    entries = []
    spos = start + table_end
    end = start + length
    for i in range(n):
        a, b, c, _, boff, blen = _ENT.unpack_from(data, start + _REC.size + i * _ENT.size)
        if spos + a + b + c > end or boff < table_end or boff + blen > length:
            raise _BadPayload(f"entry {i} points outside the payload")
        try:
            db_id = data[spos : spos + a].decode()
            db_name = data[spos + a : spos + a + b].decode()
            table = data[spos + a + b : spos + a + b + c].decode()
        except UnicodeDecodeError as exc:
            raise _BadPayload(f"entry {i}: bad UTF-8 name: {exc}") from None
        spos += a + b + c
        entries.append((db_id, db_name, table, start + boff, blen))
    return seq, entries


def _decode_batch(seg: pa.Buffer, offset: int, length: int) -> pa.RecordBatch:
    try:
        reader = pa.ipc.open_stream(seg.slice(offset, length))
        return reader.read_next_batch()
    except (pa.ArrowException, StopIteration, ValueError) as exc:
        raise _BadPayload(f"Arrow IPC decode failed: {exc}") from None


# ---------------------------------------------------------------- the log


class Wal:
    """Append-only log of WalRecords in a directory. Call replay() (or nothing, on a fresh
    directory), then open_for_append(), then append(). append() blocks; run it off the loop."""

    def __init__(self, directory: str | Path, segment_bytes: int = 64 * 2**20):
        if segment_bytes <= 0:
            raise ValueError("segment_bytes must be positive")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.report = ReplayReport()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            names = self._list_segments()
            self._segments = [_Segment(n, (self.directory / n).stat().st_size, clean=False) for n in names]
        except OSError as exc:
            raise StorageError(f"WAL directory {self.directory}: {exc}") from exc
        self._max_name = int(names[-1][:20]) if names else 0
        self._last_seq = 0
        self._replayed = not names
        self._active: _Segment | None = None  # segment appends go to (None: create one)
        self._fd: int | None = None
        self._open = False
        self._dir_synced = True
        self._dirty = False  # appended with sync=False since the last fsync
        self._failed: str | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ info

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def segments(self) -> list[str]:
        return [s.name for s in self._segments]

    @property
    def failed(self) -> str | None:
        """Why this Wal refuses appends (a truncation after a failed write also failed)."""
        return self._failed

    def _list_segments(self) -> list[str]:
        return sorted(n for n in os.listdir(self.directory) if SEGMENT_RE.match(n))

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------ replay

    def replay(self, after_seq: int = 0) -> Iterator[WalRecord]:
        """Yield records with seq > after_seq in order, repairing a torn tail on the way.

        Batches are zero-copy views of the segment's bytes, which stay alive while any
        batch from that segment does. Fills self.report; run it to the end before appending.
        """
        if self._open:
            raise RuntimeError("replay() must run before open_for_append()")
        report = self.report = ReplayReport()
        try:
            names = self._list_segments()
        except OSError as exc:
            raise StorageError(f"WAL directory {self.directory}: {exc}") from exc
        segments: list[_Segment] = []
        unreadable_names: list[str] = []
        prev = 0
        for i, name in enumerate(names):
            is_last = i == len(names) - 1
            path = self.directory / name
            try:
                data = path.read_bytes()
            except OSError as exc:  # a directory, no permission, an I/O error: report, keep, go on
                why = f"{type(exc).__name__}: {exc.strerror or exc}"
                report.unreadable.append((name, why))
                report.corrupt.append(f"{name}: unreadable ({why}); skipped, left on disk")
                unreadable_names.append(name)
                continue
            report.segments += 1
            seg = _Segment(name, len(data))
            segments.append(seg)
            n = len(data)
            if n == 0:
                if is_last:
                    self._remove_file(seg)
                    segments.pop()
                continue
            if data[:HEADER_LEN] != SEGMENT_HEADER:
                if data[:6] == MAGIC and n >= HEADER_LEN:
                    version = struct.unpack_from("<H", data, 6)[0]  # a newer pe's WAL: refuse to start
                    raise StorageError(f"WAL segment {name} has unsupported format version {version}")
                torn = (n < HEADER_LEN and SEGMENT_HEADER.startswith(data)) or not data.strip(b"\x00")
                if torn and is_last:  # the segment's first write never fully landed
                    report.truncated_bytes, report.truncated_segment = n, name
                    report.corrupt.append(f"{name}: torn segment header ({n} bytes); removed")
                    self._remove_file(seg)
                    segments.pop()
                else:  # keep the bytes for forensics, never append to it
                    seg.clean = False
                    report.corrupt.append(f"{name}: not a WAL segment header; skipped {n} bytes")
                continue

            buf = pa.py_buffer(data)
            mv = memoryview(data)
            off = good_end = HEADER_LEN
            problem: str | None = None
            while off < n:
                if n - off < FRAME_LEN:
                    problem = f"torn frame header ({n - off} bytes)"
                    break
                length, crc = _FRAME.unpack_from(data, off)
                if length < MIN_PAYLOAD or length % 8:
                    problem = f"bad frame length {length}"
                    break
                start, end = off + FRAME_LEN, off + FRAME_LEN + length
                if end > n:
                    problem = f"torn frame ({n - start} of {length} payload bytes present)"
                    break
                if zlib.crc32(mv[start:end]) != crc:
                    problem = "CRC mismatch"
                    break
                frame_off, off = off, end
                good_end = end
                # The frame is intact from here on, so a bad payload costs only this record.
                try:
                    seq, layout = _decode_layout(data, start, length)
                    if seq <= prev:
                        report.corrupt.append(f"{name}@{frame_off}: seq {seq} not after {prev}; record skipped")
                        continue
                    if seq <= after_seq:
                        entries = None
                    else:
                        entries = [
                            WalEntry(db_id, db_name, table, _decode_batch(buf, boff, blen))
                            for db_id, db_name, table, boff, blen in layout
                        ]
                except _BadPayload as exc:
                    report.corrupt.append(f"{name}@{frame_off}: undecodable record: {exc}; record skipped")
                    continue
                if prev and seq != prev + 1:  # seqs are consecutive: something is missing
                    report.gaps.append((prev + 1, seq - 1, name))
                prev = seq
                if report.log_first_seq is None:
                    report.log_first_seq = seq
                if seg.first_seq is None:
                    seg.first_seq = seq
                seg.last_seq = seq
                report.last_seq = seq
                if entries is None:
                    report.skipped += 1
                    continue
                report.records += 1
                if report.first_seq is None:
                    report.first_seq = seq
                yield WalRecord(seq, entries)
            mv.release()

            if problem is not None and is_last:
                if seg.first_seq is None:  # nothing good in it: drop the whole file
                    report.truncated_bytes, report.truncated_segment = n, name
                    report.corrupt.append(f"{name}@{good_end}: {problem}; removed the segment ({n} bytes)")
                    self._remove_file(seg)
                    segments.pop()
                    continue
                cut = n - good_end
                report.truncated_bytes, report.truncated_segment = cut, name
                report.corrupt.append(f"{name}@{good_end}: {problem}; truncated {cut} bytes")
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                    try:
                        os.ftruncate(fd, good_end)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    seg.size = good_end
                except OSError as exc:
                    seg.clean = False
                    report.corrupt.append(f"{name}: could not truncate: {exc}; appends go to a new segment")
            elif problem is not None:
                seg.clean = False
                report.corrupt.append(
                    f"{name}@{good_end}: {problem}; skipped the rest of the segment ({n - good_end} bytes)"
                )
            elif is_last and seg.first_seq is None:
                self._remove_file(seg)  # header only: nothing to keep
                segments.pop()

        self._segments = segments
        # An unreadable file keeps its name: new segments must still sort after it.
        self._max_name = max([int(n[:20]) for n in unreadable_names] + [int(s.name[:20]) for s in segments], default=0)
        self._last_seq = prev
        last = segments[-1] if segments else None
        self._active = last if last is not None and last.clean and last.name == names[-1] else None
        self._replayed = True

    def _remove_file(self, seg: _Segment) -> None:
        try:
            os.unlink(self.directory / seg.name)
            self._fsync_dir()
        except OSError as exc:
            raise StorageError(f"WAL could not remove empty segment {seg.name}: {exc}") from exc

    # ------------------------------------------------------------ append

    def open_for_append(self) -> None:
        """Open the repaired last segment (or prepare a new one). Replays first if needed."""
        with self._lock:
            if self._open:
                return
            if self._failed:
                raise StorageError(f"WAL unusable: {self._failed}")
            if not self._replayed:
                for _ in self.replay(after_seq=2**64 - 1):  # repair only; nothing decoded
                    pass
            seg = self._active
            if seg is not None:
                try:
                    fd = os.open(self.directory / seg.name, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
                except OSError as exc:
                    raise StorageError(f"WAL cannot open {seg.name}: {exc}") from exc
                size = os.fstat(fd).st_size
                if size != seg.size:
                    os.close(fd)
                    raise StorageError(f"WAL segment {seg.name} changed size during start-up")
                self._fd = fd
            self._open = True

    def append(self, record: WalRecord, sync: bool = True) -> int:
        """Write one record durably (fsync unless sync=False); return bytes written.

        On failure the segment is cut back to its previous length and StorageError is
        raised, so the caller must not acknowledge; if the cut fails too, the Wal refuses
        every later append (a new Wal will repair the tail on replay).
        """
        with self._lock:
            if self._failed:
                raise StorageError(f"WAL unusable after an earlier failure: {self._failed}")
            if not self._open:
                raise RuntimeError("call open_for_append() before append()")
            if record.seq <= self._last_seq:
                raise ValueError(f"WAL seq must increase: {record.seq} after {self._last_seq}")
            if self._active is not None and self._active.size >= self.segment_bytes:
                self._rotate_locked()
            fresh = self._active is None or self._active.size == 0
            frame = _encode(record, SEGMENT_HEADER if fresh else b"")  # may raise: nothing written yet
            if self._active is None:
                self._new_segment(record.seq)
            seg, fd = self._active, self._fd
            assert seg is not None and fd is not None
            before = seg.size
            try:
                _write_all(fd, frame)
                if sync:
                    os.fsync(fd)
                    if not self._dir_synced:
                        self._fsync_dir()
                        self._dir_synced = True
            except BaseException as exc:
                try:
                    os.ftruncate(fd, before)
                except BaseException as exc2:
                    self._failed = f"append of seq {record.seq} failed ({exc}) and truncation failed ({exc2})"
                    raise StorageError(f"WAL append failed: {exc}; WAL disabled: {exc2}") from exc
                if isinstance(exc, OSError):
                    raise StorageError(f"WAL append failed: {exc}") from exc
                raise
            seg.size = before + len(frame)
            if seg.first_seq is None:
                seg.first_seq = record.seq
            seg.last_seq = record.seq
            self._last_seq = record.seq
            self._dirty = not sync
            return len(frame)

    def _new_segment(self, seq: int) -> None:
        num = max(seq, self._max_name + 1)  # never sort before (or collide with) a file on disk
        name = segment_name(num)
        try:
            fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"WAL append failed: cannot create segment {name}: {exc}") from exc
        self._max_name = num
        self._fd = fd
        self._active = _Segment(name, 0)
        self._segments.append(self._active)
        self._dir_synced = False

    def rotate(self) -> None:
        """Close the current segment; the next append starts a new one."""
        with self._lock:
            self._rotate_locked()

    def _rotate_locked(self) -> None:
        if self._active is not None and self._active.size == 0:
            return  # nothing in it yet; keep using it
        try:
            self._close_fd()
        finally:
            self._active = None

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._dirty:
                os.fsync(fd)
            if not self._dir_synced:
                self._fsync_dir()
        except OSError as exc:
            raise StorageError(f"WAL sync on close failed: {exc}") from exc
        finally:
            self._dirty = False
            self._dir_synced = True
            os.close(fd)

    def remove_through(self, seq: int) -> list[str]:
        """Delete closed segments whose records are all <= seq (e.g. after a snapshot).

        A segment with a damaged tail is bounded by the first seq of a later segment.
        """
        removed: list[str] = []
        with self._lock:
            bounds: list[int | None] = []
            next_first: int | None = None
            for s in reversed(self._segments):
                own = s.last_seq if s.clean and s.last_seq is not None else None
                later = next_first - 1 if next_first is not None else None
                bounds.append(own if own is not None else later)
                if s.first_seq is not None:
                    next_first = s.first_seq if next_first is None else min(next_first, s.first_seq)
            bounds.reverse()
            keep_from = 0
            for s, bound in zip(self._segments, bounds):
                if s is self._active:
                    break
                if bound is None or bound > seq:
                    break
                try:
                    os.unlink(self.directory / s.name)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self._segments = self._segments[keep_from:]
                    raise StorageError(f"WAL could not remove {s.name}: {exc}") from exc
                removed.append(s.name)
                keep_from += 1
            self._segments = self._segments[keep_from:]
            if removed:
                try:
                    self._fsync_dir()
                except OSError as exc:
                    raise StorageError(f"WAL directory sync failed: {exc}") from exc
        return removed

    def close(self) -> None:
        """Flush anything appended with sync=False and release the file."""
        with self._lock:
            self._open = False
            self._close_fd()

    def __enter__(self) -> Wal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes | bytearray) -> None:
    """One unbuffered write, looping only if the kernel takes less than all of it."""
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)
            if n <= 0:
                raise OSError("write returned 0 bytes")
            view = view[n:]
    finally:
        view.release()
