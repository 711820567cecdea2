"""Cron expressions: parse, validate and find the next fire second (UTC).

Standard crontab day-of-week numbering (0 and 7 = Sunday), 5/6/7 fields,
shorthands; evaluation is delegated to croniter with day-of-month AND
day-of-week, like InfluxDB's cron crate. See CRON_HELP for what differs.
"""
from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from croniter import CroniterBadDateError, CroniterError, croniter

__all__ = ["CRON_HELP", "MAX_CRON_LEN", "MAX_CRON_LIST_ITEMS", "CronPlan", "CronSyntaxError", "compile_cron", "cron_context"]

MAX_CRON_LEN = 256
MAX_CRON_LIST_ITEMS = 64

CRON_HELP = """\
cron:<EXPRESSION> -- evaluated in UTC.

  6 fields:  second minute hour day-of-month month day-of-week
  7 fields:  second minute hour day-of-month month day-of-week year
  5 fields:  minute hour day-of-month month day-of-week   (classic crontab; seconds = 0)
  shorthands: @yearly @annually @monthly @weekly @daily @midnight @hourly

Ranges: second 0-59, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
day-of-week 0-7 or SUN-SAT (0 and 7 are Sunday; 1-5 is Monday-Friday), year 1970-2099.
Each field takes *, a value, a range a-b, a list a,b,c, and steps */n, a-b/n, a/n.
'?' in day-of-month or day-of-week means the same as '*'. L, W and # are not supported.
When both day-of-month and day-of-week are restricted, BOTH must match (as in InfluxDB 3).

Compatibility notes:
  - InfluxDB 3 Core's cron parser numbers day-of-week 1-7 with Sunday = 1, so there
    '1-5' means Sunday-Thursday. pe follows standard crontab numbering, as the InfluxDB
    docs do. Use names (MON-FRI) to mean the same thing on both.
  - The 5-field form is a pe extension; InfluxDB 3 Core requires 6 or 7 fields.
  - An expression that can never fire (e.g. '0 0 0 31 2 *') is rejected.
Examples: '0 */5 * * * *' every 5 minutes; '0 0 9 * * MON-FRI' 09:00 on weekdays;
'0 30 2 1 * * 2030' 02:30 on the 1st of each month in 2030; '*/5 * * * *' every 5 minutes.
"""

_UTC = timezone.utc

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)


_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_MONTH_FULL = ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST",
               "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"]
_DOW_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_DOW_FULL = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"]

_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field(
    "month", 1, 12,
    {**{n: i + 1 for i, n in enumerate(_MONTH_NAMES)}, **{n: i + 1 for i, n in enumerate(_MONTH_FULL)}},
)
_DOW = _Field(
    "day-of-week", 0, 7,
    {**{n: i for i, n in enumerate(_DOW_NAMES)}, **{n: i for i, n in enumerate(_DOW_FULL)}},
)
_YEAR = _Field("year", 1970, 2099)
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW, _YEAR)

_ALIASES = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}

_VALUE_RE = re.compile(r"^[0-9]+$|^[A-Za-z]+$")


class _CronSyntaxError(ValueError):
    pass


def _cron_value(f: _Field, tok: str) -> int:
    if not tok:
        raise _CronSyntaxError(f"empty value in {f.name} field")
    up = tok.upper()
    if f in (_DOM, _DOW) and up not in f.names and re.search(r"[LW#]", up):
        raise _CronSyntaxError(f"{tok!r} in {f.name} field: L, W and # are not supported")
    if not _VALUE_RE.match(tok):
        raise _CronSyntaxError(f"invalid value {tok!r} in {f.name} field")
    if tok.isdigit():
        if len(tok) > 4:
            raise _CronSyntaxError(f"value {tok} out of range {f.low}-{f.high} in {f.name} field")
        v = int(tok)
    else:
        if up not in f.names:
            hint = " (use 1-12 or JAN-DEC)" if f is _MONTH else " (use 0-7 or SUN-SAT)" if f is _DOW else ""
            raise _CronSyntaxError(f"unknown name {tok!r} in {f.name} field{hint}")
        v = f.names[up]
    if not f.low <= v <= f.high:
        raise _CronSyntaxError(f"value {v} out of range {f.low}-{f.high} in {f.name} field")
    return v


def _expand_field(f: _Field, text: str) -> frozenset[int]:
    """Expand one field to the set of values it allows (day-of-week 7 -> 0)."""
    items = text.split(",")
    if len(items) > MAX_CRON_LIST_ITEMS:
        raise _CronSyntaxError(f"too many list items in {f.name} field (at most {MAX_CRON_LIST_ITEMS})")
    out: set[int] = set()
    for item in items:
        if item == "?":
            if f not in (_DOM, _DOW):
                raise _CronSyntaxError(f"'?' is only allowed in day-of-month and day-of-week, not {f.name}")
            item = "*"
        base, slash, step_txt = item.partition("/")
        step = 1
        if slash:
            if not step_txt.isdigit() or len(step_txt) > 4 or int(step_txt) == 0:
                raise _CronSyntaxError(f"invalid step {step_txt!r} in {f.name} field (must be a positive integer)")
            step = int(step_txt)
        if base == "*":
            lo, hi = f.low, (6 if f is _DOW else f.high)
        elif "-" in base:
            a, _, b = base.partition("-")
            lo, hi = _cron_value(f, a), _cron_value(f, b)
            if f is _DOW and hi == 0 and lo > 0:
                hi = 7  # SAT-SUN, 5-0: Sunday closes the week
            if lo > hi:
                raise _CronSyntaxError(f"range {base!r} in {f.name} field goes backwards")
        else:
            lo = _cron_value(f, base)
            hi = (7 if f is _DOW else f.high) if slash else lo
        out.update(range(lo, hi + 1, step))
    if f is _DOW and 7 in out:
        out.discard(7)
        out.add(0)
    return frozenset(out)


