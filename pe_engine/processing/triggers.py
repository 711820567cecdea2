"""Trigger specifications, schedules, arguments and settings.

A trigger binds a plugin to an event source. This module is the single place
that turns the user's text (CLI flags, HTTP bodies, stored rows) into typed,
validated values, so every front end accepts and rejects exactly the same
things with the same messages. Compatibility target: InfluxDB 3's
`TriggerSpecificationDefinition` (spec strings, serde catalog JSON, humantime
durations, trigger-argument syntax, trigger settings); see
`reference/influxdb3-processing-engine.md` §5 and §12.

Deliberate differences from InfluxDB 3 Core (all documented in `CRON_HELP`):

- cron day-of-week uses standard crontab numbering (0-7, 0 and 7 = Sunday,
  1-5 = Monday-Friday), as InfluxDB's docs describe; Core's `cron` crate
  numbers 1-7 with Sunday = 1.
- classic 5-field crontab expressions are accepted (seconds = 0); Core
  rejects them.
- cron expressions that can never fire, `every:` of zero or below 1ms, and
  over-long expressions are rejected when the trigger is created.
- trigger settings accept more fields (deadline, concurrency, retry cap,
  limits, catch-up) and are parsed leniently (case-insensitive values, missing
  fields take defaults).
"""
from __future__ import annotations

import bisect
import json
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, ClassVar

from croniter import CroniterBadDateError, CroniterError, croniter

from ..durations import (
    DURATION_HELP,
    MONTH_SECS,
    NS_PER_SEC,
    YEAR_SECS,
    format_duration,
    format_duration_ns,
    parse_duration,
    parse_duration_ns,
)
from ..errors import BadRequest, InvalidName, InvalidSpec

__all__ = [
    "CRON_HELP",
    "DURATION_HELP",
    "SPEC_FORMS_HELP",
    "TriggerSpecError",
    "TriggerNameError",
    "TriggerSpec",
    "TableSpec",
    "AllTablesSpec",
    "EverySpec",
    "CronSpec",
    "RequestSpec",
    "parse_trigger_spec",
    "from_catalog_json",
    "parse_duration",
    "parse_duration_ns",
    "format_duration",
    "format_duration_ns",
    "next_fire_ns",
    "next_fire_times",
    "parse_trigger_arguments",
    "validate_arguments_json",
    "parse_error_behavior",
    "parse_catch_up",
    "validate_trigger_name",
    "TriggerSettings",
    "TriggerDef",
    "ERROR_BEHAVIORS",
    "CATCH_UP_MODES",
]

_MONTH_SECS = MONTH_SECS
_YEAR_SECS = YEAR_SECS
MAX_EVERY_NS = _YEAR_SECS * NS_PER_SEC  # InfluxDB: duration > parse_duration("1 year") is rejected
MIN_EVERY_NS = 1_000_000  # 1ms: InfluxDB aligns on milliseconds, so shorter intervals are meaningless
MAX_CRON_LEN = 256
MAX_CRON_LIST_ITEMS = 64
MAX_TRIGGER_NAME_LEN = 256

SPEC_FORMS_HELP = (
    "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', "
    "'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'"
)

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
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


# ---------------------------------------------------------------------------
# Errors


TriggerSpecError = InvalidSpec  # a trigger spec, argument list or setting was rejected


class TriggerNameError(TriggerSpecError, InvalidName):
    """A trigger name was rejected."""


def _spec_error(spec: str, context: str | None) -> TriggerSpecError:
    """InfluxDB's wording: `failed to parse trigger from <spec>[: <context>]`."""
    msg = f"failed to parse trigger from {spec}"
    if context:
        msg += f": {context}"
    return TriggerSpecError(msg)


# ---------------------------------------------------------------------------
# Cron


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


# ---------------------------------------------------------------------------
# Specs


