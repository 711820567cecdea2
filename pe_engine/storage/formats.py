"""Encode query results in the five formats of InfluxDB 3's /api/v3/query_sql.

InfluxDB 3 writes JSON and CSV with arrow-rs's writers. DataFusion ships the
same writers, so json/jsonl/csv go through a throw-away DataFusion context:
identical output (ISO timestamps without zone, `1.0` floats, nulls left out of
JSON objects, CSV quoting only where needed) at Rust speed. Types those writers
reject fall back to Python. Pretty output reuses the CSV cell text.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionConfig, SessionContext

FORMATS = ("json", "jsonl", "csv", "parquet", "pretty")
# Other names clients send for one of FORMATS: InfluxDB 3 Core calls JSON lines `json_lines`
# (and takes `jsonl` as its alias).
FORMAT_ALIASES = {"json_lines": "jsonl"}
CONTENT_TYPES = {
    "json": "application/json",
    "jsonl": "application/jsonl",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "pretty": "text/plain",
}


def format_named(name: str) -> str | None:
    """The member of FORMATS that `name` (any case, or an alias) stands for; None if none."""
    name = name.strip().lower()
    name = FORMAT_ALIASES.get(name, name)
    return name if name in FORMATS else None


def encode(table: pa.Table, fmt: str) -> tuple[bytes, str]:
    """Body and content type for `table` in `fmt` (one of FORMATS)."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    if fmt == "json":
        body = _json_array(_jsonl(table))
    elif fmt == "jsonl":
        body = _jsonl(table)
    elif fmt == "csv":
        body = _csv(table)
    elif fmt == "parquet":
        body = _parquet(table)
    else:
        body = _pretty(table).encode()
    return body, CONTENT_TYPES[fmt]


# -- writers -------------------------------------------------------------
def _datafusion_write(table: pa.Table, kind: str) -> bytes:
    """Run arrow-rs's JSON-lines or CSV writer over `table` (one partition: row order kept)."""
    ctx = SessionContext(SessionConfig().with_target_partitions(1))
    df = ctx.from_arrow(table if table.num_rows else table.schema.empty_table())
    with tempfile.TemporaryDirectory(prefix="pe-fmt-") as tmp:
        path = os.path.join(tmp, f"out.{kind}")
        if kind == "json":
            df.write_json(path)
        else:
            df.write_csv(path, with_header=True)
        with open(path, "rb") as f:
            return f.read()


def _jsonl(table: pa.Table) -> bytes:
    if table.num_columns == 0:
        return b"{}\n" * table.num_rows
    try:
        return _datafusion_write(table, "json")
    except Exception:
        return b"".join(_dumps(row).encode() + b"\n" for row in _py_rows(table))


def _json_array(jsonl: bytes) -> bytes:
    """JSON lines -> one array. Raw newlines only occur between records (JSON escapes them in strings)."""
    if not jsonl:
        return b"[]"
    body = memoryview(jsonl.replace(b"\n", b","))[:-1]  # every record ends with a newline
    return b"".join((b"[", body, b"]"))


def _csv(table: pa.Table) -> bytes:
    if table.num_columns == 0:
        return b"\n" * (table.num_rows + 1)
    flat = _nested_as_json_text(table)
    try:
        return _datafusion_write(flat, "csv")
    except Exception:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(flat.column_names)
        for row in _py_rows(flat, keep_nulls=True):
            writer.writerow(["" if v is None else _text(v) for v in row.values()])
        return out.getvalue().encode()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _pretty(table: pa.Table) -> str:
    """An ASCII box like arrow-rs `pretty_format_batches` (null cells are blank)."""
    if table.num_columns == 0:
        return "++\n++\n"
    rows = list(csv.reader(io.StringIO(_csv(table).decode())))
    header, body = table.column_names, rows[1:]
    cells = [[c.split("\n") for c in row] for row in [header, *body]]
    widths = [max(len(line) for row in cells for line in row[i]) for i in range(len(header))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def render(row: list[list[str]]) -> list[str]:
        height = max(len(c) for c in row)
        return [
            "|" + "|".join(f" {(c[k] if k < len(c) else ''):<{w}} " for c, w in zip(row, widths)) + "|"
            for k in range(height)
        ]

    lines = [rule, *render(cells[0]), rule]
    for row in cells[1:]:
        lines.extend(render(row))
    lines.append(rule)
    return "\n".join(lines) + "\n"


# -- Python fallbacks (types arrow-rs's writers refuse) -------------------
def _nested_as_json_text(table: pa.Table) -> pa.Table:
    """CSV cannot hold lists/structs/maps: give them as JSON text, as a reader would want."""
    for i, f in enumerate(table.schema):
        if pa.types.is_nested(f.type):
            text = [None if v is None else _dumps(_plain(v)) for v in table.column(i).to_pylist()]
            table = table.set_column(i, pa.field(f.name, pa.string()), pa.array(text, pa.string()))
    return table


def _py_rows(table: pa.Table, keep_nulls: bool = False):
    names = table.column_names
    for batch in table.to_batches():
        cols = [_column_values(batch.column(i)) for i in range(batch.num_columns)]
        for r in range(batch.num_rows):
            row = {n: c[r] for n, c in zip(names, cols)}
            yield row if keep_nulls else {k: v for k, v in row.items() if v is not None}


def _column_values(arr: pa.Array) -> list:
    """Python values, timestamps kept exact (nanoseconds do not fit a datetime)."""
    if pa.types.is_timestamp(arr.type):
        ns = arr.cast(pa.timestamp("ns", arr.type.tz), safe=False).cast(pa.int64())
        return [None if v is None else _iso(v, arr.type.tz is not None) for v in ns.to_pylist()]
    return [_plain(v) for v in arr.to_pylist()]


def _iso(ns: int, zoned: bool) -> str:
    """`2024-01-01T00:00:00` with .fff/.ffffff/.fffffffff only when needed (chrono's %.f)."""
    secs, frac = divmod(ns, 1_000_000_000)
    text = (datetime(1970, 1, 1) + timedelta(seconds=secs)).isoformat()
    if frac:
        digits = f"{frac:09d}"
        text += "." + (digits[:3] if frac % 1_000_000 == 0 else digits[:6] if frac % 1_000 == 0 else digits)
    return text + ("Z" if zoned else "")


def _plain(v: object) -> object:
    """A JSON-friendly value."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, timedelta):
        return str(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return _dumps(v)
    return str(v)


def _dumps(v: object) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)
