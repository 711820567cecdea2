"""The five trigger spec forms: their text, InfluxDB's catalog JSON, and their parsers.

Compatibility target: InfluxDB 3's `TriggerSpecificationDefinition` (spec
strings, serde catalog JSON); see `reference/influxdb3-processing-engine.md` §5.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...durations import NS_PER_SEC, YEAR_SECS, format_duration_ns, parse_duration_ns
from ..enums import PluginType, TriggerKind
from .cron import CronPlan as _CronPlan
from .cron import CronSyntaxError as _CronSyntaxError
from .cron import compile_cron as _compile_cron
from .cron import cron_context as _cron_context
from .errors import TriggerSpecError, spec_error

__all__ = [
    "SPEC_FORMS_HELP", "MAX_EVERY_NS", "MIN_EVERY_NS", "TriggerSpec", "TableSpec", "AllTablesSpec",
    "EverySpec", "CronSpec", "RequestSpec", "parse_trigger_spec", "from_catalog_json",
]

MAX_EVERY_NS = YEAR_SECS * NS_PER_SEC  # InfluxDB: duration > parse_duration("1 year") is rejected
MIN_EVERY_NS = 1_000_000  # 1ms: InfluxDB aligns on milliseconds, so shorter intervals are meaningless

SPEC_FORMS_HELP = (
    "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', "
    "'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'"
)


class TriggerSpec:
    """Base of the five spec forms. `kind` groups them as the runtime sees them."""

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
        return self.kind == TriggerKind.SCHEDULE

    def matches_table(self, table: str) -> bool:
        """Whether a WAL trigger with this spec wants rows of `table`."""
        return False

    def __str__(self) -> str:
        return self.canonical()


class _WalSpec(TriggerSpec):
    kind = TriggerKind.WAL
    plugin_type = PluginType.WAL_ROWS
    entry_point = "process_writes"


class _ScheduleSpec(TriggerSpec):
    kind = TriggerKind.SCHEDULE
    plugin_type = PluginType.SCHEDULE
    entry_point = "process_scheduled_call"


@dataclass(frozen=True)
class TableSpec(_WalSpec):
    """`table:<name>`: WAL trigger for one table (existence is not checked, as in InfluxDB)."""

    table: str

    def __post_init__(self) -> None:
        if not isinstance(self.table, str) or not self.table.strip():
            raise spec_error(f"table:{self.table if isinstance(self.table, str) else ''}", "table name is empty")

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
        raise spec_error(spec, "every schedules must be longer than zero")
    if ns < MIN_EVERY_NS:
        raise spec_error(spec, "every schedules shorter than 1ms are not supported")
    if ns > MAX_EVERY_NS:
        raise spec_error(spec, "don't support every schedules of over 1 year")


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
            raise spec_error(f"cron:{self.expr}", _cron_context(expr, str(exc))) from None
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

    kind = TriggerKind.REQUEST
    plugin_type = PluginType.REQUEST
    entry_point = "process_request"

    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip():
            raise spec_error("request:", "request path is empty")

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
        raise spec_error(repr(text), SPEC_FORMS_HELP)
    spec = text.strip()
    if spec.startswith("table:"):
        name = spec[len("table:"):].strip()
        if not name:
            raise spec_error(spec, "table name is empty")
        return TableSpec(name)
    if spec == "all_tables":
        return AllTablesSpec()
    if spec.startswith("cron:"):
        expr = spec[len("cron:"):].strip()
        try:
            plan = _compile_cron(expr)
        except _CronSyntaxError as exc:
            raise spec_error(spec, _cron_context(expr, str(exc))) from None
        if plan.years is not None and not allow_exhausted:
            now_s = time.time_ns() // NS_PER_SEC
            if plan.next_after(now_s) is None:
                raise spec_error(
                    spec, _cron_context(expr, "it never fires again (all of its years are in the past)")
                )
        return CronSpec(expr)
    if spec.startswith("every:"):
        dur = spec[len("every:"):].strip()
        try:
            ns = parse_duration_ns(dur)
        except TriggerSpecError as exc:
            raise spec_error(spec, f"couldn't parse to duration: {exc}") from None
        _check_every(ns, spec)
        return EverySpec(nanoseconds=ns)
    if spec.startswith("request:"):
        path = spec[len("request:"):].strip()
        if not path:
            raise spec_error(spec, "request path is empty")
        return RequestSpec(path)
    raise spec_error(spec, SPEC_FORMS_HELP)


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
        assert isinstance(secs, int) and isinstance(nanos, int)
        if nanos >= NS_PER_SEC:
            raise bad("duration nanos must be below 1000000000")
        return EverySpec(nanoseconds=secs * NS_PER_SEC + nanos)
    if key == "request_path":
        path = body.get("path")
        if not isinstance(path, str):
            raise bad("path must be a string")
        return RequestSpec(path)
    raise bad(f"unknown variant {key!r}")
