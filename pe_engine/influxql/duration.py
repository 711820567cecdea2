"""InfluxQL duration literals (``10s``, ``1h30m``, ``5u``) to nanoseconds.

Shared by WHERE time arithmetic and ``GROUP BY time(interval, offset)``.
"""

from __future__ import annotations

import re

_UNIT_NS = {
    "ns": 1,
    "u": 1_000,
    "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_PART = re.compile(r"(\d+)(ns|ms|u|µ|s|m|h|d|w)")


class DurationError(ValueError):
    """A literal that is not an InfluxQL duration."""


def parse_duration(text: str) -> int:
    """Return the duration ``text`` in nanoseconds; raise DurationError if malformed."""
    pos = 0
    total = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise DurationError(f"invalid duration {text!r} at position {pos}")
        total += int(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise DurationError("empty duration")
    return total
