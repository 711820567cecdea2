"""Dry runs of a plugin (`pe test wal_plugin|schedule_plugin`, `/api/v3/plugin_test/*`).

Real queries run; writes are captured and validated against a throw-away copy
of the catalog instead of being written (reference §6.1 notes). The call goes
through the same executor as a trigger's, in capture mode, under the dry-run
deadline; nothing is recorded in the activation history.
"""
from __future__ import annotations

import copy
import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from ..lineprotocol.parse import parse_lp
from ..storage.batch import to_record_batch
from ..storage.catalog import Catalog, DatabaseDef, WritePlan
from .enums import ActivationStatus
from .executor import ActivationRequest, Executor, Limits
from .invocations import Invocation, Job, ScheduleCall, WalCall
from .plugins.model import LoadedPlugin, PluginError
from .ports import CatalogLookup
from .py_api.cache import TriggerCache
from .triggers.errors import TriggerSpecError
from .triggers.schedule import next_fire_ns
from .triggers.specs import parse_trigger_spec

__all__ = ["TEST_DEADLINE", "DryRunContext", "SupportsDryRuns", "run_wal_test", "run_schedule_test"]

TEST_DEADLINE = 30.0


@dataclass(frozen=True, slots=True)
class DryRunContext:
    """What a dry run needs: the executor, a plugin loader, the catalog and the test caches."""

    executor: Executor
    load: Callable[[str], LoadedPlugin]  # read the plugin now (registry.load)
    catalog: CatalogLookup
    test_cache: Callable[[str | None], TriggerCache]


class SupportsDryRuns(Protocol):
    """The processing engine, as the front ends hand it in."""

    @property
    def dry_runs(self) -> DryRunContext: ...


def _context(target: DryRunContext | SupportsDryRuns) -> DryRunContext:
    return target if isinstance(target, DryRunContext) else target.dry_runs


def _validate_writes(catalog: CatalogLookup, writes: dict[str, list[str]], errors: list[str]) -> None:
    for db, lines in writes.items():
        base = catalog.databases.get(db)
        probe = copy.deepcopy(base) if base is not None else DatabaseDef(db)
        parsed = parse_lp("\n".join(lines), "ns", time.time_ns())
        for e in parsed.errors:
            errors.append(f"line protocol error writing to {db}, line {e.line_number}: {e.message}")
        plan = catalog.plan_write(probe, parsed.tables)
        for e in plan.errors:
            errors.append(f"schema error writing to {db}, line {e.line_number}: {e.message}")


def _deadline_message(deadline: float) -> str:
    return f"plugin did not finish within {deadline:g}s"


async def _call(
    ctx: DryRunContext, loaded: LoadedPlugin, filename: str, database: str, invocation: Invocation,
    cache: TriggerCache, arguments: dict[str, str] | None, log_lines: list[str], errors: list[str],
) -> dict[str, list[str]]:
    """Run the plugin through the executor; its log lines and error land in the lists given."""
    deadline = TEST_DEADLINE

    def log(level: str, text: str) -> None:
        log_lines.append(f"{level}: {text}")

    request = ActivationRequest(
        database=database,
        trigger=f"test:{filename}",
        plugin=filename,
        arguments=arguments or None,
        job=Job.of(invocation),
        limits=Limits(deadline=deadline),
        cache=cache,
        log=log,
        capture_writes=True,
        loaded=loaded,
        record_id=0,
        notes_only_when_called=True,
    )
    outcome = await ctx.executor.run(request)
    rec = outcome.record
    if rec.status == ActivationStatus.TIMEOUT:
        errors.append(_deadline_message(deadline))
    elif rec.status != ActivationStatus.OK:
        errors.append(rec.error or rec.status)
    return outcome.captured_writes or {}


async def run_wal_test(
    target: DryRunContext | SupportsDryRuns,
    filename: str,
    database: str,
    input_lp: str,
    cache_name: str | None = None,
    input_arguments: dict[str, str] | None = None,
) -> dict:
    ctx = _context(target)
    log_lines: list[str] = []
    errors: list[str] = []
    writes: dict[str, list[str]] = {}
    try:
        loaded = ctx.load(filename)
        parsed = parse_lp(input_lp, "ns", time.time_ns())
        for e in parsed.errors:
            errors.append(f"line {e.line_number}: {e.message}")
        base = ctx.catalog.databases.get(database)
        probe = copy.deepcopy(base) if base is not None else DatabaseDef(database)
        plan = ctx.catalog.plan_write(probe, parsed.tables)
        for e in plan.errors:
            errors.append(f"line {e.line_number}: {e.message}")
        _apply(probe, plan)
        tables = {name: to_record_batch(probe.tables[name], pt, keep) for name, (pt, keep) in plan.accepted.items()}
        writes = await _call(
            ctx, loaded, filename, database, WalCall(0, database, tables),
            ctx.test_cache(cache_name), input_arguments, log_lines, errors,
        )
    except PluginError as e:
        errors.append(str(e))
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    _validate_writes(ctx.catalog, writes, errors)
    return {"log_lines": log_lines, "database_writes": writes, "errors": errors}


async def run_schedule_test(
    target: DryRunContext | SupportsDryRuns,
    filename: str,
    database: str,
    schedule: str | None = None,
    cache_name: str | None = None,
    input_arguments: dict[str, str] | None = None,
) -> dict:
    ctx = _context(target)
    log_lines: list[str] = []
    errors: list[str] = []
    writes: dict[str, list[str]] = {}
    trigger_time: str | None = None
    try:
        ctx.catalog.get_db(database)  # the schedule test needs the database to exist
        spec = parse_trigger_spec(f"cron:{schedule or '* * * * * *'}")
        fire = next_fire_ns(spec, time.time_ns())
        assert fire is not None  # '* * * * * *'-style specs always fire again
        when = dt.datetime.fromtimestamp(fire // 1_000_000_000, dt.timezone.utc)
        trigger_time = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        loaded = ctx.load(filename)
        writes = await _call(
            ctx, loaded, filename, database, ScheduleCall(fire),
            ctx.test_cache(cache_name), input_arguments, log_lines, errors,
        )
    except (PluginError, TriggerSpecError) as e:
        errors.append(str(e))
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    _validate_writes(ctx.catalog, writes, errors)
    return {"trigger_time": trigger_time, "log_lines": log_lines, "database_writes": writes, "errors": errors}


def _apply(db: DatabaseDef, plan: WritePlan) -> None:
    """apply_plan on a private copy of a database (not the live catalog)."""
    Catalog().apply_plan(db, plan)
