"""Trigger specs, durations, cron schedules, arguments, settings and definitions.

Exact error texts follow InfluxDB 3 (reference §5.1); cron day-of-week follows
standard crontab numbering (reference §12).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from pe_engine.errors import BadRequest, InvalidName
from pe_engine.processing.triggers import (
    CRON_HELP,
    AllTablesSpec,
    CronSpec,
    EverySpec,
    RequestSpec,
    TableSpec,
    TriggerDef,
    TriggerNameError,
    TriggerSettings,
    TriggerSpec,
    TriggerSpecError,
    format_duration,
    format_duration_ns,
    from_catalog_json,
    next_fire_ns,
    next_fire_times,
    parse_duration,
    parse_duration_ns,
    parse_error_behavior,
    parse_trigger_arguments,
    parse_trigger_spec,
    validate_arguments_json,
    validate_trigger_name,
)

NS = 1_000_000_000
FORMS = (
    "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', "
    "'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'"
)


def ns_at(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * NS


def utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // NS, tz=timezone.utc)


def cron(expr: str) -> CronSpec:
    spec = parse_trigger_spec(f"cron:{expr}")
    assert isinstance(spec, CronSpec)
    return spec


# --------------------------------------------------------------------------- spec forms


@pytest.mark.parametrize(
    "text, cls, kind, plugin_type, entry_point, canonical, catalog",
    [
        ("table:cpu", TableSpec, "wal", "wal_rows", "process_writes", "table:cpu",
         '{"single_table_wal_write":{"table_name":"cpu"}}'),
        ("all_tables", AllTablesSpec, "wal", "wal_rows", "process_writes", "all_tables",
         '"all_tables_wal_write"'),
        ("cron:0 * * * * *", CronSpec, "schedule", "schedule", "process_scheduled_call",
         "cron:0 * * * * *", '{"schedule":{"schedule":"0 * * * * *"}}'),
        ("every:5m", EverySpec, "schedule", "schedule", "process_scheduled_call", "every:5m",
         '{"every":{"duration":{"secs":300,"nanos":0}}}'),
        ("request:hello", RequestSpec, "request", "request", "process_request", "request:hello",
         '{"request_path":{"path":"hello"}}'),
    ],
)
def test_spec_forms(text, cls, kind, plugin_type, entry_point, canonical, catalog):
    spec = parse_trigger_spec(text)
    assert isinstance(spec, cls) and isinstance(spec, TriggerSpec)
    assert spec.kind == kind
    assert spec.plugin_type == plugin_type
    assert spec.entry_point == entry_point
    assert spec.canonical() == canonical == str(spec)
    assert spec.catalog_json() == catalog
    assert from_catalog_json(catalog) == spec
    assert TriggerSpec.from_catalog_json(json.loads(catalog)) == spec
    assert parse_trigger_spec(spec.canonical()) == spec


def test_input_is_trimmed_and_values_stripped():
    assert parse_trigger_spec("  table:  cpu  ") == TableSpec("cpu")
    assert parse_trigger_spec("\tall_tables\n") == AllTablesSpec()
    assert parse_trigger_spec(" request: hook ") == RequestSpec("hook")
    assert parse_trigger_spec("cron:  0 * * * * *  ").expr == "0 * * * * *"
    assert parse_trigger_spec("every:  1h 30m ") == EverySpec(5400)


def test_every_stores_exact_nanoseconds_and_humantime_canonical():
    spec = parse_trigger_spec("every:1h 30m")
    assert spec == EverySpec(5400.0)
    assert spec.seconds == 5400.0 and spec.nanoseconds == 5400 * NS
    assert spec.canonical() == "every:1h 30m"
    sub = parse_trigger_spec("every:1s 500ms")
    assert sub.nanoseconds == 1_500_000_000
    assert sub.catalog_json() == '{"every":{"duration":{"secs":1,"nanos":500000000}}}'
    assert from_catalog_json(sub.catalog_json()) == sub
    assert EverySpec(nanoseconds=1_500_000_000) == sub


def test_cron_spec_keeps_user_text_and_normalizes():
    spec = cron("0 0 9 ? * MON-FRI")
    assert spec.expr == "0 0 9 ? * MON-FRI"
    assert spec.normalized == "0 0 9 * * 1-5"
    assert spec.catalog_json() == '{"schedule":{"schedule":"0 0 9 ? * MON-FRI"}}'
    assert CronSpec("0 0 9 ? * MON-FRI") == spec
    assert spec.years is None


def test_matches_table():
    assert TableSpec("cpu").matches_table("cpu")
    assert not TableSpec("cpu").matches_table("mem")
    assert AllTablesSpec().matches_table("anything")
    assert not RequestSpec("x").matches_table("x")


# --------------------------------------------------------------------------- spec errors


def spec_error(text: str) -> str:
    with pytest.raises(TriggerSpecError) as info:
        parse_trigger_spec(text)
    return str(info.value)


@pytest.mark.parametrize("text", ["table:", "table:   ", "  table:"])
def test_empty_table_name(text):
    assert spec_error(text) == "failed to parse trigger from table:: table name is empty"


@pytest.mark.parametrize("text", ["request:", "request:  "])
def test_empty_request_path(text):
    assert spec_error(text) == "failed to parse trigger from request:: request path is empty"


@pytest.mark.parametrize("text", ["foo", "all_tables:", "ALL_TABLES", "tables:cpu", "", "  x  ", "Cron:* * * * * *"])
def test_unknown_forms(text):
    assert spec_error(text) == f"failed to parse trigger from {text.strip()}: {FORMS}"


def test_error_types():
    with pytest.raises(ValueError) as info:
        parse_trigger_spec("nope")
    assert isinstance(info.value, BadRequest) and info.value.status == 400
    assert info.value.to_json() == {"error": str(info.value)}


def test_every_over_one_year():
    for text in ("every:12M", "every:366d", "every:1y 1s", "every:2years", "every:53w"):
        assert spec_error(text) == (
            f"failed to parse trigger from {text}: don't support every schedules of over 1 year"
        )
    # exactly one humantime year (365.25 d) is allowed, as in InfluxDB
    assert parse_trigger_spec("every:1y").nanoseconds == 31_557_600 * NS
    assert parse_trigger_spec("every:365d").nanoseconds == 365 * 86400 * NS
    assert parse_trigger_spec("every:11M").nanoseconds == 11 * 2_630_016 * NS


@pytest.mark.parametrize("text", ["every:0s", "every:0m 0s"])
def test_every_zero_rejected(text):
    assert "longer than zero" in spec_error(text)


def test_every_below_one_millisecond_rejected():
    assert "shorter than 1ms" in spec_error("every:500us")
    assert parse_trigger_spec("every:1ms").nanoseconds == 1_000_000


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("every:5x", "unknown time unit 'x'"),
        ("every:5", "time unit needed after 5"),
        ("every:-5s", "negative"),
        ("every:1.5h", "fractions are not allowed"),
        ("every:", "value was empty"),
        ("every:h", "expected a number"),
        ("every:5 MINUTES", "unknown time unit 'MINUTES'"),
    ],
)
def test_every_bad_durations(text, fragment):
    msg = spec_error(text)
    assert msg.startswith(f"failed to parse trigger from {text}: couldn't parse to duration: ")
    assert fragment in msg
    assert repr(text[len("every:"):].strip()) in msg  # names the offending text
    assert "30s, 5m, 1h 30m" in msg  # says what is valid


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    "text, ns",
    [
        ("17nsec", 17), ("33ns", 33), ("17nanos", 17),
        ("3usec", 3_000), ("78us", 78_000), ("163µs", 163_000),
        ("31msec", 31_000_000), ("6ms", 6_000_000), ("31millis", 31_000_000),
        ("50seconds", 50 * NS), ("1second", NS), ("300sec", 300 * NS), ("300secs", 300 * NS), ("3000s", 3000 * NS),
        ("7minutes", 420 * NS), ("1minute", 60 * NS), ("12min", 720 * NS), ("12mins", 720 * NS), ("100m", 6000 * NS),
        ("24hours", 86400 * NS), ("1hour", 3600 * NS), ("7hr", 25200 * NS), ("7hrs", 25200 * NS), ("2h", 7200 * NS),
        ("2days", 172_800 * NS), ("1day", 86400 * NS), ("365d", 31_536_000 * NS),
        ("7weeks", 4_233_600 * NS), ("1week", 604_800 * NS), ("52w", 31_449_600 * NS),
        ("1wk", 604_800 * NS), ("2wks", 1_209_600 * NS),
        ("3months", 3 * 2_630_016 * NS), ("1month", 2_630_016 * NS), ("12M", 31_560_192 * NS),
        ("7years", 7 * 31_557_600 * NS), ("1year", 31_557_600 * NS), ("17y", 536_479_200 * NS),
        ("1yr", 31_557_600 * NS), ("2yrs", 2 * 31_557_600 * NS),
    ],
)
def test_humantime_units(text, ns):
    assert parse_duration_ns(text) == ns


def test_minutes_versus_months_is_case_sensitive():
    assert parse_duration("1m") == 60
    assert parse_duration("1M") == 2_630_016
    with pytest.raises(TriggerSpecError):
        parse_duration("1H")


@pytest.mark.parametrize(
    "text, seconds",
    [("1h 30m", 5400), ("2h37min", 9420), ("1h30m", 5400), ("20 min 17 nsec ", 1200.000000017),
     ("2h 15m", 8100), ("1d 1h 1m 1s", 90061), ("  30s  ", 30), ("1 h", 3600)],
)
def test_concatenated_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


def test_parse_duration_for_cli_flags():
    assert parse_duration("30s") == 30.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration("0s") == 0.0  # zero is a valid flag value; every: rejects it itself
    with pytest.raises(TriggerSpecError, match="time unit needed"):
        parse_duration("30")
    with pytest.raises(TriggerSpecError, match="too large"):
        parse_duration("99999999999999999999999y")


@pytest.mark.parametrize(
    "ns, text",
    [
        (0, "0s"), (300 * NS, "5m"), (5400 * NS, "1h 30m"), (9420 * NS, "2h 37m"),
        (32_000_000, "32ms"), (86400 * NS, "1day"), (2 * 86400 * NS + 7200 * NS, "2days 2h"),
        (2_630_016 * NS, "1month"), (31_557_600 * NS, "1year"), (1_500_000_000, "1s 500ms"),
        (1_001_001, "1ms 1us 1ns"),
    ],
)
def test_format_duration_humantime(ns, text):
    assert format_duration_ns(ns) == text
    assert parse_duration_ns(text) == ns


def test_format_duration_seconds():
    assert format_duration(300) == "5m"
    assert format_duration(0.25) == "250ms"
    for secs in (1, 59, 61, 3599, 3601, 86399, 90061, 604800, 2_630_016, 31_557_600, 12345678):
        assert parse_duration(format_duration(secs)) == secs


# --------------------------------------------------------------------------- every alignment


@pytest.mark.parametrize("every", ["1s", "5m", "1h 30m", "7d", "250ms", "1y"])
@pytest.mark.parametrize("after", [0, 1, 1_735_689_599_999_999_999, 1_735_689_600 * NS, 1_767_000_123_456_789_012])
def test_every_next_is_epoch_multiple_strictly_after(every, after):
    spec = parse_trigger_spec(f"every:{every}")
    d = spec.nanoseconds
    nxt = next_fire_ns(spec, after)
    assert nxt % d == 0
    assert after < nxt <= after + d


def test_every_alignment_examples():
    spec = parse_trigger_spec("every:5m")
    assert next_fire_ns(spec, ns_at(2025, 1, 1, 12, 3, 20)) == ns_at(2025, 1, 1, 12, 5)
    # exactly on a boundary -> the following one (strictly after)
    assert next_fire_ns(spec, ns_at(2025, 1, 1, 12, 5)) == ns_at(2025, 1, 1, 12, 10)
    times = next_fire_times(spec, ns_at(2025, 1, 1, 12, 5), 3)
    assert times == [ns_at(2025, 1, 1, 12, 10), ns_at(2025, 1, 1, 12, 15), ns_at(2025, 1, 1, 12, 20)]


# --------------------------------------------------------------------------- cron


def fires(expr: str, start: int, n: int) -> list[datetime]:
    return [utc(t) for t in next_fire_times(cron(expr), start, n)]


def test_cron_six_fields_seconds_first():
    got = fires("*/15 * * * * *", ns_at(2025, 3, 1, 10, 0, 0), 5)
    assert [d.second for d in got] == [15, 30, 45, 0, 15]
    assert got[3] == datetime(2025, 3, 1, 10, 1, 0, tzinfo=timezone.utc)


def test_cron_next_is_strictly_after_even_within_the_same_second():
    spec = cron("0 * * * * *")
    t = ns_at(2025, 3, 1, 10, 0, 0)
    assert next_fire_ns(spec, t) == ns_at(2025, 3, 1, 10, 1, 0)
    assert next_fire_ns(spec, t - 1) == t
    assert next_fire_ns(spec, t + 999_999_999) == ns_at(2025, 3, 1, 10, 1, 0)


def test_cron_five_fields_means_seconds_zero():
    spec = cron("*/5 * * * *")
    assert spec.normalized == "0 */5 * * * *"
    got = fires("*/5 * * * *", ns_at(2025, 3, 1, 10, 2, 7), 3)
    assert [(d.minute, d.second) for d in got] == [(5, 0), (10, 0), (15, 0)]
    assert cron("30 2 * * *").normalized == "0 30 2 * * *"


def test_cron_seven_fields_with_year():
    spec = cron("0 0 12 1 1 * 2090-2092")
    assert spec.years == (2090, 2091, 2092)
    got = fires("0 0 12 1 1 * 2090-2092", ns_at(2025, 1, 1), 5)
    assert got == [datetime(y, 1, 1, 12, tzinfo=timezone.utc) for y in (2090, 2091, 2092)]
    # every second of one year: jumps straight to that year, then stops after it
    got = fires("* * * * * * 2095", ns_at(2025, 6, 1), 2)
    assert got[0] == datetime(2095, 1, 1, tzinfo=timezone.utc)
    assert next_fire_ns(cron("* * * * * * 2095"), ns_at(2095, 12, 31, 23, 59, 59)) is None
    assert cron("0 0 0 1 1 * *").years is None


def test_cron_exhausted_year_rejected_at_parse_but_loadable():
    msg = spec_error("cron:0 0 0 1 1 * 2020")
    assert "never fires again" in msg and "'0 0 0 1 1 * 2020'" in msg
    spec = parse_trigger_spec("cron:0 0 0 1 1 * 2020", allow_exhausted=True)
    assert next_fire_ns(spec, ns_at(2025, 1, 1)) is None
    assert next_fire_times(spec, ns_at(2025, 1, 1), 5) == []
    assert from_catalog_json(spec.catalog_json()) == spec  # stored triggers always load


@pytest.mark.parametrize(
    "alias, normalized, first",
    [
        ("@yearly", "0 0 0 1 1 *", datetime(2026, 1, 1)),
        ("@annually", "0 0 0 1 1 *", datetime(2026, 1, 1)),
        ("@monthly", "0 0 0 1 * *", datetime(2025, 4, 1)),
        ("@weekly", "0 0 0 * * 0", datetime(2025, 3, 16)),  # 2025-03-16 is a Sunday
        ("@daily", "0 0 0 * * *", datetime(2025, 3, 13)),
        ("@midnight", "0 0 0 * * *", datetime(2025, 3, 13)),
        ("@hourly", "0 0 * * * *", datetime(2025, 3, 12, 11)),
        ("@DAILY", "0 0 0 * * *", datetime(2025, 3, 13)),
    ],
)
def test_cron_shorthands(alias, normalized, first):
    spec = cron(alias)
    assert spec.normalized == normalized
    assert utc(next_fire_ns(spec, ns_at(2025, 3, 12, 10, 30))) == first.replace(tzinfo=timezone.utc)


def test_cron_weekdays_one_to_five_is_monday_to_friday():
    got = fires("0 0 9 * * 1-5", ns_at(2025, 3, 1), 15)  # 2025-03-01 is a Saturday
    assert {d.isoweekday() for d in got} == {1, 2, 3, 4, 5}
    assert all((d.hour, d.minute, d.second) == (9, 0, 0) for d in got)
    assert got[0] == datetime(2025, 3, 3, 9, tzinfo=timezone.utc)  # Monday
    assert fires("0 0 9 * * MON-FRI", ns_at(2025, 3, 1), 15) == got
    assert fires("0 0 9 * * mon,tue,wed,thu,fri", ns_at(2025, 3, 1), 15) == got


@pytest.mark.parametrize("dow", ["0", "7", "SUN", "sun", "Sunday"])
def test_cron_sunday_is_zero_or_seven(dow):
    got = fires(f"0 0 0 * * {dow}", ns_at(2025, 3, 1), 4)
    assert all(d.isoweekday() == 7 for d in got)
    assert cron(f"0 0 0 * * {dow}").normalized == "0 0 0 * * 0"


def test_cron_weekend_ranges_close_on_sunday():
    assert cron("0 0 0 * * 6-7").normalized == "0 0 0 * * 0,6"
    assert cron("0 0 0 * * SAT-SUN").normalized == "0 0 0 * * 0,6"
    assert cron("0 0 0 * * 0-7").normalized == "0 0 0 * * *"


def test_cron_question_mark_means_any():
    assert cron("0 0 9 ? * 1-5").normalized == cron("0 0 9 * * 1-5").normalized
    assert cron("0 0 9 1 * ?").normalized == "0 0 9 1 * *"


def test_cron_month_names_and_steps():
    assert cron("0 0 0 1 JAN,jul *").normalized == "0 0 0 1 1,7 *"
    assert cron("0 0 0 1 */3 *").normalized == "0 0 0 1 */3 *"
    assert cron("0 0 0 1 2-12/3 *").normalized == "0 0 0 1 2-11/3 *"
    assert cron("0 10/20 * * * *").normalized == "0 10-50/20 * * * *"
    got = fires("0 0 0 1 */3 *", ns_at(2025, 1, 15), 4)
    assert [d.month for d in got] == [4, 7, 10, 1]


def test_cron_day_of_month_and_day_of_week_both_must_match():
    got = fires("0 0 0 13 * FRI", ns_at(2025, 1, 1), 3)  # Friday the 13th
    assert all(d.day == 13 and d.isoweekday() == 5 for d in got)
    assert got[0] == datetime(2025, 6, 13, tzinfo=timezone.utc)


def test_cron_leap_day():
    got = fires("0 0 0 29 2 *", ns_at(2025, 1, 1), 2)
    assert [d.year for d in got] == [2028, 2032]


@pytest.mark.parametrize("expr", ["0 0 0 31 2 *", "0 0 0 30 2 *", "0 0 0 31 4,6,9,11 *", "0 0 0 29 2 * 2097-2099",
                                  "0 0 0 29 2 MON 2030-2040"])
def test_impossible_cron_rejected(expr):
    msg = spec_error(f"cron:{expr}")
    assert "can never fire" in msg and repr(expr) in msg


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("* * *", "wrong number of fields (3)"),
        ("* * * * * * * *", "wrong number of fields (8)"),
        ("", "expression is empty"),
        ("60 * * * * *", "value 60 out of range 0-59 in second field"),
        ("0 60 * * * *", "out of range 0-59 in minute field"),
        ("0 0 24 * * *", "out of range 0-23 in hour field"),
        ("0 0 0 0 * *", "out of range 1-31 in day-of-month field"),
        ("0 0 0 * 13 *", "out of range 1-12 in month field"),
        ("0 0 0 * * 8", "out of range 0-7 in day-of-week field"),
        ("0 0 0 * * * 1969", "out of range 1970-2099 in year field"),
        ("0 0 0 * * FOO", "unknown name 'FOO' in day-of-week field"),
        ("0 0 0 * FOO *", "unknown name 'FOO' in month field"),
        ("0 0 0 L * *", "L, W and # are not supported"),
        ("0 0 0 15W * *", "L, W and # are not supported"),
        ("0 0 0 * * 5L", "L, W and # are not supported"),
        ("0 0 0 * * 1#2", "L, W and # are not supported"),
        ("0 */0 * * * *", "invalid step '0'"),
        ("0 10-5 * * * *", "goes backwards"),
        ("? * * * * *", "'?' is only allowed in day-of-month and day-of-week"),
        ("0 1,,2 * * * *", "empty value"),
        ("@reboot", "unknown shorthand '@reboot'"),
        ("0 0 0 * * * 2030-2020", "goes backwards"),
    ],
)
def test_bad_cron_messages(expr, fragment):
    msg = spec_error(f"cron:{expr}")
    assert msg.startswith(f"failed to parse trigger from cron:{expr}".rstrip() + ": invalid cron expression ")
    assert fragment in msg
    assert "seconds first" in msg  # says what is valid


def test_overlong_cron_rejected():
    assert "too long" in spec_error("cron:" + "0" * 300 + " * * * * *")
    assert "too many list items" in spec_error("cron:" + ",".join(["1"] * 70) + " * * * * *")
    # the longest meaningful list (every value of a 60-value field) is fine
    assert cron(",".join(str(i) for i in range(0, 60, 2)) + " * * * * *").normalized.startswith("*/2 ")


def test_next_fire_times_monotonic():
    for text in ("cron:*/7 1,2,3,10 * * * sat-sun", "cron:0 0 9 * * 1-5", "every:1h 30m", "cron:@hourly",
                 "cron:0 0 0 29 2 *"):
        spec = parse_trigger_spec(text)
        times = next_fire_times(spec, ns_at(2025, 2, 27, 23, 59, 59), 20)
        assert len(times) == 20
        assert all(a < b for a, b in zip(times, times[1:]))
        assert times[0] > ns_at(2025, 2, 27, 23, 59, 59)


def test_cron_iterator_cached_per_spec():
    spec = cron("0 */5 * * * *")
    plan = spec._plan
    next_fire_times(spec, ns_at(2025, 1, 1), 5)
    next_fire_ns(spec, ns_at(2030, 1, 1))
    assert spec._plan is plan
    # queries do not depend on earlier ones (the cached iterator is re-based each call)
    assert next_fire_ns(spec, ns_at(2025, 1, 1)) == ns_at(2025, 1, 1, 0, 5)


def test_next_fire_rejects_non_schedules():
    with pytest.raises(TypeError):
        next_fire_ns(TableSpec("cpu"), 0)


def test_cron_help_documents_extensions_and_differences():
    assert "Sunday = 1" in CRON_HELP
    assert "5 fields" in CRON_HELP and "seconds = 0" in CRON_HELP
    assert "UTC" in CRON_HELP


# --------------------------------------------------------------------------- catalog JSON


@pytest.mark.parametrize(
    "spec",
    [TableSpec("cpu"), TableSpec("mésure"), AllTablesSpec(), CronSpec("0 0 9 * * 1-5"), CronSpec("@daily"),
     EverySpec(300), EverySpec(nanoseconds=1_250_000_000), EverySpec(31_557_600), RequestSpec("hello/world")],
)
def test_catalog_json_round_trip(spec):
    text = spec.catalog_json()
    assert " " not in text.replace(getattr(spec, "expr", ""), "")  # compact like serde_json
    assert from_catalog_json(text) == spec
    assert from_catalog_json(json.loads(text)) == spec


def test_catalog_json_is_not_ascii_escaped():
    assert TableSpec("mésure").catalog_json() == '{"single_table_wal_write":{"table_name":"mésure"}}'


@pytest.mark.parametrize(
    "bad",
    ['"nope"', "{}", '{"every":{"duration":{"secs":-1,"nanos":0}}}', '{"schedule":{"schedule":5}}',
     '{"unknown":{}}', "not json", '{"every":{"duration":{"secs":1,"nanos":1000000000}}}',
     '{"single_table_wal_write":{"table_name":""}}', '{"schedule":{"schedule":"0 0 0 31 2 *"}}'],
)
def test_catalog_json_errors(bad):
    with pytest.raises(TriggerSpecError):
        from_catalog_json(bad)


# --------------------------------------------------------------------------- arguments


def test_parse_trigger_arguments():
    assert parse_trigger_arguments(None) is None
    assert parse_trigger_arguments("") is None
    assert parse_trigger_arguments("   ") is None
    assert parse_trigger_arguments("k1=v1,k2=v2") == {"k1": "v1", "k2": "v2"}
    assert parse_trigger_arguments("expr=a=b,url=http://x/?q=1") == {"expr": "a=b", "url": "http://x/?q=1"}
    assert parse_trigger_arguments("fields=usage_user.usage_system,empty=") == {
        "fields": "usage_user.usage_system", "empty": ""}
    assert parse_trigger_arguments("a=1,a=2") == {"a": "2"}
    assert parse_trigger_arguments("a=1,") == {"a": "1"}
    assert parse_trigger_arguments("a=1, b=2") == {"a": "1", "b": "2"}


def test_parse_trigger_arguments_errors():
    with pytest.raises(TriggerSpecError, match="no `=` found in `novalue`"):
        parse_trigger_arguments("a=1,novalue")
    with pytest.raises(TriggerSpecError, match="empty key"):
        parse_trigger_arguments("=v")


def test_validate_arguments_json():
    assert validate_arguments_json(None) is None
    assert validate_arguments_json({}) is None
    assert validate_arguments_json({"k": "v", "e": "a=b,c"}) == {"k": "v", "e": "a=b,c"}
    with pytest.raises(TriggerSpecError, match="must be a string, got int"):
        validate_arguments_json({"k": 5})
    with pytest.raises(TriggerSpecError, match="JSON object"):
        validate_arguments_json(["k=v"])
    with pytest.raises(TriggerSpecError, match="JSON object"):
        validate_arguments_json("k=v")


# --------------------------------------------------------------------------- settings


def test_settings_defaults_and_influx_form():
    s = TriggerSettings.from_json(None)
    assert s == TriggerSettings()
    assert (s.run_async, s.error_behavior, s.catch_up) == (False, "log", "skip")
    assert TriggerSettings.from_json({}) == s
    assert TriggerSettings.from_json("") == s
    assert s.catalog_json() == '{"run_async":false,"error_behavior":"log"}'


def test_settings_lenient():
    s = TriggerSettings.from_json({"run_async": True, "error_behavior": "Retry", "unknown": 1})
    assert s.run_async is True and s.error_behavior == "retry"
    assert s.deadline_seconds == 30.0 and s.concurrency == 4 and s.max_retries == 5
    s = TriggerSettings.from_json('{"error_behavior": "DISABLE", "catch_up": "All", "deadline_seconds": "1m",'
                                  ' "memory_limit_bytes": 1048576, "cpu_limit_seconds": 2.5, "concurrency": null}')
    assert (s.error_behavior, s.catch_up, s.deadline_seconds) == ("disable", "all", 60.0)
    assert (s.memory_limit_bytes, s.cpu_limit_seconds, s.concurrency) == (1048576, 2.5, 4)
    assert TriggerSettings.from_json(s.to_json()) == s


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"run_async": "yes"}, "run_async must be true or false"),
        ({"error_behavior": "explode"}, "invalid error behavior explode"),
        ({"error_behavior": 1}, "invalid error behavior"),
        ({"deadline_seconds": 0}, "greater than zero"),
        ({"deadline_seconds": [1]}, "deadline_seconds must be seconds"),
        ({"deadline_seconds": "soon"}, "deadline_seconds"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"concurrency": True}, "concurrency must be an integer"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"memory_limit_bytes": "1GB"}, "memory_limit_bytes must be an integer"),
        ({"catch_up": "sometimes"}, "invalid catch_up"),
        ([1, 2], "must be a JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_settings_errors(obj, fragment):
    with pytest.raises(TriggerSpecError, match=fragment):
        TriggerSettings.from_json(obj)


def test_parse_error_behavior():
    assert parse_error_behavior("Log") == "log"
    assert parse_error_behavior(" retry ") == "retry"
    with pytest.raises(TriggerSpecError, match="expected one of log, retry, disable"):
        parse_error_behavior("ignore")


# --------------------------------------------------------------------------- names and definitions


@pytest.mark.parametrize("name", ["t", "my trigger", "cpu-downsample_1m", "é" * 256, "a.b:c"])
def test_valid_trigger_names(name):
    assert validate_trigger_name(name) == name


@pytest.mark.parametrize(
    "name, fragment",
    [("", "cannot be empty"), (None, "cannot be empty"), ("x" * 257, "too long"), ("a/b", "'/'"),
     ("a\\b", "'/'"), ("a\nb", "control character"), ("a\x00", "control character"), (" a", "whitespace")],
)
def test_invalid_trigger_names(name, fragment):
    with pytest.raises(TriggerNameError, match=fragment) as info:
        validate_trigger_name(name)
    assert isinstance(info.value, InvalidName) and isinstance(info.value, TriggerSpecError)


def make_def(**kw) -> TriggerDef:
    base = dict(
        database="sensors",
        name="every5",
        plugin_filename="sched.py",
        spec=parse_trigger_spec("every:5m"),
        arguments={"window": "5m", "expr": "a=b"},
        settings=TriggerSettings(run_async=True, error_behavior="retry", catch_up="once"),
        created_at=1_735_689_600.5,
    )
    base.update(kw)
    return TriggerDef(**base)


@pytest.mark.parametrize(
    "spec",
    ["table:cpu", "all_tables", "cron:0 0 9 * * MON-FRI", "every:1h 30m", "request:hook", "cron:*/5 * * * *"],
)
def test_trigger_def_round_trip(spec):
    d = make_def(spec=parse_trigger_spec(spec), disabled=True, disabled_reason="plugin error: boom")
    obj = d.to_json()
    assert obj["trigger_specification"] == spec
    assert TriggerDef.from_json(obj) == d
    assert TriggerDef.from_json(json.dumps(obj)) == d


def test_trigger_def_defaults_and_influx_keys():
    d = TriggerDef.from_json({
        "db": "sensors",
        "trigger_name": "t1",
        "plugin_filename": "p.py",
        "trigger_specification": {"every": {"duration": {"secs": 60, "nanos": 0}}},
        "trigger_arguments": {},
    })
    assert d.spec == EverySpec(60) and d.arguments is None and d.settings == TriggerSettings()
    assert d.disabled is False and d.disabled_reason is None and d.created_at > 0
    d2 = TriggerDef.from_json({**d.to_json(), "trigger_specification": '"all_tables_wal_write"'})
    assert d2.spec == AllTablesSpec()


def test_trigger_def_keeps_exhausted_cron_loadable():
    d = make_def(spec=parse_trigger_spec("cron:0 0 0 1 1 * 2020", allow_exhausted=True))
    assert TriggerDef.from_json(d.to_json()) == d


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"trigger_name": "a/b"}, "'/'"),
        ({"plugin_filename": ""}, "plugin_filename"),
        ({"trigger_specification": "bogus"}, "failed to parse trigger from bogus"),
        ({"trigger_arguments": {"k": 1}}, "must be a string"),
        ({"trigger_settings": {"error_behavior": "x"}}, "invalid error behavior"),
        ({"disabled": "no"}, "disabled must be true or false"),
        ({"database": ""}, "database"),
    ],
)
def test_trigger_def_errors(patch, fragment):
    obj = {**make_def().to_json(), **patch}
    with pytest.raises(TriggerSpecError, match=fragment):
        TriggerDef.from_json(obj)


def test_specs_copy_and_pickle():
    import copy
    import dataclasses
    import pickle

    d = make_def(spec=cron("0 0 9 * * 1-5"))
    assert copy.deepcopy(d) == d
    assert dataclasses.asdict(d)["spec"]["expr"] == "0 0 9 * * 1-5"
    spec = pickle.loads(pickle.dumps(d.spec))
    assert spec == d.spec
    assert next_fire_ns(spec, ns_at(2025, 3, 1)) == ns_at(2025, 3, 3, 9)
