"""Property: whatever writes (with repeats), snapshots, compactions and restarts happen, a query
answers exactly what a dict model of InfluxDB's rule says (one point per series key and time,
fields merged, the later write wins per field)."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pe_engine.config import EngineConfig
from pe_engine.engine import Engine

HALF_DAY = 43_200 * 10**9

point = st.tuples(
    st.sampled_from(["x", "y", None]),  # tag a
    st.sampled_from(["p", None]),  # tag b
    st.integers(0, 3).map(lambda k: k * HALF_DAY + 7),  # time: a few values over two days
    st.one_of(st.none(), st.integers(-3, 3).map(lambda v: v / 2)),  # field f
    st.one_of(st.none(), st.integers(-3, 3)),  # field g
    st.booleans(),  # tags written b-first
).filter(lambda p: p[3] is not None or p[4] is not None)

op = st.one_of(
    st.tuples(st.just("write"), st.lists(point, min_size=1, max_size=6)),
    st.tuples(st.just("snapshot"), st.none()),
    st.tuples(st.just("compact"), st.none()),
    st.tuples(st.just("restart"), st.none()),
)


def line(p) -> str:
    a, b, t, f, g, b_first = p
    tags = [("a", a), ("b", b)]
    if b_first:
        tags.reverse()
    key = "m" + "".join(f",{k}={v}" for k, v in tags if v is not None)
    fields = ([f"f={f!r}"] if f is not None else []) + ([f"g={g}i"] if g is not None else [])
    return f"{key} {','.join(fields)} {t}"


def apply(model: dict, p) -> None:
    a, b, t, f, g, _ = p
    row = model.setdefault((a, b, t), {"f": None, "g": None})
    if f is not None:
        row["f"] = f
    if g is not None:
        row["g"] = g


async def run(data: Path, ops) -> None:
    c = EngineConfig(data_dir=data, wal_flush_interval=0.002, compaction_min_files=2, query_timeout=0.0,
                     compaction_idle_interval=0.0)  # the test drives compaction; no timer beside it
    model: dict = {}
    e = Engine(c)
    await e.start()
    try:
        for kind, arg in ops:
            if kind == "write":
                await e.write_lp("d", "\n".join(line(p) for p in arg))
                for p in arg:
                    apply(model, p)
            elif kind == "snapshot":
                await e.snapshot()
            elif kind == "compact":
                await e.compactor.wait()
                await e.compactor.compact()
            else:
                await e.stop()
                e = Engine(c)
                await e.start()
        if not model:
            return
        table = await e.query("d", "SELECT *, CAST(time AS BIGINT) AS t FROM m")  # a column may not exist yet
        got = table.drop_columns(["time"]).to_pylist()
        rows = sorted(((r.get("a"), r.get("b"), r["t"], r.get("f"), r.get("g")) for r in got), key=repr)
        want = sorted(((a, b, t, v["f"], v["g"]) for (a, b, t), v in model.items()), key=repr)
        assert rows == want
    finally:
        await e.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=10))
def test_answers_match_the_dict_model(ops):
    d = Path(tempfile.mkdtemp(prefix="pe-dedup-prop-"))
    try:
        asyncio.run(run(d / "data", ops))
    finally:
        shutil.rmtree(d, ignore_errors=True)
