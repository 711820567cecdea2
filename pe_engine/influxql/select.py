"""SELECT onto DataFusion: one SQL statement per measurement, shaped into 1.x series.

The SQL does the bulk work (filters, GROUP BY time buckets via date_bin, aggregates, per-series
LIMIT); Arrow does the rest a column at a time: splitting rows into series at tag changes and
filling empty buckets (fill) with a join against the bucket list.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from . import ast
from .context import FieldKind, MeasurementSchema, QueryContext
from .errors import InfluxQLError, InfluxQLUnsupported
from .results import TIME, Series
from .multirow import mode_sql, multirow_call
from .multirow import plan as multirow_plan
from .sqlgen import ExprWriter, ident, number
from .subquery import as_measurements, local_runner
from .subquery import inner_statement as subquery_statement
from .timerange import TimeRange, find_zone, split_time
from .transforms import apply as apply_transform
from .transforms import extra_intervals, inner_statement, transform_call

AGGREGATES = frozenset({"count", "mean", "median", "sum", "min", "max", "first", "last", "spread",
                        "stddev", "percentile", "mode", "integral"})
SELECTORS = frozenset({"first", "last", "min", "max", "percentile"})  # answer a point's own time
NUMERIC_ONLY = frozenset({"mean", "median", "sum", "spread", "stddev", "percentile", "min", "max"})
NOT_YET = frozenset({"holt_winters",
                     "holt_winters_with_fit", "exponential_moving_average", "double_exponential_moving_average",
                     "triple_exponential_moving_average", "relative_strength_index", "kaufmans_efficiency_ratio",
                     "kaufmans_adaptive_moving_average", "triple_exponential_derivative", "chande_momentum_oscillator"})
BUCKET = "__pe_bucket"
POINT_TIME = "__pe_time"
ROWS = "__pe_rows"


@dataclass(frozen=True)
class GroupBy:
    interval: int | None = None  # ns
    offset: int = 0
    tags: tuple[str, ...] = ()
    all_tags: bool = False
    tag_regexes: tuple[str, ...] = ()

    def tag_names(self, schema: MeasurementSchema) -> list[str]:
        names = list(schema.tags) if self.all_tags else [*self.tags]
        for rx in self.tag_regexes:
            names += [t for t in schema.tags if re.search(rx, t)]
        return sorted(dict.fromkeys(names))


def group_by(stmt: ast.SelectStatement, ctx: QueryContext) -> GroupBy:
    interval, offset, tags, all_tags, rxs = None, 0, [], False, []
    for d in stmt.dimensions:
        if isinstance(d, ast.Call) and d.name == "time":
            if interval is not None:
                raise InfluxQLError("multiple time dimensions")
            if not d.args or not isinstance(d.args[0], ast.DurationLiteral):
                raise InfluxQLError("time dimension expected 1 or 2 arguments: time(interval[, offset])")
            interval = d.args[0].nanoseconds
            if interval <= 0:
                raise InfluxQLError("time dimension must have a positive interval")
            if len(d.args) > 1:
                o = d.args[1]
                if isinstance(o, ast.DurationLiteral):
                    offset = o.nanoseconds
                elif isinstance(o, ast.Call) and o.name == "now":
                    offset = ctx.now_ns
                else:
                    raise InfluxQLError("time dimension offset must be a duration or now()")
                offset %= interval
        elif isinstance(d, ast.VarRef):
            tags.append(d.name)
        elif isinstance(d, ast.Wildcard):
            all_tags = True
        elif isinstance(d, ast.RegexLiteral):
            rxs.append(d.pattern)
        else:
            raise InfluxQLError("only time() calls allowed in dimensions")
    return GroupBy(interval, offset, tuple(tags), all_tags, tuple(rxs))


# --- naming and expansion ------------------------------------------------------------------------

def _calls(e: ast.Expr) -> list[ast.Call]:
    if isinstance(e, ast.Call):
        return [e]
    if isinstance(e, ast.BinaryExpr):
        return _calls(e.lhs) + _calls(e.rhs)
    if isinstance(e, ast.UnaryMinus):
        return _calls(e.expr)
    return []


def _vars(e: ast.Expr) -> list[ast.VarRef]:
    if isinstance(e, ast.VarRef):
        return [e]
    if isinstance(e, ast.BinaryExpr):
        return _vars(e.lhs) + _vars(e.rhs)
    if isinstance(e, ast.UnaryMinus):
        return _vars(e.expr)
    if isinstance(e, ast.Call):
        return [v for a in e.args for v in _vars(a)]
    return []


def column_name(e: ast.Expr) -> str:
    """1.x's names: a field by its name, a call by its function, arithmetic joined with `_`."""
    if isinstance(e, ast.VarRef):
        return e.name
    if isinstance(e, ast.Call):
        return e.name
    if isinstance(e, ast.Distinct):
        return "distinct"
    if isinstance(e, ast.BinaryExpr):
        parts = [p for p in (column_name(e.lhs), column_name(e.rhs)) if p]
        return "_".join(parts)
    if isinstance(e, ast.UnaryMinus):
        return column_name(e.expr)
    return ""


