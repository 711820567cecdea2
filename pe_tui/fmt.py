"""Short, fixed-width renderings of numbers and times for table cells."""
from __future__ import annotations

import datetime as dt
import math


def seconds(v: float | None) -> str:
    """A duration: 850µs, 12.3ms, 1.20s, 3m05s."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if v < 0:
        v = 0.0
    if v < 1e-3:
        return f"{v * 1e6:.0f}µs"
    if v < 1.0:
        ms = v * 1e3
        return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"
    if v < 60:
        return f"{v:.2f}s" if v < 10 else f"{v:.1f}s"
    m, s = divmod(int(v), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def uptime(v: float) -> str:
    v = int(max(0, v))
    d, rem = divmod(v, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d}d {h:02d}:{m:02d}:{s:02d}" if d else f"{h:02d}:{m:02d}:{s:02d}"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    f = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if f < 1024 or unit == "GB":
            return f"{f:.0f}{unit}" if unit == "B" else f"{f:.1f}{unit}"
        f /= 1024
    return f"{f:.1f}TB"


def count(n: int | float) -> str:
    n = float(n)
    if n < 10_000:
        return f"{n:.0f}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f}k"
    return f"{n / 1e6:.2f}M"


def rate(v: float) -> str:
    if v < 10:
        return f"{v:.1f}"
    return count(v)


def ago(ts: float | None, now: float) -> str:
    """How long ago: 3s, 4m, 2h, 5d (never negative)."""
    if ts is None:
        return "-"
    d = max(0.0, now - ts)
    if d < 60:
        return f"{d:.0f}s ago"
    if d < 3600:
        return f"{d // 60:.0f}m ago"
    if d < 86400:
        return f"{d // 3600:.0f}h ago"
    return f"{d // 86400:.0f}d ago"


def until(ts: float | None, now: float) -> str:
    """Time left: in 3s, in 4m; "due" when past."""
    if ts is None:
        return "-"
    d = ts - now
    if d <= 0.5:
        return "due"
    if d < 60:
        return f"in {d:.0f}s"
    if d < 3600:
        return f"in {d // 60:.0f}m{int(d % 60):02d}s"
    if d < 86400:
        return f"in {d // 3600:.0f}h{int(d % 3600 // 60):02d}m"
    return f"in {d // 86400:.0f}d"


def clock(ts: float | None, tz: dt.tzinfo | None = None, ms: bool = False) -> str:
    if ts is None:
        return "-"
    t = dt.datetime.fromtimestamp(ts, tz)
    return t.strftime("%H:%M:%S") + (f".{t.microsecond // 1000:03d}" if ms else "")


def stamp(ts: float | None, tz: dt.tzinfo | None = None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def short_stamp(ts: float | None, tz: dt.tzinfo | None = None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M:%S")


def ttl(v: float | None) -> str:
    if v is None:
        return "∞"
    return seconds(v) if v < 60 else until(v, 0.0).removeprefix("in ")


def one_line(text: str | None, width: int = 200) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
