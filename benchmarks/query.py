"""Query benchmark: GROUP BY over 1,000,000 cpu rows through QueryEngine.execute.

1,000 hosts (a dictionary tag, encoded per batch as the WAL does), 5 float
fields, ns time, in memory batches of 10,000 rows. Variants: everything in
memory; half in one Parquet file (decoded once, then cached); the same with
the Parquet cache disabled (scanned from disk on every query). Each prints
the first query (cold: registration, widening, Parquet read) and the best of
5 after one warm-up.

    python benchmarks/query.py

Ends with:
    RESULT query_groupby_1m_ms <ms> ms
    RESULT query_groupby_1m_parquet_ms <ms> ms
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pe_engine.lineprotocol.types import FieldType  # noqa: E402
from pe_engine.storage.buffer import BufferStore  # noqa: E402
from pe_engine.storage.catalog import Catalog, ColumnDef, TableDef  # noqa: E402
from pe_engine.storage.query import QueryEngine  # noqa: E402

ROWS = 1_000_000
BATCH = 10_000
HOSTS = 1_000
FIELDS = ("usage_user", "usage_system", "usage_idle", "usage_iowait", "usage_steal")
SQL = "SELECT host, avg(usage_user) FROM cpu GROUP BY host"
T0 = 1_700_000_000_000_000_000


def cpu_table() -> TableDef:
    t = TableDef("cpu")
    t.add_column(ColumnDef("time", "time"))
    t.add_column(ColumnDef("host", "tag"))
    for name in FIELDS:
        t.add_column(ColumnDef(name, "field", FieldType.FLOAT))
    return t


def make_batches(schema: pa.Schema) -> list[pa.RecordBatch]:
    names = pa.array([f"host-{i:04d}" for i in range(HOSTS)])
    out = []
    for k in range(ROWS // BATCH):
        idx = pc.cast(pc.floor(pc.multiply(pc.random(BATCH, initializer=k), HOSTS)), pa.int32())
        cols = [pc.dictionary_encode(names.take(idx))]
        cols += [pc.multiply(pc.random(BATCH, initializer=1000 * k + j), 100.0) for j in range(len(FIELDS))]
        start = T0 + k * BATCH * 1_000_000
        cols.append(pa.array(range(start, start + BATCH * 1_000_000, 1_000_000), pa.int64()).cast(pa.timestamp("ns")))
        out.append(pa.RecordBatch.from_arrays(cols, schema=schema))
    return out


def run(label: str, engine: QueryEngine) -> float:
    t = time.perf_counter()
    result = engine.execute("bench", SQL)
    cold = (time.perf_counter() - t) * 1000
    assert result.num_rows == HOSTS, result.num_rows
    engine.execute("bench", SQL)  # warm-up
    times = []
    for _ in range(5):
        t = time.perf_counter()
        engine.execute("bench", SQL)
        times.append((time.perf_counter() - t) * 1000)
    best = min(times)
    print(f"{label:<36} first query {cold:8.1f} ms   best of 5 {best:7.1f} ms")
    return best


def engine_for(batches: list[pa.RecordBatch], parquet: str | None, cache_bytes: int) -> QueryEngine:
    catalog = Catalog()
    db = catalog.create_db("bench")
    tdef = cpu_table()
    db.tables["cpu"] = tdef
    buffers = BufferStore()
    td = buffers.table("bench", "cpu")
    for seq, b in enumerate(batches):
        td.append(b, seq)
    if parquet is not None:
        td.add_parquet(parquet, ROWS // 2)
    return QueryEngine(catalog, buffers, parquet_cache_bytes=cache_bytes)


def main() -> None:
    schema = cpu_table().arrow_schema
    t = time.perf_counter()
    batches = make_batches(schema)
    print(f"built {ROWS:,} rows in {len(batches)} batches in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "cpu.parquet")
        half = len(batches) // 2
        pq.write_table(pa.Table.from_batches(batches[:half], schema=schema), path, compression="zstd")
        memory_ms = run("memory (100 x 10k batches)", engine_for(batches, None, 1 << 30))
        parquet_ms = run("half parquet (cached) + half memory", engine_for(batches[half:], path, 1 << 30))
        run("half parquet (disk scan) + half memory", engine_for(batches[half:], path, 0))
    print(f"RESULT query_groupby_1m_ms {memory_ms:.1f} ms")
    print(f"RESULT query_groupby_1m_parquet_ms {parquet_ms:.1f} ms")


if __name__ == "__main__":
    main()