def _matches_arg(arg: ast.Expr, schema: MeasurementSchema, numeric: bool) -> list[str] | None:
    """A wildcard or regex argument's fields (sorted), or None for an ordinary argument."""
    if isinstance(arg, ast.Wildcard):
        names = sorted(schema.fields)
    elif isinstance(arg, ast.RegexLiteral):
        names = sorted(f for f in schema.fields if re.search(arg.pattern, f))
    else:
        return None
    if numeric:
        names = [n for n in names if schema.fields[n].numeric]
    return names


def expand_fields(stmt: ast.SelectStatement, schema: MeasurementSchema, group_tags: list[str]) -> list[ast.Field]:
    out: list[ast.Field] = []
    for f in stmt.fields:
        e = f.expr
        if isinstance(e, ast.Wildcard):
            names: list[tuple[str, str]] = []
            if e.kind in (ast.WildcardKind.ALL, ast.WildcardKind.FIELD):
                names += [(n, "field") for n in schema.fields]
            if e.kind in (ast.WildcardKind.ALL, ast.WildcardKind.TAG):
                names += [(n, "tag") for n in schema.tags if n not in group_tags]
            for n, k in sorted(names):
                out.append(ast.Field(ast.VarRef(n, ast.DataType.TAG if k == "tag" else ast.DataType.FIELD)))
        elif isinstance(e, ast.RegexLiteral):
            out += [ast.Field(ast.VarRef(n, ast.DataType.FIELD)) for n in sorted(schema.fields)
                    if re.search(e.pattern, n)]
        elif isinstance(e, ast.Call) and e.args and e.name in AGGREGATES:
            names_for = _matches_arg(e.args[0], schema, e.name in NUMERIC_ONLY)
            if names_for is None:
                out.append(f)
            else:
                for n in names_for:
                    call = ast.Call(e.name, (ast.VarRef(n, ast.DataType.FIELD), *e.args[1:]))
                    out.append(ast.Field(call, f.alias + "_" + n if f.alias else f"{e.name}_{n}"))
        else:
            out.append(f)
    return out


