"""Database retention: how far back rows stay visible, and which Parquet files have expired.

InfluxDB 3 Core takes `retention_period` once, at database creation (`POST
/api/v3/configure/database` body, `influxdb3 create database --retention-period 30d`), and
enforces it at query time: a point whose time is older than `now - retention_period` is never
returned, even while it is still stored; whole expired files are removed in the background.

The value is a duration (`30d`, `24h`, `2w`, `1y`, `1h 30m`), parsed by pe's one duration
parser (`pe_engine/durations.py`); InfluxDB's documented `mo` for months is accepted too, and
`none` / `infinite` (or no value) mean the data never expires.
"""
from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Protocol

from ..durations import format_duration_ns, parse_duration_ns
from ..errors import BadRequest

if TYPE_CHECKING:
    from datafusion import SessionContext
    from datafusion.catalog import Table

__all__ = [
    "RetentionError", "parse_retention_period", "format_retention_period", "cutoff_ns", "is_expired", "retained_view",
]

_NO_EXPIRY = {"none", "infinite", "inf", "indefinite"}
_MONTHS_MO = re.compile(r"(?<=[0-9])\s*mo(?![a-zA-Z])")  # InfluxDB's docs write months as `mo`


class RetentionError(BadRequest):
    """A retention period that is not a duration (answered with 400)."""


class HasRetention(Protocol):
    @property
    def retention_period_ns(self) -> int | None: ...


def parse_retention_period(value: object) -> int | None:
    """A retention period as nanoseconds; None when the data never expires.

    Accepts a duration string, None, "", or "none"/"infinite"; anything else is a
    RetentionError naming the value and the accepted forms.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise RetentionError(
            f"invalid retention_period {value!r}: expected a duration string such as \"30d\" or \"24h\""
        )
    text = value.strip()
    if not text or text.lower() in _NO_EXPIRY:
        return None
    if text.startswith("-"):
        raise RetentionError(f"invalid retention_period {value!r}: a retention period cannot be negative")
    try:
        return parse_duration_ns(_MONTHS_MO.sub("M", text))
    except BadRequest as e:
        raise RetentionError(f"invalid retention_period: {e.message}") from None


def format_retention_period(ns: int | None) -> str | None:
    """The listing's text for a retention period (None when the data never expires)."""
    return None if ns is None else format_duration_ns(ns)


def cutoff_ns(dbdef: HasRetention, now_ns: int) -> int | None:
    """The oldest visible time (ns): rows with time < cutoff are hidden. None = keep all."""
    period = dbdef.retention_period_ns
    if period is None:
        return None
    return now_ns - period


def is_expired(max_time_ns: int, cutoff: int | None) -> bool:
    """A file whose newest row is older than the cutoff holds nothing visible any more."""
    return cutoff is not None and max_time_ns < cutoff


# Periods this long hide nothing a timestamp can hold (and `now() - period` would overflow).
_NO_CUTOFF_NS = 2**62


def retained_view(helper: SessionContext, provider: Table, period_ns: int) -> Table:
    """`provider` seen through `time >= now() - period`, as a DataFusion view.

    `now()` is evaluated when each query runs, so the cutoff moves with the clock while the
    view is registered once; the filter is pushed into the provider's scan (Parquet pruning
    skips files older than the cutoff). `helper` is a context used only to build the view.
    """
    if period_ns >= _NO_CUTOFF_NS:
        return provider
    name = f"r{uuid.uuid4().hex}"
    helper.register_table(name, provider)
    try:
        df = helper.sql(
            f"SELECT * FROM {name} WHERE time >= CAST(now() AS TIMESTAMP) - INTERVAL '{int(period_ns)} nanoseconds'"
        )
        return df.into_view()
    finally:
        helper.deregister_table(name)
