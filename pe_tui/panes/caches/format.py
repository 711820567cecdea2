"""Text for the Caches pane: durations, counts, ages, values, a system cache's info line and
the value screen's text for one of its rows. Pure functions, no widgets."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.text import Text

from ...model import ValueCacheContents, ValueCacheItem, ValueCacheRow
from .kinds import view_of






def short_count(n: int) -> str:
    """At most four characters: 9999, 12k, 100k, 3M."""
    if n < 10_000:
        return str(n)
    if n < 10_000_000:
        return f"{n // 1000}k" if n < 1_000_000 else f"{n / 1e6:.1f}M".replace(".0M", "M")
    return f"{n // 1_000_000}M"




def fmt_age(v: float) -> str:
    """At most five characters: 0.4s, 12s, 3m05s, 42m, 5h01m, 13h, 3d02h, 12d."""
    v = max(0.0, v)
    if v < 10:
        return f"{v:.1f}s"
    if v < 60:
        return f"{int(v)}s"
    m, s = divmod(int(v), 60)
    if m < 60:
        return f"{m}m{s:02d}s" if m < 10 else f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m" if h < 10 else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h" if d < 10 else f"{d}d"


def iso_ns(ns: int, full: bool = False) -> str:
    """Epoch nanoseconds as ISO 8601 UTC: milliseconds (trailing zeros dropped), or all nine digits."""
    s, rem = divmod(int(ns), 1_000_000_000)
    base = dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if full:
        return f"{base}.{rem:09d}Z" if rem else f"{base}Z"
    ms = rem // 1_000_000
    return f"{base}.{ms:03d}Z".replace(".000Z", "Z")


def compact(v: Any, limit: int = 40) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        text = v if v and not any(c.isspace() or c in '="' for c in v) else json.dumps(v, ensure_ascii=False)
        return text if len(text) <= limit else text[: limit - 1] + "…"
    return str(v)


def values_text(values: dict[str, Any], t: Text) -> None:
    """The row's time (ISO, UTC, milliseconds), then its `col=value` pairs (nulls left out)."""
    tv = values.get("time")
    pairs = [(c, v) for c, v in values.items() if c != "time" and v is not None]
    if isinstance(tv, int) and not isinstance(tv, bool):
        t.append(iso_ns(tv), style="green")
        if pairs:
            t.append("  ")
    for i, (c, v) in enumerate(pairs):
        if i:
            t.append(" ")
        t.append(f"{c}=", style="dim")
        t.append(compact(v))


def key_text(col: str, value: Any, pad: int = 0, *, bold: bool = True) -> Text:
    t = Text(no_wrap=True)
    t.append(f"{col}=", style="dim")
    v = compact(value)
    t.append(v, style="bold" if bold else "")
    if pad > len(v):
        t.append(" " * (pad - len(v)))
    return t


def cache_info(row: ValueCacheRow, c: ValueCacheContents | None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(row.label, style="bold")
    view = view_of(row)
    t.append(f" · {view.long_name}", style=view.style)
    noun = view.nouns
    if c is None:
        t.append(" · reading…", style="dim")
    else:
        shown = len({tuple(i.key) for i in c.items})
        t.append(f" · {c.total:,} {noun}" if shown >= c.total else f" · showing {shown:,} of {c.total:,} {noun}",
                 style="dim")
    t.append(view.settings(row), style="dim")
    return t


def full_row(row: ValueCacheRow, item: ValueCacheItem, age: float) -> str:
    """The value screen's text for one leaf: every column, time in full."""
    names = list(row.columns) + list((item.values or {}).keys())
    w = max((len(n) for n in names), default=4) + 2
    lines = view_of(row).header(row, fmt_age(age))
    for c, v in zip(row.columns, item.key):
        lines.append(f"{c:<{w}}{v!r:<28}  key")
    for c, v in (item.values or {}).items():
        if c == "time" and isinstance(v, int) and not isinstance(v, bool):
            lines.append(f"{c:<{w}}{iso_ns(v, full=True)}  ({v} ns)")
        else:
            lines.append(f"{c:<{w}}{v!r}")
    return "\n".join(lines)