def _unique_names(fields: list[ast.Field]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for f in fields:
        base = f.alias or column_name(f.expr)
        n = seen.get(base, 0)
        seen[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n}")
    return names


# --- aggregates ----------------------------------------------------------------------------------

class AggWriter:
    """Aggregate calls to SQL, with the selected point's time for a selector."""

    def __init__(self, w: ExprWriter, bucketed: bool = False) -> None:
        self.w = w
        self.point_time: str | None = None  # of the last selector written
        self.pick: Callable[[str], str] | None = None  # another column of that selector's point
        self.bucketed = bucketed
        self.integral_of: str | None = None  # integral()'s field: the FROM becomes its per-point areas

    def call(self, c: ast.Call) -> str:
        name = c.name
        if name in NOT_YET:
            raise InfluxQLUnsupported(f"{name}() is not supported yet")
        if name not in AGGREGATES:
            raise InfluxQLError(f"undefined function {name}()")
        if not c.args:
            raise InfluxQLError(f"invalid number of arguments for {name}, expected at least 1, got 0")
        arg = c.args[0]
        if isinstance(arg, ast.Call) and arg.name == "distinct" and name == "count":
            inner = self._field(arg.args[0] if arg.args else arg)
            return f"count(DISTINCT {inner})"
        if isinstance(arg, ast.VarRef) and self.w.schema.kind(arg.name) is None:
            return "NULL"  # a column of another measurement in the statement (`count(*) FROM a, b`)
        x = self._field(arg)
        nn = f"FILTER (WHERE {x} IS NOT NULL)"
        t = "time"
        if name == "count":
            return f"count({x})"
        if name == "integral":
            return self._integral(c, x)
        if name == "mode":
            raise InfluxQLUnsupported("mode() with other functions in one statement is not supported yet")
        if name == "mean":
            return f"avg(CAST({x} AS DOUBLE))"
        if name == "median":
            return f"median(CAST({x} AS DOUBLE))"
        if name == "sum":
            return f"sum({x})"
        if name == "spread":
            return f"(max({x}) - min({x}))"
        if name == "stddev":
            return f"stddev(CAST({x} AS DOUBLE))"
        if name in ("first", "last"):
            order = "ASC" if name == "first" else "DESC"
            kind = self.w.schema.fields.get(arg.name) if isinstance(arg, ast.VarRef) else None
            # points at one time: 1.x keeps the greater value (for booleans, first keeps false)
            tie = "ASC" if kind is FieldKind.BOOLEAN and name == "first" else "DESC"
            self.pick = lambda col: f"first_value({col} ORDER BY {t} {order}, {x} {tie}) {nn}"
            self.point_time = f"CAST({self.pick(t)} AS BIGINT)"
            return self.pick(x)
        if name in ("min", "max"):
            order = "ASC" if name == "min" else "DESC"
            self.pick = lambda col: f"first_value({col} ORDER BY {x} {order}, {t} ASC) {nn}"
            self.point_time = f"CAST({self.pick(t)} AS BIGINT)"
            return f"{name}({x})"
        if name == "percentile":
            if len(c.args) != 2 or not isinstance(c.args[1], (ast.IntegerLiteral, ast.NumberLiteral)):
                raise InfluxQLError("expected float argument in percentile()")
            p = float(c.args[1].value)
            idx = f"CAST(floor(count({x}) * {number(p)} / 100.0 + 0.5) AS BIGINT)"
            self.pick = lambda col: f"array_element(array_agg({col} ORDER BY {x}, {t}) {nn}, {idx})"
            self.point_time = f"CAST({self.pick(t)} AS BIGINT)"
            # the value alone needs no time order among equal values (a cheaper sort: ~40 % of the aggregate)
            return f"array_element(array_agg({x} ORDER BY {x}) {nn}, {idx})"
        raise InfluxQLUnsupported(f"{name}() is not supported yet")

    def _integral(self, c: ast.Call, x: str) -> str:
        """Trapezoids between neighbouring points, in `unit`s (1s by default)."""
        if self.bucketed:
            raise InfluxQLUnsupported("integral() with GROUP BY time is not supported yet (1.x interpolates at "
                                      "bucket edges): use it without GROUP BY time")
        unit = 1_000_000_000
        if len(c.args) > 1:
            u = c.args[1]
            if not isinstance(u, ast.DurationLiteral) or u.nanoseconds <= 0:
                raise InfluxQLError("second argument must be a duration")
            unit = u.nanoseconds
        if self.integral_of not in (None, x):
            raise InfluxQLUnsupported("integral() of two fields in one statement is not supported yet")
        # the area is summed per group by the caller's GROUP BY: lag() runs inside the group's window
        self.integral_of = x
        return f"coalesce(sum(__pe_area_0), 0.0) / {float(unit)!r}"

    def _field(self, arg: ast.Expr) -> str:
        if isinstance(arg, ast.VarRef):
            return self.w.var(arg)
        if isinstance(arg, ast.Call):
            raise InfluxQLUnsupported(f"nested function {arg.name}() in an aggregate is not supported yet")
        raise InfluxQLError("expected field argument in aggregate")

    def expr(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Call):
            return self.call(e)
        lit = self.w.literal(e)
        if lit is not None:
            return lit
        if isinstance(e, ast.UnaryMinus):
            return f"(- {self.expr(e.expr)})"
        if isinstance(e, ast.BinaryExpr):
            return self.w.binary(e, self.expr)
        if isinstance(e, ast.VarRef):
            raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
        raise InfluxQLError(f"unsupported expression: {type(e).__name__}")


# --- planning ------------------------------------------------------------------------------------

def _time_sql(rng: TimeRange) -> list[str]:
    out = []
    if rng.lower is not None:
        out.append(f"time >= to_timestamp_nanos({rng.lower})")
    if rng.upper is not None:
        out.append(f"time <= to_timestamp_nanos({rng.upper})")
    return out


def _any_field(fields: set[str]) -> str | None:
    if not fields:
        return None
    return "(" + " OR ".join(f"{ident(f)} IS NOT NULL" for f in sorted(fields)) + ")"


def run_select(stmt: ast.SelectStatement, ctx: QueryContext) -> list[Series]:
    if stmt.into is not None:
        raise InfluxQLUnsupported("SELECT ... INTO is not supported: write the results back with a plugin instead")
    zone = find_zone(stmt.timezone) if stmt.timezone is not None else None
    for s in stmt.sort:
        if s.name.lower() != "time":
            raise InfluxQLError("only ORDER BY time supported at this time")
    if stmt.limit == 0 or stmt.slimit == 0:  # 1.x: LIMIT 0 means no limit
        stmt = dataclasses.replace(stmt, limit=stmt.limit or None, slimit=stmt.slimit or None)
    rng, residual = split_time(stmt.condition, ctx.now_ns)
    gb = group_by(stmt, ctx)
    if gb.interval is not None and rng.upper is None:
        rng = TimeRange(rng.lower, ctx.now_ns)  # 1.x: GROUP BY time ends at now() unless told
    if zone is not None and gb.interval is not None:
        # buckets start at local boundaries: the zone's offset at the range's start
        at = dt.datetime.fromtimestamp((rng.lower if rng.lower is not None else ctx.now_ns) / 1e9, zone)
        utc_offset = at.utcoffset()
        shift = int(utc_offset.total_seconds()) * 1_000_000_000 if utc_offset is not None else 0
        gb = dataclasses.replace(gb, offset=(gb.offset - shift) % gb.interval)
    out: list[Series] = []
    targets: list[tuple[str, MeasurementSchema]] = []
    for src in stmt.sources:
        if isinstance(src, ast.SubQuery):
            inner = run_select(subquery_statement(src.statement, stmt, rng), ctx)
            for virtual, table in as_measurements(inner):
                local_ctx = dataclasses.replace(ctx, run_sql=local_runner(virtual.name, table))
                out += select_measurement(stmt, virtual, "", rng, residual, gb, local_ctx)
            continue
        db = src.database or ctx.database
        if not db:
            raise InfluxQLError("database name required")
        if db not in ctx.schema.databases():
            raise InfluxQLError(f"database not found: {db}")
        if src.regex is not None:
            names = [m for m in ctx.schema.measurements(db) if re.search(src.regex, m)]
        else:
            assert src.name is not None
            names = [src.name]
        for name in names:
            found = ctx.schema.schema(db, name)
            if found is not None:
                targets.append((db, found))
    universe = _union([sc for _, sc in targets]) if len(targets) > 1 else None
    for db, found in targets:
        out += select_measurement(stmt, found, db, rng, residual, gb, ctx, universe)
    out.sort(key=lambda s: (s.name, sorted((s.tags or {}).items())),
             reverse=any(not f.ascending for f in stmt.sort))  # 1.x: DESC orders the series too
    if stmt.timezone is not None:
        for series in out:
            series.tz = stmt.timezone
    if stmt.soffset or stmt.slimit is not None:  # per measurement, as 1.x
        lo = stmt.soffset or 0
        hi = None if stmt.slimit is None else lo + stmt.slimit
        by_name: dict[str, list[Series]] = {}
        for series in out:
            by_name.setdefault(series.name, []).append(series)
        out = [series for group in by_name.values() for series in group[lo:hi]]
    return out


def _union(schemas: list[MeasurementSchema]) -> MeasurementSchema:
    """Several measurements: `*` and regexes expand over all their columns, as 1.x (a column a
    measurement lacks is null in its rows)."""
    tags = sorted({t for sc in schemas for t in sc.tags})
    fields: dict[str, FieldKind] = {}
    for sc in schemas:
        for n, k in sc.fields.items():
            if n not in tags:
                fields.setdefault(n, k)
    return MeasurementSchema("", tuple(tags), fields)


def select_measurement(stmt: ast.SelectStatement, schema: MeasurementSchema, db: str, rng: TimeRange,
                       residual: ast.Expr | None, gb: GroupBy, ctx: QueryContext,
                       universe: MeasurementSchema | None = None) -> list[Series]:
    """`universe`: the columns `*` and regexes expand over (all the statement's measurements)."""
    call = transform_call(stmt)
    if call is not None:
        start = None
        inner = inner_statement(stmt, call, gb.interval)
        if gb.interval is not None and rng.lower is not None:
            start = _bucket(rng.lower, gb.interval, gb.offset)
            rng = TimeRange(rng.lower - extra_intervals(call) * gb.interval, rng.upper)
        series = select_measurement(inner, schema, db, rng, residual, gb, ctx, universe)
        return apply_transform(call, series, gb.interval, any(not s.ascending for s in stmt.sort),
                               stmt.limit, stmt.offset, start)
    w = ExprWriter(schema, ctx.params)
    group_tags = gb.tag_names(schema)
    fields = expand_fields(stmt, universe or schema, group_tags)
    if not fields:
        return []
    names = _unique_names(fields)
    is_agg = any(_calls(f.expr) for f in fields)
    for f in fields:
        for c in _calls(f.expr):
            if not c.args:
                raise InfluxQLError(f"invalid number of arguments for {c.name}, expected 1, got 0")
    referenced = {v.name for f in fields for v in _vars(f.expr) if schema.kind(v.name) == "field"
                  and v.cast is not ast.DataType.TAG}
    if not referenced:
        return []  # 1.x: a statement must select at least one field
    where = _time_sql(rng)
    if residual is not None:
        where.append(w.condition(residual))
    any_field = _any_field(referenced)
    if any_field:
        where.append(any_field)
    where_sql = (" WHERE " + " AND ".join(where)) if where else ""
    gcols = [f"coalesce({ident(t)}, '') AS {ident('__pe_g_' + t)}" if t in schema.tags
             else f"'' AS {ident('__pe_g_' + t)}" for t in group_tags]
    gnames = ["__pe_g_" + t for t in group_tags]
    desc = any(not s.ascending for s in stmt.sort)
    bucket_sql = (f"CAST(date_bin(INTERVAL '{gb.interval} nanoseconds', time, to_timestamp_nanos({gb.offset}))"
                  " AS BIGINT)") if gb.interval is not None else None
    mcall = multirow_call(fields)
    if mcall is not None:
        return _multirow(mcall, fields, names, w, schema, db, where_sql, gcols, gnames, group_tags, bucket_sql,
                         rng, desc, stmt, ctx)
    if not is_agg:
        if gb.interval is not None:
            raise InfluxQLError("GROUP BY requires at least one aggregate function")
        sel = [f"CAST(time AS BIGINT) AS {ident(TIME)}"]
        sel += [f"{w.value(f.expr)} AS {ident('__pe_c' + str(i))}" for i, f in enumerate(fields)]
        # rows at one time: ordered by series key, as 1.x merges series
        ties = [t for t in sorted(schema.tags) if t not in group_tags]
        sel += [f"coalesce({ident(t)}, '') AS {ident('__pe_k' + str(j))}" for j, t in enumerate(ties)]
        within = [f"{ident(TIME)} {'DESC' if desc else 'ASC'}"] + [ident(f"__pe_k{j}") for j in range(len(ties))]
        sql = f"SELECT {', '.join(sel + gcols)} FROM {ident(schema.name)}{where_sql}"
        sql = _limit(sql, gnames, within, stmt.limit, stmt.offset)
        table = ctx.sql(db, sql)
        cols = [TIME] + [f"__pe_c{i}" for i in range(len(fields))]
        return _split(table, schema.name, group_tags, gnames, cols, [TIME, *names])
    # aggregates
    aw = AggWriter(w, bucketed=gb.interval is not None)
    sel = []
    point_times: list[str | None] = []
    mode_only = len(fields) == 1 and isinstance(fields[0].expr, ast.Call) and fields[0].expr.name == "mode"
    calls = [f.expr for f in fields if not isinstance(f.expr, ast.VarRef)]
    with_fields = (len(calls) == 1 and isinstance(calls[0], ast.Call) and calls[0].name in SELECTORS
                   and len(fields) > 1)  # max(x), host, y: the other columns of the selected point
    for i, f in enumerate(fields):
        aw.point_time = None
        if with_fields and isinstance(f.expr, ast.VarRef):
            continue
        sel.append("NULL" if mode_only else f"{aw.expr(f.expr)} AS {ident('__pe_c' + str(i))}")
        point_times.append(aw.point_time)
    if with_fields:
        pick = aw.pick
        if pick is None:
            raise InfluxQLError("mixing aggregate and non-aggregate queries is not supported")
        for i, f in enumerate(fields):
            if isinstance(f.expr, ast.VarRef):
                col = w.var(f.expr) if schema.kind(f.expr.name) is not None else "NULL"
                sel.insert(i, f"{pick(col)} AS {ident('__pe_c' + str(i))}")
        point_times = [p for p in point_times if p is not None]
    keys = list(gcols)
    if bucket_sql is not None:
        keys.append(f"{bucket_sql} AS {ident(BUCKET)}")
    single_selector = with_fields and gb.interval is None and bool(point_times) or (
        gb.interval is None and all(f.expr == fields[0].expr for f in fields)  # max(x), max(x): one
        and isinstance(fields[0].expr, ast.Call) and fields[0].expr.name in SELECTORS and point_times[0] is not None)
    if single_selector:
        sel.append(f"{point_times[0]} AS {ident(POINT_TIME)}")
    if not keys and not mode_only:
        sel.append(f"count(*) AS {ident(ROWS)}")
    group_sql = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    sql = f"SELECT {', '.join(keys + sel)} FROM {ident(schema.name)}{where_sql}{group_sql}"
    if aw.integral_of is not None:
        if len(fields) != 1:
            raise InfluxQLUnsupported("integral() with other functions in one statement is not supported yet")
        sql = f"SELECT {', '.join(keys + sel)} FROM {_areas(schema, group_tags, where_sql, aw.integral_of)}{group_sql}"
    if mode_only:
        assert isinstance(fields[0].expr, ast.Call)
        sql = mode_sql(fields[0].expr, w, schema.name, where_sql, gcols, gnames, bucket_sql)
    table = ctx.sql(db, sql)
    if ROWS in table.column_names:
        if table.num_rows == 0 or table.column(ROWS)[0].as_py() == 0:
            return []  # an aggregate over no rows: 1.x answers no series
        table = table.drop_columns([ROWS])
    value_cols = [f"__pe_c{i}" for i in range(len(fields))]
    if gb.interval is None and table.num_rows and all(
            isinstance(f.expr, ast.Call) and f.expr.name in SELECTORS for f in fields):
        table = table.filter(_not_all_null(table, value_cols))  # selectors that picked no point (percentile 0)
    if gb.interval is not None:
        table = _fill(table, gnames, value_cols, stmt.fill, gb, rng, ctx, fields, desc)
        table = table.rename_columns([TIME if n == BUCKET else n for n in table.column_names])
    elif single_selector:
        table = table.rename_columns([TIME if n == POINT_TIME else n for n in table.column_names])
    else:
        start = rng.lower if rng.lower is not None else 0
        table = table.append_column(TIME, pa.array([start] * table.num_rows, pa.int64()))
    sort = [(g, "ascending") for g in gnames] + [(TIME, "descending" if desc else "ascending")]
    table = table.sort_by(sort)
    series = _split(table, schema.name, group_tags, gnames, [TIME, *value_cols], [TIME, *names])
    if stmt.limit is not None or stmt.offset:
        series = [_slice_rows(s, stmt.offset or 0, stmt.limit) for s in series]
        series = [s for s in series if s.table.num_rows]
    return series


def _areas(schema: MeasurementSchema, group_tags: list[str], where_sql: str, x: str) -> str:
    """The measurement's rows with the trapezoid each point closes (integral), per series."""
    part = [f"coalesce({ident(t)}, '')" for t in group_tags if t in schema.tags]
    ties = [f"coalesce({ident(t)}, '')" for t in sorted(schema.tags) if t not in group_tags]  # deterministic
    over = f"OVER ({'PARTITION BY ' + ', '.join(part) + ' ' if part else ''}ORDER BY {', '.join(['time', *ties])})"
    v, t = f"CAST({x} AS DOUBLE)", "CAST(time AS BIGINT)"
    area = f"({v} + lag({v}) {over}) / 2.0 * CAST({t} - lag({t}) {over} AS DOUBLE)"
    cond = (where_sql + " AND " if where_sql else " WHERE ") + f"{x} IS NOT NULL"
    return f"(SELECT *, {area} AS __pe_area_0 FROM {ident(schema.name)}{cond}) AS {ident(schema.name)}"


def _multirow(call: ast.Call, fields: list[ast.Field], names: list[str], w: ExprWriter, schema: MeasurementSchema,
              db: str, where_sql: str, gcols: list[str], gnames: list[str], group_tags: list[str],
              bucket_sql: str | None, rng: TimeRange, desc: bool, stmt: ast.SelectStatement,
              ctx: QueryContext) -> list[Series]:
    """top, bottom, distinct: several rows per series (and bucket)."""
    p = multirow_plan(call, fields, w, schema.name, where_sql, gcols, gnames, bucket_sql)
    table = ctx.sql(db, p.sql)
    if p.point_times:
        table = table.append_column(TIME, table.column("__pe_t"))
    elif bucket_sql is not None:
        table = table.append_column(TIME, table.column(BUCKET))
    else:
        start = rng.lower if rng.lower is not None else 0
        table = table.append_column(TIME, pa.array([start] * table.num_rows, pa.int64()))
    cols, out_names, extra = [TIME], [TIME], iter(p.extra)
    for f, n in zip(fields, names):
        cols.append("__pe_c0" if f.expr is call else next(extra))
        out_names.append(n)
    for j, a in enumerate(call.args[1:-1] if call.name != "distinct" else ()):
        cols.append(f"__pe_tag{j}")
        out_names.append(a.name if isinstance(a, ast.VarRef) else f"tag{j}")
    series = _split(table, schema.name, group_tags, gnames, cols, out_names)
    if desc:
        series = [Series(s.name, s.table.take(pa.array(range(s.table.num_rows - 1, -1, -1), pa.int64())), s.tags)
                  for s in series]
    if stmt.limit is not None or stmt.offset:
        series = [_slice_rows(s, stmt.offset or 0, stmt.limit) for s in series]
    return [s for s in series if s.table.num_rows]


def _limit(sql: str, gnames: list[str], within: list[str], limit: int | None, offset: int | None) -> str:
    """Order by series then `within` a series; LIMIT/OFFSET count rows per series."""
    order = [ident(g) for g in gnames] + within
    if not gnames or (limit is None and not offset):
        tail = f" ORDER BY {', '.join(order)}"
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        if offset:
            tail += f" OFFSET {int(offset)}"
        return sql + tail
    part = ", ".join(ident(g) for g in gnames)
    rn_order = ", ".join(within)
    lo = int(offset or 0)
    cond = f"__pe_rn > {lo}" + (f" AND __pe_rn <= {lo + int(limit)}" if limit is not None else "")
    return (f"SELECT * EXCLUDE (__pe_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY {rn_order})"
            f" AS __pe_rn FROM ({sql})) WHERE {cond} ORDER BY {', '.join(order)}")


def _slice_rows(s: Series, offset: int, limit: int | None) -> Series:
    n = s.table.num_rows - offset if limit is None else limit
    return Series(s.name, s.table.slice(offset, max(n, 0)), s.tags)


def _split(table: pa.Table, name: str, tags: list[str], gnames: list[str], cols: list[str],
           out_names: list[str]) -> list[Series]:
    """Rows sorted by the group columns -> one Series per run of equal group values."""
    if table.num_rows == 0:
        return []
    body = table.select(cols).rename_columns(out_names)
    if not gnames:
        return [Series(name, body)]
    change = None
    for g in gnames:
        col = table.column(g).combine_chunks()
        neq = pc.not_equal(col.slice(1), col.slice(0, len(col) - 1))
        change = neq if change is None else pc.or_(change, neq)
    assert change is not None
    starts = [0] + [i + 1 for i in pc.indices_nonzero(change).to_pylist()] + [table.num_rows]
    firsts = table.select(gnames).take(pa.array(starts[:-1])).to_pylist()
    out = []
    for (lo, hi), keyrow in zip(zip(starts, starts[1:]), firsts):
        out.append(Series(name, body.slice(lo, hi - lo), {t: keyrow["__pe_g_" + t] for t in tags}))
    return out


def _fill(table: pa.Table, gnames: list[str], value_cols: list[str], fill: ast.FillOption | None, gb: GroupBy,
          rng: TimeRange, ctx: QueryContext, fields: list[ast.Field], desc: bool = False) -> pa.Table:
    mode = fill.mode if fill is not None else ast.FillMode.NULL
    if mode is ast.FillMode.NONE or table.num_rows == 0:
        return table.filter(_not_all_null(table, value_cols)) if table.num_rows else table
    assert gb.interval is not None
    interval = gb.interval
    lower = rng.lower if rng.lower is not None else pc.min(table.column(BUCKET)).as_py()
    upper = rng.upper if rng.upper is not None else ctx.now_ns
    first = _bucket(lower, interval, gb.offset)
    last = _bucket(upper, interval, gb.offset)
    n_bins = (last - first) // interval + 1
    keys = table.select(gnames).group_by(gnames).aggregate([]) if gnames else None
    n_series = keys.num_rows if keys is not None else 1
    if n_bins * n_series > ctx.max_buckets:
        raise InfluxQLError(f"GROUP BY time({interval}ns) over this range makes {n_bins * n_series} buckets, more than "
                            f"the {ctx.max_buckets} allowed: narrow the time range or use a larger interval")
    bins = pa.table({BUCKET: pa.array(range(first, last + 1, interval), pa.int64())})
    grid = bins if keys is None else _cross(keys, bins)
    table = table.filter(pc.and_(pc.greater_equal(table.column(BUCKET), first), pc.less_equal(table.column(BUCKET), last)))
    joined = grid.join(table, keys=[*gnames, BUCKET], join_type="left outer")
    joined = joined.sort_by([(g, "ascending") for g in gnames] + [(BUCKET, "ascending")])
    if mode is ast.FillMode.NULL:  # 1.x: an empty bucket counts 0, whatever fill(null) says
        for c, f in zip(value_cols, fields):
            if isinstance(f.expr, ast.Call) and f.expr.name == "count":
                i = joined.column_names.index(c)
                joined = joined.set_column(i, c, pc.fill_null(joined.column(c), pa.scalar(0, joined.column(c).type)))
    if mode is ast.FillMode.NUMBER:
        assert fill is not None and fill.value is not None
        for c in value_cols:
            i = joined.column_names.index(c)
            col = joined.column(c)
            val = pa.scalar(fill.value).cast(col.type) if pa.types.is_integer(col.type) and isinstance(fill.value, int) \
                else pa.scalar(fill.value)
            if not pa.types.is_integer(col.type) or isinstance(fill.value, int):
                joined = joined.set_column(i, c, pc.fill_null(col, val))
            else:
                joined = joined.set_column(i, c, pc.fill_null(pc.cast(col, pa.float64()), val))
    elif mode in (ast.FillMode.PREVIOUS, ast.FillMode.LINEAR):
        joined = _fill_per_series(joined, gnames, value_cols, mode, desc)
    return joined


def _not_all_null(table: pa.Table, cols: list[str]) -> pa.Array:
    mask = None
    for c in cols:
        v = pc.is_valid(table.column(c))
        mask = v if mask is None else pc.or_(mask, v)
    return mask


def _bucket(t: int, interval: int, offset: int) -> int:
    return t - ((t - offset) % interval)


def _cross(keys: pa.Table, bins: pa.Table) -> pa.Table:
    nk, nb = keys.num_rows, bins.num_rows
    flat = pa.array(range(nk * nb), pa.int64())
    kidx = pc.divide(flat, nb)
    bidx = pc.subtract(flat, pc.multiply(kidx, nb))
    out = keys.take(kidx)
    return out.append_column(BUCKET, bins.column(BUCKET).take(bidx))


def _fill_per_series(joined: pa.Table, gnames: list[str], value_cols: list[str], mode: ast.FillMode,
                     desc: bool = False) -> pa.Table:
    """`desc`: previous means the bucket before in the order asked for (as 1.x), the later one in time."""
    if gnames:
        series = _split(joined, "", [], gnames, joined.column_names, joined.column_names)
        parts = [s.table for s in series]
    else:
        parts = [joined]
    filled = []
    for part in parts:
        for c in value_cols:
            i = part.column_names.index(c)
            col = part.column(c).combine_chunks()
            if mode is ast.FillMode.PREVIOUS:
                part = part.set_column(i, c, pc.fill_null_backward(col) if desc else pc.fill_null_forward(col))
            elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
                part = part.set_column(i, c, _linear(col, part.column(BUCKET).combine_chunks()))
        filled.append(part)
    return pa.concat_tables(filled) if filled else joined


def _linear(values: pa.Array, times: pa.Array) -> pa.Array:
    """Nulls between two values become the straight line between them; edges stay null."""
    valid = pc.is_valid(values)
    vt = pc.if_else(valid, times, pa.scalar(None, times.type))
    prev_v, next_v = pc.fill_null_forward(values), pc.fill_null_backward(values)
    prev_t, next_t = pc.fill_null_forward(vt), pc.fill_null_backward(vt)
    gap = pc.and_(pc.invert(valid), pc.and_(pc.is_valid(prev_t), pc.is_valid(next_t)))
    span = pc.if_else(gap, pc.subtract(next_t, prev_t), pa.scalar(None, times.type))  # null off the gaps
    if pa.types.is_integer(values.type):  # integer arithmetic, truncating, as 1.x
        rise = pc.multiply(pc.subtract(next_v, prev_v), pc.subtract(times, prev_t))
        line = pc.add(prev_v, pc.cast(pc.trunc(pc.divide(pc.cast(rise, pa.float64()), pc.cast(span, pa.float64()))),
                                      values.type))
    else:
        fv = pc.cast(prev_v, pa.float64())
        frac = pc.divide(pc.cast(pc.subtract(times, prev_t), pa.float64()), pc.cast(span, pa.float64()))
        line = pc.add(fv, pc.multiply(pc.subtract(pc.cast(next_v, pa.float64()), fv), frac))
    return pc.if_else(valid, values, line)

