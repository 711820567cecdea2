"""WAL: round trip, rotation, and recovery from torn/corrupt tails and failed I/O.

These tests are the WAL's durability promise in executable form (perf-reliability.md
§5.4 step 7-8): every truncation offset and byte flip of the tail must replay to a clean
prefix, and a failed write must never leave garbage that hides a later record.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from pe_engine.errors import StorageError
from pe_engine.storage import wal as walmod
from pe_engine.storage.wal import (
    HEADER_LEN,
    SEGMENT_HEADER,
    ReplayReport,
    Wal,
    WalEntry,
    WalRecord,
    segment_name,
)

TAG = pa.dictionary(pa.int32(), pa.string())
TIME = pa.timestamp("ns")


# ---------------------------------------------------------------- helpers


def full_batch(rows: int, seed: int) -> pa.RecordBatch:
    """Every column kind the engine stores, with nulls in tags and fields."""
    hosts = [None if (i + seed) % 5 == 0 else f"h{(i + seed) % 3}" for i in range(rows)]
    region = [f"r{seed}"] * rows
    arrays = [
        pa.array(hosts, pa.string()).dictionary_encode(),
        pa.array(region, pa.string()).dictionary_encode(),
        pa.array([None if i % 4 == 1 else i * 0.5 + seed for i in range(rows)], pa.float64()),
        pa.array([None if i % 3 == 2 else -i * seed for i in range(rows)], pa.int64()),
        pa.array([None if i % 6 == 3 else 2**63 + i for i in range(rows)], pa.uint64()),
        pa.array([None if i % 2 else f"s{i}é" for i in range(rows)], pa.string()),
        pa.array([None if i % 5 == 4 else bool(i % 2) for i in range(rows)], pa.bool_()),
        pa.array([1_700_000_000_000_000_000 + seed * 1000 + i for i in range(rows)], TIME),
    ]
    schema = pa.schema(
        [
            pa.field("host", TAG),
            pa.field("region", TAG),
            pa.field("f", pa.float64()),
            pa.field("i", pa.int64()),
            pa.field("u", pa.uint64()),
            pa.field("s", pa.string()),
            pa.field("b", pa.bool_()),
            pa.field("time", TIME, nullable=False),
        ]
    )
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def small_batch(seed: int) -> pa.RecordBatch:
    """A two-row batch, to keep per-byte loops short."""
    schema = pa.schema([pa.field("t", TAG), pa.field("v", pa.float64()), pa.field("time", TIME, nullable=False)])
    return pa.RecordBatch.from_arrays(
        [pa.array(["a", None]).dictionary_encode(), pa.array([seed * 1.0, None]), pa.array([seed, seed + 1], TIME)],
        schema=schema,
    )


def rec(seq: int, small: bool = True) -> WalRecord:
    if small:
        return WalRecord(seq, [WalEntry("db1", "mydb", "cpu", small_batch(seq))])
    return WalRecord(
        seq,
        [
            WalEntry("db1", "mydb", "cpu", full_batch(7, seq)),
            WalEntry("db1", "mydb", "mem", full_batch(3, seq + 1)),
            WalEntry("db2", "other", "cpu", full_batch(1, seq + 2)),
        ],
    )


def write_records(directory: Path, seqs: list[int], small: bool = True, **kw: object) -> Wal:
    wal = Wal(directory, **kw)  # type: ignore[arg-type]
    list(wal.replay())
    wal.open_for_append()
    for s in seqs:
        wal.append(rec(s, small), sync=False)
    wal.close()
    return wal


def assert_records_equal(got: list[WalRecord], want: list[WalRecord]) -> None:
    assert [r.seq for r in got] == [r.seq for r in want]
    for g, w in zip(got, want):
        assert len(g.entries) == len(w.entries)
        for ge, we in zip(g.entries, w.entries):
            assert (ge.db_id, ge.db_name, ge.table) == (we.db_id, we.db_name, we.table)
            assert ge.batch.schema.equals(we.batch.schema, check_metadata=True)
            assert ge.batch.equals(we.batch)


def replay_all(directory: Path, after_seq: int = 0) -> tuple[list[WalRecord], ReplayReport]:
    wal = Wal(directory)
    got = list(wal.replay(after_seq))
    return got, wal.report


def segs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if walmod.SEGMENT_RE.match(p.name))


# ---------------------------------------------------------------- round trip


def test_round_trip_all_types(tmp_path: Path) -> None:
    want = [rec(s, small=False) for s in (1, 2, 5)]
    want.append(WalRecord(9, []))  # an empty flush is still a valid record
    empty = full_batch(0, 0)
    want.append(WalRecord(10, [WalEntry("db1", "mydb", "empty", empty)]))
    meta = full_batch(2, 3).replace_schema_metadata({"k": "v"})
    want.append(WalRecord(11, [WalEntry("ü", "ünïcode db", "tåble", meta)]))

    wal = Wal(tmp_path / "wal")
    assert list(wal.replay()) == []
    wal.open_for_append()
    sizes = [wal.append(r) for r in want]
    assert wal.last_seq == 11
    wal.close()
    assert wal.size_bytes == sum(sizes) == sum(p.stat().st_size for p in (tmp_path / "wal").iterdir())

    got, report = replay_all(tmp_path / "wal")
    assert_records_equal(got, want)
    assert got[0].entries[0].batch.schema.field("host").type == TAG
    assert not got[0].entries[0].batch.schema.field("time").nullable
    assert (report.records, report.first_seq, report.last_seq, report.segments) == (6, 1, 11, 1)
    assert report.corrupt == [] and report.truncated_bytes == 0
    assert "6 WAL records" in report.summary()


def test_replayed_buffers_are_aligned_views(tmp_path: Path) -> None:
    write_records(tmp_path, [1, 2, 3], small=False)
    got, _ = replay_all(tmp_path)
    for r in got:
        for e in r.entries:
            for col in e.batch.columns:
                arr = col.indices if pa.types.is_dictionary(col.type) else col
                for buf in arr.buffers():
                    if buf is not None and buf.size:
                        assert buf.address % 8 == 0


def test_replay_after_seq_filters(tmp_path: Path) -> None:
    write_records(tmp_path, [1, 2, 3, 4, 5], segment_bytes=1500)
    assert len(segs(tmp_path)) > 1
    got, report = replay_all(tmp_path, after_seq=3)
    assert [r.seq for r in got] == [4, 5]
    assert (report.records, report.first_seq, report.last_seq, report.skipped) == (2, 4, 5, 3)
    got, report = replay_all(tmp_path, after_seq=5)
    assert got == [] and report.last_seq == 5 and report.first_seq is None


def test_append_requires_open_and_increasing_seq(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    with pytest.raises(RuntimeError):
        wal.append(rec(1))
    wal.open_for_append()
    wal.append(rec(3))
    with pytest.raises(ValueError):
        wal.append(rec(3))
    with pytest.raises(TypeError):
        wal.append(WalRecord(4, [WalEntry("a", "b", "c", pa.table({"x": [1]}))]))  # type: ignore[arg-type]
    wal.append(rec(4))
    with pytest.raises(RuntimeError):
        list(wal.replay())  # replay is for start-up, before appending
    wal.close()
    with pytest.raises(RuntimeError):
        Wal(tmp_path).append(rec(5))
    assert [r.seq for r in replay_all(tmp_path)[0]] == [3, 4]


def test_open_for_append_without_replay_repairs_tail(tmp_path: Path) -> None:
    write_records(tmp_path, [1, 2])
    path = tmp_path / segs(tmp_path)[-1]
    with open(path, "ab") as f:
        f.write(b"\x10\x00\x00")
    wal = Wal(tmp_path)
    wal.open_for_append()
    assert wal.last_seq == 2 and wal.report.truncated_bytes == 3
    wal.append(rec(3))
    wal.close()
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2, 3] and report.corrupt == []


# ---------------------------------------------------------------- rotation, cleanup


def test_rotation_by_size(tmp_path: Path) -> None:
    wal = write_records(tmp_path, list(range(1, 11)), segment_bytes=1500)
    names = segs(tmp_path)
    assert len(names) > 2 and names == wal.segments
    first_seqs = [int(n[:20]) for n in names]
    assert first_seqs[0] == 1 and first_seqs == sorted(first_seqs)
    for n in names[:-1]:  # each closed segment reached the limit before rotating
        assert (tmp_path / n).stat().st_size >= 1500
    got, report = replay_all(tmp_path)
    assert_records_equal(got, [rec(s) for s in range(1, 11)])
    assert report.segments == len(names)
    # each segment is named after the first seq it holds
    for n in names:
        first = next(r.seq for r in Wal(tmp_path).replay() if r.seq >= int(n[:20]))
        assert first == int(n[:20])


def test_remove_through_keeps_later_records(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.open_for_append()
    for s in (1, 2):
        wal.append(rec(s))
    wal.rotate()
    for s in (3, 4):
        wal.append(rec(s))
    wal.rotate()
    wal.rotate()  # rotating with nothing open is harmless
    for s in (5, 6):
        wal.append(rec(s))
    wal.rotate()
    wal.append(rec(7))  # the open segment
    assert wal.segments == [segment_name(1), segment_name(3), segment_name(5), segment_name(7)]

    assert wal.remove_through(0) == []
    assert wal.remove_through(3) == [segment_name(1)]  # 3..4 holds 4 > 3
    assert wal.remove_through(5) == [segment_name(3)]
    assert wal.remove_through(100) == [segment_name(5)]  # never the open segment
    assert segs(tmp_path) == [segment_name(7)]
    assert wal.size_bytes == (tmp_path / segment_name(7)).stat().st_size
    wal.append(rec(8))
    wal.close()
    got, _ = replay_all(tmp_path)
    assert [r.seq for r in got] == [7, 8]

    # after a restart the last segment is where appends continue: still protected
    wal = Wal(tmp_path)
    list(wal.replay())
    assert wal.remove_through(100) == []
    wal.open_for_append()
    wal.rotate()
    assert wal.remove_through(100) == [segment_name(7)]
    wal.append(rec(9))
    wal.close()
    assert [r.seq for r in replay_all(tmp_path)[0]] == [9]


# ---------------------------------------------------------------- torn tails


def _layout(directory: Path, own_segment: bool) -> tuple[Path, bytes, bytes]:
    """Two good records, then a last record; return (last file, good prefix, last frame)."""
    wal = Wal(directory)
    wal.open_for_append()
    wal.append(rec(1, small=False), sync=False)
    wal.append(rec(2), sync=False)
    before = 0
    if own_segment:
        wal.rotate()
    else:
        before = (directory / wal.segments[-1]).stat().st_size
    wal.append(rec(3), sync=False)
    wal.close()
    path = directory / wal.segments[-1]
    data = path.read_bytes()
    return path, data[:before], data[before:]


@pytest.mark.parametrize("own_segment", [False, True], ids=["same-segment", "own-segment"])
def test_truncate_last_record_at_every_offset(tmp_path: Path, own_segment: bool) -> None:
    src = tmp_path / "src"
    path, prefix, frame = _layout(src, own_segment)
    assert 200 < len(frame) < 1200
    earlier = [rec(1, small=False), rec(2)]
    work = tmp_path / "work"
    for cut in range(len(frame)):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src, work)
        target = work / path.name
        target.write_bytes(prefix + frame[:cut])

        wal = Wal(work)
        got = list(wal.replay())
        assert_records_equal(got, earlier)
        report = wal.report
        assert report.last_seq == 2
        if cut and not (own_segment and cut == HEADER_LEN):  # a header-only segment is just empty
            assert report.truncated_bytes == cut, cut
            assert report.truncated_segment == path.name
            assert report.corrupt, cut
        if prefix:
            assert target.stat().st_size == len(prefix)
        else:  # a segment whose first write was torn is removed
            assert not target.exists()

        wal.open_for_append()
        wal.append(rec(4), sync=False)
        wal.close()
        got, report = replay_all(work)
        assert_records_equal(got, [*earlier, rec(4)])
        assert report.corrupt == [] and report.truncated_bytes == 0


def _flip_cases(frame_len: int) -> list[tuple[str, list[tuple[int, bytes]]]]:
    cases = [(f"hdr{i}", [(i, b"\xff")]) for i in range(8)]  # XOR masks
    cases += [(f"p{i}", [(i, b"\x01")]) for i in range(8, frame_len, 13)]
    cases += [(f"p{frame_len - 1}", [(frame_len - 1, b"\x80")])]
    cases += [
        ("invert16", [(20, b"\xff" * 16)]),
        ("two-far", [(9, b"\x04"), (frame_len - 3, b"\x04")]),
        ("tail-garbage", [(frame_len // 2, bytes(1 + (i * 37) % 255 for i in range(frame_len - frame_len // 2)))]),
        ("len-plus-8", [(0, b"\x08")]),  # length now != frame length: bad CRC or torn
    ]
    return cases


def test_flipped_bytes_in_last_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    path, prefix, frame = _layout(src, own_segment=False)
    earlier = [rec(1, small=False), rec(2)]
    work = tmp_path / "work"
    for name, edits in _flip_cases(len(frame)):
        bad = bytearray(frame)
        for pos, mask in edits:
            for k, m in enumerate(mask):
                bad[pos + k] ^= m
        assert bad != frame
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src, work)
        (work / path.name).write_bytes(prefix + bytes(bad))

        wal = Wal(work)
        got = list(wal.replay())
        assert_records_equal(got, earlier)
        assert wal.report.corrupt, name
        assert wal.report.truncated_bytes == len(frame), name
        assert (work / path.name).stat().st_size == len(prefix), name
        wal.open_for_append()
        wal.append(rec(4), sync=False)
        wal.append(rec(5), sync=False)
        wal.close()
        got, report = replay_all(work)
        assert_records_equal(got, [*earlier, rec(4), rec(5)])
        assert report.corrupt == [], name


def test_zero_filled_tail_is_truncated(tmp_path: Path) -> None:
    """Power loss on some filesystems leaves the extended size filled with zeros."""
    write_records(tmp_path, [1, 2])
    path = tmp_path / segs(tmp_path)[-1]
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b"\0" * 4096)
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2] and report.truncated_bytes == 4096
    assert path.stat().st_size == size


# ---------------------------------------------------------------- damage in earlier segments


def test_corruption_in_earlier_segment_is_reported_and_skipped(tmp_path: Path) -> None:
    wal = Wal(tmp_path)
    wal.open_for_append()
    for group in ((1, 2, 3), (4, 5, 6), (7, 8)):
        for s in group:
            wal.append(rec(s), sync=False)
        wal.rotate()
    wal.close()
    names = segs(tmp_path)
    assert len(names) == 3
    middle = tmp_path / names[1]
    data = bytearray(middle.read_bytes())
    frame_len = (len(data) - HEADER_LEN) // 3
    second = HEADER_LEN + frame_len
    data[second + 40] ^= 0x55  # damage seq 5; seq 6 behind it is lost with it
    middle.write_bytes(bytes(data))

    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2, 3, 4, 7, 8]
    assert len(report.corrupt) == 1
    assert names[1] in report.corrupt[0] and f"@{second}" in report.corrupt[0]
    assert report.truncated_bytes == 0 and report.truncated_segment is None
    assert middle.stat().st_size == len(data)  # earlier segments are never rewritten

    wal = Wal(tmp_path, segment_bytes=10_000)
    list(wal.replay())
    wal.open_for_append()
    wal.append(rec(9))
    # the damaged segment is bounded by the next segment's first seq
    assert wal.remove_through(6) == [names[0], names[1]]
    wal.close()
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [7, 8, 9] and report.corrupt == []


def test_bad_header_segments(tmp_path: Path) -> None:
    write_records(tmp_path, [1, 2])
    # an earlier segment that is not a WAL segment at all
    (tmp_path / segment_name(0)).write_bytes(b"hello, I am not a WAL segment")
    # a later one too: kept for forensics, appends go after it
    (tmp_path / segment_name(50)).write_bytes(b"X" * 100)
    wal = Wal(tmp_path)
    assert [r.seq for r in wal.replay()] == [1, 2]
    assert len(wal.report.corrupt) == 2
    wal.open_for_append()
    wal.append(rec(3))
    wal.close()
    assert segs(tmp_path)[-1] > segment_name(50)
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2, 3] and len(report.corrupt) == 2


def test_unsupported_version_refuses(tmp_path: Path) -> None:
    (tmp_path / segment_name(1)).write_bytes(walmod.MAGIC + b"\x09\x00" + b"\0" * 16)
    with pytest.raises(StorageError, match="version"):
        list(Wal(tmp_path).replay())


def _segment_from_frames(path: Path, frames: list[bytes]) -> None:
    path.write_bytes(SEGMENT_HEADER + b"".join(frames))


def test_non_increasing_seq_is_reported_and_skipped(tmp_path: Path) -> None:
    frames = [bytes(walmod._encode(rec(s), b"")) for s in (1, 3, 2, 3, 4)]
    _segment_from_frames(tmp_path / segment_name(1), frames)
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 3, 4]
    assert len(report.corrupt) == 2 and all("not after 3" in c for c in report.corrupt)
    assert report.truncated_bytes == 0


def test_valid_crc_but_undecodable_payload_skips_one_record(tmp_path: Path) -> None:
    import struct
    import zlib

    garbage = bytearray(walmod._encode(rec(2), b""))[8:]
    garbage[40:] = b"\xab" * (len(garbage) - 40)  # entry table and batch are nonsense
    bad = struct.pack("<II", len(garbage), zlib.crc32(garbage)) + bytes(garbage)
    frames = [bytes(walmod._encode(rec(1), b"")), bad, bytes(walmod._encode(rec(3), b""))]
    _segment_from_frames(tmp_path / segment_name(1), frames)
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 3]
    assert len(report.corrupt) == 1 and "undecodable" in report.corrupt[0]


# ---------------------------------------------------------------- empty and stray files


def test_empty_directory(tmp_path: Path) -> None:
    d = tmp_path / "new" / "wal"
    wal = Wal(d)
    assert list(wal.replay()) == []
    assert wal.report == ReplayReport()
    assert wal.last_seq == 0 and wal.size_bytes == 0
    wal.open_for_append()
    wal.append(rec(1))
    wal.close()
    assert [r.seq for r in replay_all(d)[0]] == [1]


def test_empty_and_header_only_segments(tmp_path: Path) -> None:
    write_records(tmp_path, [1, 2])
    (tmp_path / segment_name(0)).write_bytes(b"")  # earlier and empty: fine
    (tmp_path / segment_name(3)).write_bytes(SEGMENT_HEADER)  # last and header-only: removed
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2] and report.corrupt == []
    assert segment_name(3) not in segs(tmp_path)

    (tmp_path / segment_name(3)).write_bytes(b"")  # last and zero-length: removed
    (tmp_path / segment_name(4)).write_bytes(SEGMENT_HEADER[:5])  # torn header: removed
    wal = Wal(tmp_path)
    assert [r.seq for r in wal.replay()] == [1, 2]
    wal.open_for_append()
    wal.append(rec(3))
    wal.close()
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2, 3] and report.corrupt == []


def test_stray_files_are_ignored(tmp_path: Path) -> None:
    strays = ["notes.txt", "123.wal", segment_name(5) + ".tmp", "x" + segment_name(6)]
    for s in strays:
        (tmp_path / s).write_bytes(b"garbage" * 10)
    (tmp_path / "subdir").mkdir()
    write_records(tmp_path, [1, 2])
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2] and report.corrupt == [] and report.segments == 1
    for s in strays:
        assert (tmp_path / s).read_bytes() == b"garbage" * 10


# ---------------------------------------------------------------- failing I/O


class FaultyOs:
    """Stands in for `os` inside the wal module: fails chosen write/fsync calls."""

    def __init__(self, fail: set[int] | None = None, fail_from: int | None = None,
                 short: int | None = None, fail_truncate: bool = False):
        self.calls = 0
        self.fail = fail or set()
        self.fail_from = fail_from
        self.short = short
        self.fail_truncate = fail_truncate

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def _tick(self, what: str) -> None:
        self.calls += 1
        if self.calls in self.fail or (self.fail_from is not None and self.calls >= self.fail_from):
            raise OSError(5, f"injected {what} failure (call {self.calls})")

    def write(self, fd: int, data: memoryview) -> int:
        if self.short is not None and len(data) > self.short:
            os.write(fd, data[: self.short])  # part lands on disk, then the device fails
            self._tick("write")
            return self.short
        self._tick("write")
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        self._tick("fsync")
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        if self.fail_truncate:
            raise OSError(5, "injected ftruncate failure")
        os.ftruncate(fd, length)


@pytest.mark.parametrize(
    "faults",
    [
        FaultyOs(fail={1}),  # write fails, nothing written
        FaultyOs(fail={2}),  # fsync fails after a complete write
        FaultyOs(fail={1}, short=100),  # 100 bytes land, then the write fails
    ],
    ids=["write", "fsync", "partial-write"],
)
def test_failed_append_truncates_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: FaultyOs) -> None:
    wal = Wal(tmp_path)
    wal.open_for_append()
    wal.append(rec(1))
    path = tmp_path / wal.segments[-1]
    size = path.stat().st_size
    monkeypatch.setattr(walmod, "os", faults)
    with pytest.raises(StorageError, match="WAL append failed"):
        wal.append(rec(2))
    assert path.stat().st_size == size and wal.size_bytes == size and wal.last_seq == 1
    faults.fail, faults.short = set(), None
    wal.append(rec(2))  # the caller retries the same seq
    wal.append(rec(3))
    wal.close()
    monkeypatch.undo()
    got, report = replay_all(tmp_path)
    assert_records_equal(got, [rec(1), rec(2), rec(3)])
    assert report.corrupt == []


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class ShortOs(FaultyOs):
        def write(self, fd: int, data: memoryview) -> int:
            return os.write(fd, data[:37])

    monkeypatch.setattr(walmod, "os", ShortOs())
    wal = Wal(tmp_path)
    wal.open_for_append()
    for s in (1, 2, 3):
        wal.append(rec(s, small=False))
    wal.close()
    monkeypatch.undo()
    assert_records_equal(replay_all(tmp_path)[0], [rec(s, small=False) for s in (1, 2, 3)])


def test_failure_on_new_segment_and_directory_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faults = FaultyOs(fail={3})  # call 1 = write, 2 = file fsync, 3 = directory fsync
    monkeypatch.setattr(walmod, "os", faults)
    wal = Wal(tmp_path)
    wal.open_for_append()
    with pytest.raises(StorageError):
        wal.append(rec(1))
    assert (tmp_path / segment_name(1)).stat().st_size == 0
    wal.append(rec(1))  # header is rewritten, directory sync retried
    assert faults.calls == 6
    wal.close()
    monkeypatch.undo()
    assert [r.seq for r in replay_all(tmp_path)[0]] == [1]


def test_failed_truncation_disables_the_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = Wal(tmp_path)
    wal.open_for_append()
    wal.append(rec(1))
    faults = FaultyOs(fail={1}, short=50, fail_truncate=True)
    monkeypatch.setattr(walmod, "os", faults)
    with pytest.raises(StorageError, match="disabled"):
        wal.append(rec(2))
    assert wal.failed
    faults.fail, faults.short, faults.fail_truncate = set(), None, False
    with pytest.raises(StorageError, match="unusable"):
        wal.append(rec(2))
    monkeypatch.undo()
    wal.close()
    # a new Wal repairs the torn tail, then appends normally
    wal2 = Wal(tmp_path)
    assert [r.seq for r in wal2.replay()] == [1]
    assert wal2.report.truncated_bytes == 50
    wal2.open_for_append()
    wal2.append(rec(2))
    wal2.close()
    got, report = replay_all(tmp_path)
    assert [r.seq for r in got] == [1, 2] and report.corrupt == []


@pytest.mark.parametrize("keep_failing", [False, True], ids=["fail-once", "keep-failing"])
def test_fail_nth_io_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_failing: bool) -> None:
    """SQLite-style: fail the Nth write/fsync; acked records survive, failed ones don't."""
    n = 1
    while True:
        d = tmp_path / f"n{n}"
        faults = FaultyOs(fail=set() if keep_failing else {n}, fail_from=n if keep_failing else None)
        monkeypatch.setattr(walmod, "os", faults)
        wal = Wal(d, segment_bytes=1200)
        wal.open_for_append()
        acked: list[int] = []
        seq = 1
        for _ in range(8):
            try:
                wal.append(rec(seq, small=seq % 3 != 0), sync=seq % 4 != 0)
            except StorageError:
                continue  # not acknowledged; retry the same seq next time
            acked.append(seq)
            seq += 1
        try:
            wal.close()
        except StorageError:
            pass
        hit = faults.calls >= n
        monkeypatch.undo()
        got, report = replay_all(d)
        assert [r.seq for r in got] == acked, n
        assert report.corrupt == [], n
        if not hit:
            break
        n += 1
    assert n > 10