class TriggerSpec:
    """Base of the five spec forms. `kind` groups them as the dispatcher sees them."""

    kind: ClassVar[str] = ""
    plugin_type: ClassVar[str] = ""
    entry_point: ClassVar[str] = ""

    def canonical(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def catalog_obj(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def catalog_json(self) -> str:
        """InfluxDB's serde (snake_case, externally tagged) form, compact, as in system tables."""
        return json.dumps(self.catalog_obj(), separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def from_catalog_json(data: str | dict | Any) -> "TriggerSpec":
        return from_catalog_json(data)

    @property
    def is_schedule(self) -> bool:
        return self.kind == "schedule"

    def matches_table(self, table: str) -> bool:
        """Whether a WAL trigger with this spec wants rows of `table`."""
        return False

    def __str__(self) -> str:
        return self.canonical()


class _WalSpec(TriggerSpec):
    kind = "wal"
    plugin_type = "wal_rows"
    entry_point = "process_writes"


class _ScheduleSpec(TriggerSpec):
    kind = "schedule"
    plugin_type = "schedule"
    entry_point = "process_scheduled_call"


@dataclass(frozen=True)
class TableSpec(_WalSpec):
    """`table:<name>`: WAL trigger for one table (existence is not checked, as in InfluxDB)."""

    table: str

    def __post_init__(self) -> None:
        if not isinstance(self.table, str) or not self.table.strip():
            raise _spec_error(f"table:{self.table if isinstance(self.table, str) else ''}", "table name is empty")

    def canonical(self) -> str:
        return f"table:{self.table}"

    def catalog_obj(self) -> Any:
        return {"single_table_wal_write": {"table_name": self.table}}

    def matches_table(self, table: str) -> bool:
        return table == self.table


@dataclass(frozen=True)
class AllTablesSpec(_WalSpec):
    """`all_tables`: WAL trigger for every table of the database."""

    def canonical(self) -> str:
        return "all_tables"

    def catalog_obj(self) -> Any:
        return "all_tables_wal_write"

    def matches_table(self, table: str) -> bool:
        return True


@dataclass(frozen=True, init=False)
class EverySpec(_ScheduleSpec):
    """`every:<duration>`: fixed interval aligned to epoch multiples. Exact in nanoseconds."""

    seconds: float = field(compare=False)
    nanoseconds: int = 0

    def __init__(self, seconds: float | None = None, *, nanoseconds: int | None = None):
        if nanoseconds is None:
            if seconds is None:
                raise TypeError("EverySpec needs seconds or nanoseconds")
            nanoseconds = round(seconds * NS_PER_SEC)
        if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int):
            raise TypeError("nanoseconds must be an int")
        object.__setattr__(self, "nanoseconds", nanoseconds)
        object.__setattr__(self, "seconds", nanoseconds / NS_PER_SEC)
        _check_every(nanoseconds, f"every:{format_duration_ns(max(nanoseconds, 0))}")

    def canonical(self) -> str:
        return f"every:{format_duration_ns(self.nanoseconds)}"

    def catalog_obj(self) -> Any:
        secs, nanos = divmod(self.nanoseconds, NS_PER_SEC)
        return {"every": {"duration": {"secs": secs, "nanos": nanos}}}


def _check_every(ns: int, spec: str) -> None:
    if ns <= 0:
        raise _spec_error(spec, "every schedules must be longer than zero")
    if ns < MIN_EVERY_NS:
        raise _spec_error(spec, "every schedules shorter than 1ms are not supported")
    if ns > MAX_EVERY_NS:
        raise _spec_error(spec, "don't support every schedules of over 1 year")


@dataclass(frozen=True)
class CronSpec(_ScheduleSpec):
    """`cron:<expr>`: `expr` is kept as typed (canonical and catalog forms use it);
    `normalized` is the explicit seconds-first form that is actually evaluated."""

    expr: str
    normalized: str = field(default="", compare=False)
    _plan: _CronPlan | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        expr = self.expr.strip() if isinstance(self.expr, str) else ""
        try:
            plan = _compile_cron(expr)
        except _CronSyntaxError as exc:
            raise _spec_error(f"cron:{self.expr}", _cron_context(expr, str(exc))) from None
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "normalized", plan.normalized)
        object.__setattr__(self, "_plan", plan)

    @property
    def years(self) -> tuple[int, ...] | None:
        """Allowed years, or None when the year is unrestricted."""
        assert self._plan is not None
        return self._plan.years

    def canonical(self) -> str:
        return f"cron:{self.expr}"

    def catalog_obj(self) -> Any:
        return {"schedule": {"schedule": self.expr}}


@dataclass(frozen=True)
class RequestSpec(TriggerSpec):
    """`request:<path>`: served at `/api/v3/engine/<path>`."""

    kind = "request"
    plugin_type = "request"
    entry_point = "process_request"

    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip():
            raise _spec_error("request:", "request path is empty")

    def canonical(self) -> str:
        return f"request:{self.path}"

    def catalog_obj(self) -> Any:
        return {"request_path": {"path": self.path}}


def parse_trigger_spec(text: str, *, allow_exhausted: bool = False) -> TriggerSpec:
    """Parse the CLI/HTTP string form (`table:cpu`, `every:5m`, ...), as InfluxDB does:
    trimmed input, prefix match, errors worded `failed to parse trigger from <spec>: ...`.

    A cron whose year field lies wholly in the past is rejected unless
    `allow_exhausted` (used when reloading stored triggers, which must not fail).
    """
    if not isinstance(text, str):
        raise _spec_error(repr(text), SPEC_FORMS_HELP)
    spec = text.strip()
    if spec.startswith("table:"):
        name = spec[len("table:"):].strip()
        if not name:
            raise _spec_error(spec, "table name is empty")
        return TableSpec(name)
    if spec == "all_tables":
        return AllTablesSpec()
    if spec.startswith("cron:"):
        expr = spec[len("cron:"):].strip()
        try:
            plan = _compile_cron(expr)
        except _CronSyntaxError as exc:
            raise _spec_error(spec, _cron_context(expr, str(exc))) from None
        if plan.years is not None and not allow_exhausted:
            now_s = time.time_ns() // NS_PER_SEC
            if plan.next_after(now_s) is None:
                raise _spec_error(
                    spec, _cron_context(expr, "it never fires again (all of its years are in the past)")
                )
        return CronSpec(expr)
    if spec.startswith("every:"):
        dur = spec[len("every:"):].strip()
        try:
            ns = parse_duration_ns(dur)
        except TriggerSpecError as exc:
            raise _spec_error(spec, f"couldn't parse to duration: {exc}") from None
        _check_every(ns, spec)
        return EverySpec(nanoseconds=ns)
    if spec.startswith("request:"):
        path = spec[len("request:"):].strip()
        if not path:
            raise _spec_error(spec, "request path is empty")
        return RequestSpec(path)
    raise _spec_error(spec, SPEC_FORMS_HELP)


def from_catalog_json(data: str | dict | Any) -> TriggerSpec:
    """Inverse of `catalog_json()`: accepts the JSON text or the decoded value.

    Stored triggers must always load, so a cron whose years have passed is accepted.
    """
    obj = data
    if isinstance(data, (str, bytes)):
        text = data.decode() if isinstance(data, bytes) else data
        try:
            obj = json.loads(text)
        except ValueError:
            if text.strip() == "all_tables_wal_write":
                obj = "all_tables_wal_write"
            else:
                raise TriggerSpecError(f"invalid trigger specification JSON: {text[:80]!r}") from None

    def bad(why: str) -> TriggerSpecError:
        return TriggerSpecError(f"invalid trigger specification {json.dumps(obj)[:120]}: {why}")

    if obj == "all_tables_wal_write":
        return AllTablesSpec()
    if not isinstance(obj, dict) or len(obj) != 1:
        raise bad("expected \"all_tables_wal_write\" or an object with one of the keys "
                  "single_table_wal_write, schedule, every, request_path")
    (key, body), = obj.items()
    if key == "all_tables_wal_write" and body in (None, {}):
        return AllTablesSpec()
    if not isinstance(body, dict):
        raise bad(f"{key} must hold an object")
    if key == "single_table_wal_write":
        table = body.get("table_name")
        if not isinstance(table, str):
            raise bad("table_name must be a string")
        return TableSpec(table)
    if key == "schedule":
        expr = body.get("schedule")
        if not isinstance(expr, str):
            raise bad("schedule must be a string")
        return CronSpec(expr)
    if key == "every":
        dur = body.get("duration")
        if not isinstance(dur, dict):
            raise bad("duration must be an object {secs, nanos}")
        secs, nanos = dur.get("secs"), dur.get("nanos", 0)
        for v in (secs, nanos):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise bad("duration secs and nanos must be non-negative integers")
        if nanos >= NS_PER_SEC:
            raise bad("duration nanos must be below 1000000000")
        return EverySpec(nanoseconds=secs * NS_PER_SEC + nanos)
    if key == "request_path":
        path = body.get("path")
        if not isinstance(path, str):
            raise bad("path must be a string")
        return RequestSpec(path)
    raise bad(f"unknown variant {key!r}")


# ---------------------------------------------------------------------------
# Schedules


def next_fire_ns(spec: TriggerSpec, after_ns: int) -> int | None:
    """Next fire time (ns since the Unix epoch, UTC) strictly after `after_ns`.

    every: the next multiple of the interval since the epoch, so schedules do not
    drift and agree with InfluxDB's `(floor(now/d)+1)*d`. cron: the next matching
    whole second. Returns None only for a cron whose year field is exhausted.
    """
    if isinstance(spec, EverySpec):
        d = spec.nanoseconds
        return (after_ns // d + 1) * d
    if isinstance(spec, CronSpec):
        assert spec._plan is not None
        # Fire times are whole seconds, so "> after_ns" == "> floor(after_ns / 1e9) seconds".
        nxt = spec._plan.next_after(after_ns // NS_PER_SEC)
        return None if nxt is None else nxt * NS_PER_SEC
    raise TypeError(f"{spec.canonical()} is not a schedule trigger")


def next_fire_times(spec: TriggerSpec, after_ns: int, n: int) -> list[int]:
    """The next `n` fire times, ascending (fewer if a year-limited cron runs out)."""
    out: list[int] = []
    cur = after_ns
    for _ in range(max(0, n)):
        nxt = next_fire_ns(spec, cur)
        if nxt is None:
            break
        out.append(nxt)
        cur = nxt
    return out


# ---------------------------------------------------------------------------
# Arguments


def parse_trigger_arguments(text: str | None) -> dict[str, str] | None:
    """CLI form `k1=v1,k2=v2`: split on commas, each item on its FIRST `=` (values may
    contain `=`, never `,`). Empty input -> None, as plugins see `args=None`."""
    if text is None or not text.strip():
        return None
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue  # tolerate a trailing or doubled comma
        key, eq, value = item.partition("=")
        if not eq:
            raise TriggerSpecError(
                f"invalid KEY=value: no `=` found in `{item}` "
                f"(trigger arguments are comma-separated key=value pairs, e.g. k1=v1,k2=v2)"
            )
        key = key.strip()
        if not key:
            raise TriggerSpecError(f"invalid KEY=value: empty key in `{item}`")
        out[key] = value
    return out or None


def validate_arguments_json(obj: Any) -> dict[str, str] | None:
    """HTTP form `{"k": "v"}`: an object of string values. None or {} -> None."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise TriggerSpecError(
            f"trigger_arguments must be a JSON object of string values, got {type(obj).__name__}"
        )
    out: dict[str, str] = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not k:
            raise TriggerSpecError(f"trigger_arguments keys must be non-empty strings, got {k!r}")
        if not isinstance(v, str):
            raise TriggerSpecError(
                f"trigger_arguments[{k!r}] must be a string, got {type(v).__name__} {json.dumps(v)[:40]}"
            )
        out[k] = v
    return out or None


# ---------------------------------------------------------------------------
# Names


def validate_trigger_name(name: Any) -> str:
    """Names appear in URLs, logs and console rows: non-empty, <= 256 chars,
    no control characters, no slashes, no surrounding whitespace."""
    if not isinstance(name, str) or not name:
        raise TriggerNameError("trigger name cannot be empty")
    if len(name) > MAX_TRIGGER_NAME_LEN:
        raise TriggerNameError(
            f"trigger name is too long ({len(name)} characters; at most {MAX_TRIGGER_NAME_LEN})"
        )
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise TriggerNameError(f"trigger name {name!r} contains a control character (U+{ord(ch):04X})")
        if ch in "/\\":
            raise TriggerNameError(f"trigger name {name!r} cannot contain '/' or '\\'")
    if name != name.strip():
        raise TriggerNameError(f"trigger name {name!r} cannot start or end with whitespace")
    return name


# ---------------------------------------------------------------------------
# Settings

ERROR_BEHAVIORS = ("log", "retry", "disable")
CATCH_UP_MODES = ("skip", "once", "all")


def parse_error_behavior(text: Any) -> str:
    """`log|retry|disable`, case-insensitive (the InfluxDB guide shows `"Log"`)."""
    if isinstance(text, str) and text.strip().lower() in ERROR_BEHAVIORS:
        return text.strip().lower()
    raise TriggerSpecError(f"invalid error behavior {text}: expected one of log, retry, disable")


def parse_catch_up(text: Any) -> str:
    """`skip` (InfluxDB: missed ticks are dropped), `once` or `all` after a restart."""
    if isinstance(text, str) and text.strip().lower() in CATCH_UP_MODES:
        return text.strip().lower()
    raise TriggerSpecError(f"invalid catch_up {text}: expected one of skip, once, all")


def _bool(key: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise TriggerSpecError(f"trigger_settings.{key} must be true or false, got {json.dumps(v)}")


def _int(key: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise TriggerSpecError(f"trigger_settings.{key} must be an integer >= {minimum}, got {json.dumps(v)}")
    return v


def _seconds(key: str, v: Any) -> float:
    """A positive number of seconds, or a humantime string such as "30s"."""
    if isinstance(v, str):
        try:
            s = parse_duration(v)
        except TriggerSpecError as exc:
            raise TriggerSpecError(f"trigger_settings.{key}: {exc}") from None
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        s = float(v)
    else:
        raise TriggerSpecError(f"trigger_settings.{key} must be seconds (number) or a duration like \"30s\", "
                               f"got {json.dumps(v)}")
    if not s > 0 or s == float("inf"):
        raise TriggerSpecError(f"trigger_settings.{key} must be greater than zero, got {json.dumps(v)}")
    return s


@dataclass
class TriggerSettings:
    """How a trigger runs. The first two fields are InfluxDB's; the rest are pe
    extensions whose defaults keep InfluxDB's behaviour or are strictly safer."""

    run_async: bool = False
    error_behavior: str = "log"
    deadline_seconds: float = 30.0
    concurrency: int = 4
    max_retries: int = 5
    memory_limit_bytes: int | None = None
    cpu_limit_seconds: float | None = None
    catch_up: str = "skip"

    def __post_init__(self) -> None:
        self.run_async = _bool("run_async", self.run_async)
        self.error_behavior = parse_error_behavior(self.error_behavior)
        self.deadline_seconds = _seconds("deadline_seconds", self.deadline_seconds)
        self.concurrency = _int("concurrency", self.concurrency, 1)
        self.max_retries = _int("max_retries", self.max_retries, 0)
        if self.memory_limit_bytes is not None:
            self.memory_limit_bytes = _int("memory_limit_bytes", self.memory_limit_bytes, 1)
        if self.cpu_limit_seconds is not None:
            self.cpu_limit_seconds = _seconds("cpu_limit_seconds", self.cpu_limit_seconds)
        self.catch_up = parse_catch_up(self.catch_up)

    @classmethod
    def from_json(cls, obj: Any) -> "TriggerSettings":
        """Lenient (§12): missing fields take defaults, unknown keys are ignored,
        values are case-insensitive; wrong types are a clear error. Accepts a dict,
        its JSON text, or None."""
        if obj is None:
            return cls()
        if isinstance(obj, str):
            if not obj.strip():
                return cls()
            try:
                obj = json.loads(obj)
            except ValueError:
                raise TriggerSpecError(f"trigger_settings is not valid JSON: {obj[:80]!r}") from None
        if not isinstance(obj, dict):
            raise TriggerSpecError(f"trigger_settings must be a JSON object, got {type(obj).__name__}")
        optional = {"memory_limit_bytes", "cpu_limit_seconds"}
        kwargs = {
            k: v for k, v in obj.items()
            if k in cls.__dataclass_fields__ and (v is not None or k in optional)  # null = default
        }
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_async": self.run_async,
            "error_behavior": self.error_behavior,
            "deadline_seconds": self.deadline_seconds,
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
            "memory_limit_bytes": self.memory_limit_bytes,
            "cpu_limit_seconds": self.cpu_limit_seconds,
            "catch_up": self.catch_up,
        }

    def catalog_json(self) -> str:
        """InfluxDB's `trigger_settings` form (system tables, HTTP listings)."""
        return json.dumps(
            {"run_async": self.run_async, "error_behavior": self.error_behavior}, separators=(",", ":")
        )


# ---------------------------------------------------------------------------
# Trigger definitions


def _spec_from_any(v: Any) -> TriggerSpec:
    """Stored/HTTP spec: the string form, or InfluxDB's catalog form (object or JSON text)."""
    if isinstance(v, TriggerSpec):
        return v
    if isinstance(v, str):
        s = v.strip()
        if s.startswith(("{", '"')) or s == "all_tables_wal_write":
            return from_catalog_json(s)
        return parse_trigger_spec(s, allow_exhausted=True)
    if isinstance(v, dict):
        return from_catalog_json(v)
    raise TriggerSpecError(f"trigger_specification must be a string, got {type(v).__name__}")


@dataclass
class TriggerDef:
    """A trigger as the store keeps it and the HTTP API shows it."""

    database: str
    name: str
    plugin_filename: str
    spec: TriggerSpec
    arguments: dict[str, str] | None = None
    settings: TriggerSettings = field(default_factory=TriggerSettings)
    disabled: bool = False
    disabled_reason: str | None = None
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        validate_trigger_name(self.name)
        if not isinstance(self.plugin_filename, str) or not self.plugin_filename.strip():
            raise TriggerSpecError("plugin_filename cannot be empty")
        if not isinstance(self.spec, TriggerSpec):
            raise TriggerSpecError("spec must be a parsed TriggerSpec")
        self.arguments = validate_arguments_json(self.arguments)

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "trigger_name": self.name,
            "plugin_filename": self.plugin_filename,
            "trigger_specification": self.spec.canonical(),
            "trigger_arguments": dict(self.arguments) if self.arguments else None,
            "trigger_settings": self.settings.to_json(),
            "disabled": self.disabled,
            "disabled_reason": self.disabled_reason,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, obj: Any) -> "TriggerDef":
        """Inverse of `to_json`; also takes InfluxDB-style keys (`db`, catalog-form spec)."""
        if isinstance(obj, str):
            obj = json.loads(obj)
        if not isinstance(obj, dict):
            raise TriggerSpecError(f"trigger definition must be a JSON object, got {type(obj).__name__}")
        database = obj.get("database", obj.get("db"))
        if not isinstance(database, str) or not database:
            raise TriggerSpecError("trigger definition needs a database name")
        name = obj.get("trigger_name", obj.get("name"))
        spec_v = obj.get("trigger_specification", obj.get("spec"))
        if spec_v is None:
            raise TriggerSpecError("trigger definition needs a trigger_specification")
        disabled = obj.get("disabled", False)
        if not isinstance(disabled, bool):
            raise TriggerSpecError(f"disabled must be true or false, got {json.dumps(disabled)}")
        reason = obj.get("disabled_reason")
        if reason is not None and not isinstance(reason, str):
            raise TriggerSpecError("disabled_reason must be a string or null")
        created = obj.get("created_at")
        if created is None:
            created = time.time()
        elif isinstance(created, bool) or not isinstance(created, (int, float)):
            raise TriggerSpecError("created_at must be a number (seconds since the epoch)")
        return cls(
            database=database,
            name=name,
            plugin_filename=obj.get("plugin_filename", ""),
            spec=_spec_from_any(spec_v),
            arguments=validate_arguments_json(obj.get("trigger_arguments", obj.get("arguments"))),
            settings=TriggerSettings.from_json(obj.get("trigger_settings", obj.get("settings"))),
            disabled=disabled,
            disabled_reason=reason,
            created_at=float(created),
        )
