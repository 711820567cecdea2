"""The one humantime duration grammar of pe: trigger specs, settings, cache TTLs, CLI flags.

InfluxDB 3 parses durations with Rust's `humantime`: integer spans with a unit,
optionally concatenated (`1h 30m`), units case-sensitive (`m` minutes, `M`
months). Flags such as `--wal-flush-interval` also take a plain or decimal
number of seconds (`0.5`, `1.5s`); `lenient=True` allows that, nothing else.
"""
from __future__ import annotations

import re

from .errors import InvalidSpec

__all__ = [
    "DURATION_HELP",
    "NS_PER_SEC",
    "MONTH_SECS",
    "YEAR_SECS",
    "DurationError",
    "parse_duration_ns",
    "parse_duration",
    "format_duration_ns",
    "format_duration",
]

NS_PER_SEC = 1_000_000_000
# humantime's calendar units (seconds): 1 month = 30.44 days, 1 year = 365.25 days.
MONTH_SECS = 2_630_016
YEAR_SECS = 31_557_600
MAX_DURATION_TEXT = 256
_MAX_DURATION_NS = 2**63 - 1

DURATION_HELP = (
    "durations are integer+unit spans, optionally concatenated, e.g. 30s, 5m, 1h 30m, 2h37min; "
    "units: ns, us/µs, ms, s/sec/seconds, m/min/minutes, h/hr/hours, d/days, w/weeks, "
    "M/months (30.44 days), y/years (365.25 days); note m = minutes, M = months"
)

DurationError = InvalidSpec  # one class for every rejected piece of spec text

_UNIT_NS: dict[str, int] = {}
for _names, _ns in (
    (("nanos", "nsec", "ns"), 1),
    (("usec", "us", "µs", "μs"), 1_000),  # micro sign and Greek mu
    (("millis", "msec", "ms"), 1_000_000),
    (("seconds", "second", "secs", "sec", "s"), NS_PER_SEC),
    (("minutes", "minute", "mins", "min", "m"), 60 * NS_PER_SEC),
    (("hours", "hour", "hrs", "hr", "h"), 3600 * NS_PER_SEC),
    (("days", "day", "d"), 86400 * NS_PER_SEC),
    (("weeks", "week", "wks", "wk", "w"), 7 * 86400 * NS_PER_SEC),
    (("months", "month", "M"), MONTH_SECS * NS_PER_SEC),
    (("years", "year", "yrs", "yr", "y"), YEAR_SECS * NS_PER_SEC),
):
    for _n in _names:
        _UNIT_NS[_n] = _ns

_SPAN_RE = re.compile(r"\s*([0-9]+)\s*([A-Za-zµμ]+)\s*")
_DECIMAL_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-zµμ]+)?\s*$")


def _error(text: str, reason: str) -> DurationError:
    return DurationError(f"invalid duration {text!r}: {reason}; {DURATION_HELP}")


def parse_duration_ns(text: str, *, lenient: bool = False) -> int:
    """A humantime duration (`5m`, `1h 30m`, `2h37min`) as exact nanoseconds.

    Zero is allowed; callers that need a positive interval check for it.
    `lenient` also takes one decimal number with an optional unit (seconds).
    """
    if not isinstance(text, str):
        raise DurationError(f"invalid duration {text!r}: expected a string; {DURATION_HELP}")
    if len(text) > MAX_DURATION_TEXT:
        raise _error(text[:40] + "...", f"too long (at most {MAX_DURATION_TEXT} characters)")
    if lenient:
        m = _DECIMAL_RE.match(text)
        if m is not None and (m.group(2) is None or m.group(2) in _UNIT_NS):
            ns = round(float(m.group(1)) * _UNIT_NS[m.group(2) or "s"])
            if ns > _MAX_DURATION_NS:
                raise _error(text, "number is too large")
            return ns
    s = text.strip()
    if not s:
        raise _error(text, "value was empty")
    total = 0
    pos = 0
    while pos < len(s):
        m = _SPAN_RE.match(s, pos)
        if m is None:
            raise _error(text, _why_not_a_span(s[pos:].lstrip()))
        number, unit = m.group(1), m.group(2)
        mult = _UNIT_NS.get(unit)
        if mult is None:
            raise _error(text, f"unknown time unit {unit!r}")
        if len(number) > 20:
            raise _error(text, "number is too large")
        total += int(number) * mult
        if total > _MAX_DURATION_NS:
            raise _error(text, "number is too large")
        pos = m.end()
        if pos < len(s) and s[pos] == ".":
            raise _error(text, "fractions are not allowed (write 1500ms, not 1.5s)")
    return total


def _why_not_a_span(rest: str) -> str:
    if re.match(r"[0-9]+[.,][0-9]", rest) or rest[:1] == ".":
        return "fractions are not allowed (write 1500ms, not 1.5s)"
    num = re.match(r"[0-9]+", rest)
    if num is not None:
        n = num.group(0)
        return f"time unit needed after {n}, for example {n}s or {n}ms"
    if rest[:1] == "-":
        return "negative durations are not allowed"
    return f"expected a number at {rest[:12]!r}"


def parse_duration(text: str, *, lenient: bool = False) -> float:
    """A duration in seconds (for flags such as `--deadline 30s`)."""
    return parse_duration_ns(text, lenient=lenient) / NS_PER_SEC


def format_duration_ns(ns: int) -> str:
    """Like humantime's `format_duration` (`5m`, `1h 30m`, `1day 2h`), so a canonical
    `every:` string matches what the InfluxDB CLI sends and parses back exactly."""
    if ns < 0:
        raise ValueError("cannot format a negative duration")
    secs, nanos = divmod(int(ns), NS_PER_SEC)
    if secs == 0 and nanos == 0:
        return "0s"
    years, ydays = divmod(secs, YEAR_SECS)
    months, mdays = divmod(ydays, MONTH_SECS)
    days, day_secs = divmod(mdays, 86400)
    hours, rem = divmod(day_secs, 3600)
    minutes, seconds = divmod(rem, 60)
    millis, rem_ns = divmod(nanos, 1_000_000)
    micros, nanosec = divmod(rem_ns, 1_000)
    parts: list[str] = []
    for value, name in ((years, "year"), (months, "month"), (days, "day")):
        if value:
            parts.append(f"{value}{name}{'s' if value > 1 else ''}")
    for value, name in (
        (hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms"), (micros, "us"), (nanosec, "ns"),
    ):
        if value:
            parts.append(f"{value}{name}")
    return " ".join(parts)


def format_duration(seconds: float) -> str:
    """Seconds as humantime text (`300` -> `5m`)."""
    return format_duration_ns(round(seconds * NS_PER_SEC))
