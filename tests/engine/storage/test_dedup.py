"""One point per (table, tag set, time): fields merge, the later write wins per field, in every
answer — memory, Parquet, across snapshots, compaction and restarts (issue 9, first bullet)."""
from __future__ import annotations

import pyarrow as pa

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine
from pe_engine.storage.buffer import MemBatch
from pe_engine.storage.partitions import dedup, sort_by_key


def cfg(tmp_path, **kw):
    kw.setdefault("wal_flush_interval", 0.005)
    return EngineConfig(data_dir=tmp_path / "data", **kw)


MERGED = {"t": "a", "f1": 2.0, "f2": 10.0, "f3": "x"}


async def test_two_writes_same_series_and_time_merge_fields(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "dup,t=a f1=1,f2=10 5")
        await e.write_lp("d", 'dup,t=a f1=2,f3="x" 5')
        t = await e.query("d", "SELECT t, f1, f2, f3 FROM dup")
        assert t.to_pylist() == [MERGED]
        t = await e.query("d", "SELECT count(*) AS n, sum(f1) AS s FROM dup")
        assert t.to_pylist() == [{"n": 1, "s": 2.0}]


async def test_same_point_twice_within_one_body_later_line_wins(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", 'dup,t=a f1=1,f2=10 5\ndup,t=a f1=2,f3="x" 5\ndup,t=b f1=7 5')
        t = await e.query("d", "SELECT t, f1, f2, f3 FROM dup ORDER BY t")
        assert t.to_pylist() == [MERGED, {"t": "b", "f1": 7.0, "f2": None, "f3": None}]


async def test_tag_order_in_the_line_does_not_matter(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m,a=1,b=2 v=1 5")
        await e.write_lp("d", "m,b=2,a=1 v=2 5")
        await e.write_lp("d", "m,a=1 v=3 5")  # a missing tag is another series (b is null)
        await e.write_lp("d", "m,a=1 w=4 5")  # ... and null equals null for the key
        t = await e.query("d", "SELECT a, b, v, w FROM m ORDER BY b")
        assert t.to_pylist() == [
            {"a": "1", "b": "2", "v": 2.0, "w": None},
            {"a": "1", "b": None, "v": 3.0, "w": 4.0},
        ]


async def test_after_a_snapshot_and_after_a_restart(tmp_path):
    c = cfg(tmp_path)
    async with Engine(c) as e:
        await e.write_lp("d", "dup,t=a f1=1,f2=10 5")
        await e.snapshot()
        await e.write_lp("d", 'dup,t=a f1=2,f3="x" 5')
        assert (await e.query("d", "SELECT t, f1, f2, f3 FROM dup")).to_pylist() == [MERGED]
        await e.snapshot()  # two files, same point: deduplicated at query
        assert (await e.query("d", "SELECT t, f1, f2, f3 FROM dup")).to_pylist() == [MERGED]
        await e.write_lp("d", "dup,t=a f2=11 5")  # only in the WAL at restart
    async with Engine(c) as e:
        got = (await e.query("d", "SELECT t, f1, f2, f3 FROM dup")).to_pylist()
        assert got == [MERGED | {"f2": 11.0}]
        t = await e.query("d", "SELECT count(*) AS n FROM dup")
        assert t.to_pylist() == [{"n": 1}]


async def test_downsampler_rewriting_a_window_five_times_changes_nothing(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        lines = "\n".join(f"cpu,host=h{i % 3} usage={i} {i * 10**9}" for i in range(60))
        await e.write_lp("d", lines)
        for k in range(5):
            src = await e.query("d", "SELECT host, count(*) AS n, sum(usage) AS s FROM cpu GROUP BY host")
            out = "\n".join(f"down,host={r['host']} n={r['n']}i,s={r['s']} 0" for r in src.to_pylist())
            await e.write_lp("d", out)
            if k == 2:
                await e.snapshot()
        t = await e.query("d", "SELECT count(*) AS rows, sum(n) AS n, sum(s) AS s FROM down")
        assert t.to_pylist() == [{"rows": 3, "n": 60, "s": float(sum(range(60)))}]


async def test_wal_triggers_and_value_caches_still_see_batches_as_written(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        seen = []

        class Sub:
            def on_flush(self, batches):
                for fw in batches:
                    seen.extend(b.num_rows for b in fw.tables.values())

        e.writer.subscribe(Sub())
        await e.write_lp("d", "dup,t=a f1=1 5\ndup,t=a f1=2 5")
        assert seen == [2]
        assert (await e.query("d", "SELECT count(*) AS n FROM dup")).to_pylist() == [{"n": 1}]


def test_mem_batch_finds_repeated_points_once():
    tags = pa.array(["a", "a", "b"]).dictionary_encode()
    b = pa.record_batch({"t": tags, "v": pa.array([1.0, 2.0, 3.0]), "time": pa.array([1, 2, 1], pa.timestamp("ns"))})
    m = MemBatch.of(b, 7)
    assert m.dups is None  # the write path leaves the check to the first query
    assert (m.min_time, m.max_time, m.has_dups, m.seq) == (1, 2, False, 7)
    assert m.dups is False  # kept
    b2 = pa.record_batch({"t": tags, "v": pa.array([1.0, 2.0, 3.0]), "time": pa.array([1, 1, 9], pa.timestamp("ns"))})
    m2 = MemBatch.of(b2, 1)
    assert m2.has_dups and m2.dups is True


def test_dedup_keeps_last_non_null_per_field_and_sorts():
    t = pa.table({
        "t": pa.array(["b", "a", "a", None, None]).dictionary_encode(),
        "f": pa.array([1.0, 2.0, None, 4.0, 5.0]),
        "g": pa.array([None, 1, 3, None, None], pa.int64()),
        "time": pa.array([1, 1, 1, 2, 2], pa.timestamp("ns")),
    })
    out = sort_by_key(dedup(t))
    assert out.schema == t.schema
    got = out.set_column(3, "time", out.column("time").cast(pa.int64())).to_pydict()
    assert got == {"t": ["a", "b", None], "f": [2.0, 1.0, 5.0], "g": [3, None, None], "time": [1, 1, 2]}


async def test_a_field_named_like_the_internal_ordering_column_is_just_a_field(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m,t=a _seq=1,v=1 5\nm,t=a _seq=2 5")
        t = await e.query("d", "SELECT t, _seq, v FROM m")
        assert t.to_pylist() == [{"t": "a", "_seq": 2.0, "v": 1.0}]


def test_keys_disjoint_sees_points_shared_across_batches():
    from pe_engine.storage.sources import keys_disjoint

    def b(hosts, times):
        return pa.record_batch({"host": pa.array(hosts).dictionary_encode(), "v": pa.array([1.0] * len(hosts)),
                                "time": pa.array(times, pa.timestamp("ns"))})

    assert keys_disjoint([b(["a", "b"], [1, 5]), b(["b", "a"], [2, 3])])  # overlapping times, no common point
    assert not keys_disjoint([b(["a", "b"], [1, 5]), b(["c", "b"], [2, 5])])


async def test_overlapping_writes_without_a_common_point_keep_every_row(tmp_path):
    async with Engine(cfg(tmp_path)) as e:
        await e.write_lp("d", "m,t=a v=1 1\nm,t=a v=2 9")
        await e.write_lp("d", "m,t=b v=3 5\nm,t=a v=4 6")
        assert (await e.query("d", "SELECT count(*) AS n, sum(v) AS s FROM m")).to_pylist() == [{"n": 4, "s": 10.0}]
        await e.write_lp("d", "m,t=b v=5 5")  # now one point repeats
        assert (await e.query("d", "SELECT count(*) AS n, sum(v) AS s FROM m")).to_pylist() == [{"n": 4, "s": 12.0}]
