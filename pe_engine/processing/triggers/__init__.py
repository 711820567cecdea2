"""Trigger specifications, schedules, arguments and settings.

A trigger binds a plugin to an event source. This package is the single place
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

from ...durations import DURATION_HELP, format_duration, format_duration_ns, parse_duration, parse_duration_ns
from .arguments import parse_trigger_arguments, validate_arguments_json
from .cron import CRON_HELP
from .definition import TriggerDef
from .errors import TriggerNameError, TriggerSpecError
from .names import validate_trigger_name
from .schedule import next_fire_ns, next_fire_times
from .settings import CATCH_UP_MODES, ERROR_BEHAVIORS, TriggerSettings, parse_catch_up, parse_error_behavior
from .specs import (
    SPEC_FORMS_HELP,
    AllTablesSpec,
    CronSpec,
    EverySpec,
    RequestSpec,
    TableSpec,
    TriggerSpec,
    from_catalog_json,
    parse_trigger_spec,
)

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
