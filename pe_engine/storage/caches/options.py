"""Validation of cache settings as clients send them (JSON or CLI text); BadRequest says why."""
from __future__ import annotations

from typing import Any

from ...durations import parse_duration_ns
from ...errors import BadRequest

NS = 1_000_000_000


def names_list(raw: Any, what: str) -> list[str] | None:
    """A column list from JSON (list of names) or text (`a,b`); None when not given."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [p.strip() for p in raw.split(",") if p.strip()]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) and x for x in raw):
        raise BadRequest(f"{what} must be a list of column names")
    if len(set(raw)) != len(raw):
        raise BadRequest(f"{what} lists a column more than once")
    return list(raw)


def positive_int(raw: Any, what: str, default: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise BadRequest(f"{what} must be a whole number greater than 0, got {raw!r}")
    return raw


def seconds(raw: Any, what: str, default: int) -> int:
    """Whole seconds from a number, digits, or a humantime duration such as `4h` or `4 hours`."""
    if raw is None:
        return default
    if isinstance(raw, str) and not raw.strip().isdigit():
        try:
            ns = parse_duration_ns(raw)
        except ValueError as e:
            raise BadRequest(f"invalid {what}: {e}") from None
        if ns < NS:
            raise BadRequest(f"{what} must be at least 1 second, got {raw!r}")
        return ns // NS
    return positive_int(raw, what, default)
