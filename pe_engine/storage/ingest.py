"""A line-protocol write up to the pending batch (DESIGN §3 steps 1-4).

Parse off the loop -> validate against the catalog and extend it, on the loop in one go (no
await in between, so two bodies cannot race a column's type) -> build Arrow off the loop ->
the writer's pending batch. The writer acknowledges once the batch is in a WAL record
(`no_sync` answers at the append instead).
"""
from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Collection
from concurrent.futures import Executor

import pyarrow as pa

from ..errors import BadRequest
from ..events import DatabaseChanged, EventBus
from ..lineprotocol.parse import normalize_precision, parse_lp
from ..lineprotocol.repair import KnownColumns, fill_lines, has_known_conflict, parse_auto, reparse_against_known
from ..lineprotocol.types import MAX_REPORTED_ERRORS, LineError, LineErrors, ParsedTable, ParseResult, SchemaLimits
from .batch import to_record_batch
from .catalog import Catalog, DatabaseDef, TableDef, validate_db_name
from .stats import EngineStats
from .writer import Writer, WriteResult


class Ingest:
    def __init__(
        self, *, catalog: Catalog, writer: Writer, bus: EventBus, stats: EngineStats, cpu_pool: Executor
    ) -> None:
        self.catalog = catalog
        self.writer = writer
        self.bus = bus
        self.stats = stats
        self._cpu_pool = cpu_pool

    async def write_lp(
        self,
        db: str,
        body: bytes | str,
        precision: str | None = "ns",
        accept_partial: bool = True,
        no_sync: bool = False,
    ) -> WriteResult:
        dbdef = self.catalog.databases.get(db)
        if dbdef is None:
            validate_db_name(db)
        auto = isinstance(precision, str) and precision.strip().lower() == "auto"
        try:
            prec = normalize_precision(precision)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        loop = asyncio.get_running_loop()
        # The parser keeps the first errors in full and stops each table at the column limit
        # and the database at the table limit, so a hostile body costs memory in proportion to
        # what can be written (the catalog checks again below, on the loop).
        parse = functools.partial(
            parse_auto if auto else parse_lp, max_errors=MAX_REPORTED_ERRORS, limits=self.schema_limits(db)
        )
        parsed: ParseResult = await loop.run_in_executor(self._cpu_pool, parse, body, prec, time.time_ns())
        result = WriteResult(database=db)
        dbdef = self.catalog.databases.get(db)
        if dbdef is not None and parsed.errors:
            known = known_columns(dbdef, parsed)
            if has_known_conflict(known, parsed):
                parsed = await loop.run_in_executor(self._cpu_pool, reparse_against_known, known, body, parsed, prec)
        # Plan and apply against the catalog in one go on the loop: no await in between.
        dbdef = self.catalog.databases.get(db)
        probe = dbdef or DatabaseDef(db)
        plan = self.catalog.plan_write(probe, parsed.tables)
        rejected = parsed.rejected + len(plan.errors)
        errors: list[LineError] = parsed.errors + plan.errors
        if plan.errors:
            errors.sort(key=lambda e: e.line_number)
        del errors[MAX_REPORTED_ERRORS:]  # an answer reports the first errors; the rest are counted
        result.errors = LineErrors(errors, rejected - len(errors))
        self.stats.rejected_lines += rejected
        if rejected and not accept_partial:
            result.rejected_all = True
            await self._fill_lines(errors, body)
            return result
        if not plan.accepted:
            await self._fill_lines(errors, body)
            return result
        if dbdef is None:
            dbdef = self.catalog.create_db(db, exist_ok=True)
            self.bus.publish(DatabaseChanged(database=db, action="created"))
        self.catalog.apply_plan(dbdef, plan)
        await self._fill_lines(errors, body)
        tables = {name: (dbdef.tables[name], pt, keep) for name, (pt, keep) in plan.accepted.items()}
        batches: dict[str, pa.RecordBatch] = await loop.run_in_executor(self._cpu_pool, _build_batches, tables)
        rows = sum(b.num_rows for b in batches.values())
        result.rows = result.lines_written = rows
        self.stats.writes += 1
        self.stats.lines += rows
        self.writer.append(dbdef, batches, rows)
        if no_sync:
            return result
        await self.writer.durable()
        return result


    async def _fill_lines(self, errors: list[LineError], body: bytes | str) -> None:
        """Catalog-level errors know only their line number: find their text off the loop."""
        if any(not e.original_line for e in errors):
            await asyncio.get_running_loop().run_in_executor(self._cpu_pool, fill_lines, errors, body)

    def schema_limits(self, db: str) -> SchemaLimits:
        """What the catalog can still take in `db`, for the parser (read from its thread)."""
        dbdef = self.catalog.databases.get(db)
        tables = dbdef.tables if dbdef is not None else {}

        def columns_of(name: str) -> Collection[str] | None:
            tdef = tables.get(name)
            if tdef is None:
                return None
            return {c: _KINDS.get(cd.kind, cd.field_type) for c, cd in list(tdef.columns.items())}

        return SchemaLimits(
            database=db,
            max_tables=self.catalog.max_tables,
            max_columns=self.catalog.max_columns,
            known_tables=len(tables),
            columns_of=columns_of,
        )


_KINDS = {"tag": -1, "time": -2}  # the parser's column kinds; a field's is its FieldType


def known_columns(db: DatabaseDef, parsed: ParseResult) -> KnownColumns:
    """The catalog's column types of the tables a body writes, as plain data for the repair."""
    return {
        name: {c: (cd.kind, cd.field_type) for c, cd in db.tables[name].columns.items()}
        for name in parsed.tables
        if name in db.tables
    }


def _build_batches(tables: dict[str, tuple[TableDef, ParsedTable, list[int] | None]]) -> dict[str, pa.RecordBatch]:
    return {name: to_record_batch(tdef, pt, keep) for name, (tdef, pt, keep) in tables.items()}