def _compact(values: frozenset[int], low: int, high: int) -> str:
    """Shortest unambiguous field text for a value set (`*`, `*/5`, `1-5`, `0,30`)."""
    vals = sorted(values)
    if vals == list(range(low, high + 1)):
        return "*"
    if len(vals) >= 2:
        step = vals[1] - vals[0]
        if step > 1 and vals == list(range(vals[0], vals[-1] + 1, step)):
            if len(vals) >= 3:
                if vals[0] == low and vals[-1] + step > high:
                    return f"*/{step}"
                return f"{vals[0]}-{vals[-1]}/{step}"
    parts: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        if j - i >= 1:
            parts.append(f"{vals[i]}-{vals[j]}")
        else:
            parts.append(str(vals[i]))
        i = j + 1
    return ",".join(parts)


class _CronPlan:
    """A parsed cron expression plus its cached croniter (construction costs ~4 get_next)."""

    def __init__(self, expr: str, sets: list[frozenset[int]], years: tuple[int, ...] | None):
        self.expr = expr
        self.sets = sets
        self.years = years
        fields6 = [
            _compact(sets[0], 0, 59), _compact(sets[1], 0, 59), _compact(sets[2], 0, 23),
            _compact(sets[3], 1, 31), _compact(sets[4], 1, 12), _compact(sets[5], 0, 6),
        ]
        self.croniter_expr = " ".join(fields6)
        self.normalized = self.croniter_expr
        if years is not None:
            self.normalized += " " + _compact(frozenset(years), _YEAR.low, _YEAR.high)
        self._lock = threading.Lock()
        # day_or=False: day-of-month AND day-of-week, like InfluxDB's cron crate.
        self._iter = croniter(
            self.croniter_expr, _EPOCH, ret_type=datetime, day_or=False, second_at_beginning=True
        )

    # Immutable apart from the locked iterator: copies share it; pickles recompile.
    def __copy__(self) -> "_CronPlan":
        return self

    def __deepcopy__(self, memo: dict) -> "_CronPlan":
        return self

    def __reduce__(self) -> tuple:
        return (_compile_cron, (self.expr,))

    def next_after(self, after_s: int) -> int | None:
        """First fire time (whole UTC seconds) strictly after `after_s`; None if none is left."""
        start = after_s
        for _ in range(_YEAR.high - _YEAR.low + 2):  # each loop moves at least one year on
            try:
                with self._lock:
                    dt = self._iter.get_next(start_time=_EPOCH + timedelta(seconds=start))
            except (CroniterBadDateError, OverflowError, ValueError):
                return None
            if self.years is None or dt.year in self.years:
                return int((dt - _EPOCH).total_seconds())
            i = bisect.bisect_right(self.years, dt.year)
            if i >= len(self.years):
                return None
            start = int((datetime(self.years[i], 1, 1, tzinfo=_UTC) - _EPOCH).total_seconds()) - 1
        return None


@lru_cache(maxsize=512)
def _compile_cron(expr: str) -> _CronPlan:
    """Parse and validate; raises _CronSyntaxError with a user-facing reason."""
    if len(expr) > MAX_CRON_LEN:
        raise _CronSyntaxError(f"expression is too long ({len(expr)} characters; at most {MAX_CRON_LEN})")
    text = expr.strip()
    if not text:
        raise _CronSyntaxError("expression is empty")
    if text.startswith("@"):
        alias = _ALIASES.get(text.lower())
        if alias is None:
            raise _CronSyntaxError(
                f"unknown shorthand {text!r} (use one of {', '.join(sorted(_ALIASES))})"
            )
        text = alias
    parts = text.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) not in (6, 7):
        raise _CronSyntaxError(f"wrong number of fields ({len(parts)})")
    sets = [_expand_field(f, p) for f, p in zip(_FIELDS, parts)]
    years: tuple[int, ...] | None = None
    if len(parts) == 7 and parts[6] not in ("*", "?"):
        years = tuple(sorted(sets[6]))
    try:
        plan = _CronPlan(expr, sets[:6], years)
    except CroniterError as exc:  # should not happen: we feed croniter plain numeric fields
        raise _CronSyntaxError(str(exc)) from None
    first_year = years[0] if years else _YEAR.low
    start = int((datetime(first_year, 1, 1, tzinfo=_UTC) - _EPOCH).total_seconds()) - 1
    if plan.next_after(start) is None:
        raise _CronSyntaxError("it can never fire (no date matches all of its fields)")
    return plan


def _cron_context(expr: str, reason: str) -> str:
    shown = expr if len(expr) <= 80 else expr[:80] + "..."
    return (
        f"invalid cron expression {shown!r}: {reason}; expected 'sec min hour day-of-month month "
        f"day-of-week [year]' (seconds first), a 5-field crontab line, or @yearly/@monthly/@weekly/"
        f"@daily/@hourly; day-of-week 0-7 or SUN-SAT with 0 and 7 = Sunday"
    )


# Public names for the spec parser (the underscored ones stay for old importers).
CronPlan = _CronPlan
CronSyntaxError = _CronSyntaxError
compile_cron = _compile_cron
cron_context = _cron_context
