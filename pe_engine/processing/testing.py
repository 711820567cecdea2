"""Dry runs of a plugin (`pe test wal_plugin|schedule_plugin`, `/api/v3/plugin_test/*`).

Real queries run; writes are captured and validated against a throw-away copy
of the catalog instead of being written (reference §6.1 notes).
"""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import threading
import time
from typing import TYPE_CHECKING

from ..lineprotocol.parse import parse_lp
from ..storage.batch import to_record_batch
from ..storage.catalog import DatabaseDef
from .py_api.batches import TableBatch
from .py_api.local import PluginApi
from .limits import ActivationInterrupted, Running
from .plugins import PluginError, entry_point, instantiate
from .triggers import TriggerSpecError, format_duration, next_fire_ns, parse_trigger_spec

if TYPE_CHECKING:
    from .manager import ProcessingEngine

TEST_DEADLINE = 30.0


def _captured_logger(lines: list[str]):
    def log(level: str, text: str) -> None:
        lines.append(f"{level}: {text}")

    return log


def _validate_writes(pe: "ProcessingEngine", writes: dict[str, list[str]], errors: list[str]) -> None:
    catalog = pe.engine.catalog
    for db, lines in writes.items():
        base = catalog.databases.get(db)
        probe = copy.deepcopy(base) if base is not None else DatabaseDef(db)
        parsed = parse_lp("\n".join(lines), "ns", time.time_ns())
        for e in parsed.errors:
            errors.append(f"line protocol error writing to {db}, line {e.line_number}: {e.message}")
        plan = catalog.plan_write(probe, parsed.tables)
        for e in plan.errors:
            errors.append(f"schema error writing to {db}, line {e.line_number}: {e.message}")


class _Stopped(Exception):
    """The dry run hit its deadline, or the plugin raised a BaseException (SystemExit...)."""


def _deadline_message(deadline: float) -> str:
    return f"plugin did not finish within {deadline:g}s"


async def _run(pe: "ProcessingEngine", fn) -> None:
    """Call the plugin in a thread under the watchdog, so a runaway dry run is interrupted at
    the deadline instead of spinning forever in a pool thread (which also hangs shutdown)."""
    deadline = TEST_DEADLINE
    watchdog = pe.watchdog

    def guarded() -> None:
        running = Running(
            thread_id=threading.get_ident(), cpu_clock=None, deadline=deadline, cpu_limit=None, memory_limit=None
        )
        try:
            watchdog.register(running)
            try:
                fn()
            finally:
                watchdog.unregister(running)
        except ActivationInterrupted:
            raise _Stopped(_deadline_message(deadline)) from None
        except Exception:
            raise
        except BaseException as e:  # SystemExit/KeyboardInterrupt must not reach the event loop: it would stop
            raise _Stopped(f"{type(e).__name__}: {e}") from None

    loop = asyncio.get_running_loop()
    try:
        # Stuck in C code: the watchdog can't interrupt it; stop waiting once it is written off.
        await asyncio.wait_for(loop.run_in_executor(None, guarded), deadline + watchdog.grace + 1.0)
    except asyncio.TimeoutError:
        raise _Stopped(_deadline_message(deadline)) from None


async def run_wal_test(
    pe: "ProcessingEngine",
    filename: str,
    database: str,
    input_lp: str,
    cache_name: str | None = None,
    input_arguments: dict[str, str] | None = None,
) -> dict:
    log_lines: list[str] = []
    errors: list[str] = []
    api = PluginApi(
        host=pe.engine, loop=asyncio.get_running_loop(), database=database, trigger=f"test:{filename}",
        cache=pe.caches.test_cache(cache_name or "_shared_test"), log=_captured_logger(log_lines),
        capture_writes=True,
    )
    try:
        loaded = pe.registry.load(filename)
        parsed = parse_lp(input_lp, "ns", time.time_ns())
        for e in parsed.errors:
            errors.append(f"line {e.line_number}: {e.message}")
        base = pe.engine.catalog.databases.get(database)
        probe = copy.deepcopy(base) if base is not None else DatabaseDef(database)
        plan = pe.engine.catalog.plan_write(probe, parsed.tables)
        batches = []
        for e in plan.errors:
            errors.append(f"line {e.line_number}: {e.message}")
        _apply(probe, plan)
        for name, (pt, keep) in plan.accepted.items():
            batches.append(TableBatch(name, to_record_batch(probe.tables[name], pt, keep)))

        def call() -> None:
            ns = instantiate(loaded)
            fn = entry_point(ns, "process_writes", "wal_rows")
            log_lines.append("INFO: starting execution of wal plugin.")
            t0 = time.perf_counter()
            fn(api, batches, input_arguments or None)
            log_lines.append(f"INFO: finished execution in {format_duration(time.perf_counter() - t0)}")

        await _run(pe, call)
    except (_Stopped, PluginError) as e:
        errors.append(str(e))
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    writes = api.captured_writes()
    _validate_writes(pe, writes, errors)
    return {"log_lines": log_lines, "database_writes": writes, "errors": errors}


async def run_schedule_test(
    pe: "ProcessingEngine",
    filename: str,
    database: str,
    schedule: str | None = None,
    cache_name: str | None = None,
    input_arguments: dict[str, str] | None = None,
) -> dict:
    log_lines: list[str] = []
    errors: list[str] = []
    trigger_time: str | None = None
    api = PluginApi(
        host=pe.engine, loop=asyncio.get_running_loop(), database=database, trigger=f"test:{filename}",
        cache=pe.caches.test_cache(cache_name or "_shared_test"), log=_captured_logger(log_lines),
        capture_writes=True,
    )
    try:
        pe.engine.catalog.get_db(database)  # the schedule test needs the database to exist
        spec = parse_trigger_spec(f"cron:{schedule or '* * * * * *'}")
        fire = next_fire_ns(spec, time.time_ns())
        when = dt.datetime.fromtimestamp(fire // 1_000_000_000, dt.timezone.utc)
        trigger_time = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        loaded = pe.registry.load(filename)

        def call() -> None:
            ns = instantiate(loaded)
            fn = entry_point(ns, "process_scheduled_call", "schedule")
            log_lines.append(f"INFO: starting execution with scheduled time {when.replace(tzinfo=None)} UTC")
            t0 = time.perf_counter()
            fn(api, dt.datetime.fromtimestamp(fire // 1_000_000_000), input_arguments or None)
            log_lines.append(f"INFO: finished execution in {format_duration(time.perf_counter() - t0)}")

        await _run(pe, call)
    except (_Stopped, PluginError, TriggerSpecError) as e:
        errors.append(str(e))
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    writes = api.captured_writes()
    _validate_writes(pe, writes, errors)
    return {"trigger_time": trigger_time, "log_lines": log_lines, "database_writes": writes, "errors": errors}


def _apply(db: DatabaseDef, plan) -> None:
    """apply_plan on a private copy of a database (not the live catalog)."""
    from ..storage.catalog import Catalog

    Catalog().apply_plan(db, plan)
