"""date_bin_gapfill(interval, time[, origin]) with locf() and interpolate(), as InfluxDB 3.

DataFusion's Python bindings cannot add a plan node, so a gap-filling statement runs
in three steps, all in DataFusion:

1. The statement is rewritten: date_bin_gapfill -> date_bin, locf(x)/interpolate(x) -> x,
   ORDER BY/LIMIT/OFFSET kept for later, GROUP BY keys not in the select list added as
   hidden columns. It runs as an ordinary aggregate.
2. The time range comes from the WHERE clause (`time >= a`, `time > a`, `time <= b`,
   `time < b`, `BETWEEN`, joined by AND); without both bounds the statement fails with
   InfluxDB's message. The bins run from date_bin(lower) to date_bin(upper) (an exclusive
   bound moved by 1 ns), as InfluxDB's GapFill does.
3. In a scratch context: every series (distinct GROUP BY values in the aggregate) crossed
   with every bin, left-joined with the aggregate; then window functions per series fill:
   locf = the last non-null value so far (nulls count as missing, as InfluxDB's LOCF);
   interpolate = linear between the rows before and after an inserted row (existing rows
   and their nulls are kept); count() is 0 in inserted rows; anything else is null.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import pyarrow as pa
from datafusion import DataFrame, SessionConfig, SessionContext
from sqlglot import exp

from .timefns import wallclock_series
from .typed import DIALECT, call, fn_args, fn_name, public_name

GAPFILL = "date_bin_gapfill"
WALLCLOCK_GAPFILL = "date_bin_wallclock_gapfill"
BINNERS = {GAPFILL: "date_bin", WALLCLOCK_GAPFILL: "date_bin_wallclock"}  # gap-filling -> plain
FILLERS = ("locf", "interpolate")
MAX_ROWS = 10_000_000

Planner = Callable[[str], DataFrame]


class Fill(Enum):
    NULL = "null"
    ZERO = "zero"  # count() in an inserted row
    LOCF = "locf"
    INTERPOLATE = "interpolate"


class Role(Enum):
    TIME = "time"
    GROUP = "group"
    VALUE = "value"
    HIDDEN = "hidden"  # a GROUP BY key that is not selected


@dataclass
class Column:
    role: Role
    fill: Fill = Fill.NULL
    rename: str | None = None  # the public name when DataFusion's would differ


def uses_gapfill(tree: exp.Expr) -> bool:
    return any(fn_name(n) in BINNERS for n in tree.find_all(exp.Anonymous))


def uses_fillers(tree: exp.Expr) -> str | None:
    for n in tree.find_all(exp.Anonymous):
        if fn_name(n) in FILLERS:
            return fn_name(n)
    return None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unalias(e: exp.Expr) -> exp.Expr:
    return e.this if isinstance(e, exp.Alias) else e


def _is_col(e: exp.Expr, name: str) -> bool:
    return isinstance(e, exp.Column) and e.name.lower() == name.lower()


def _no_columns(e: exp.Expr) -> bool:
    return not any(True for _ in e.find_all(exp.Column))


@dataclass
class _Bounds:
    lower: list[tuple[exp.Expr, bool]]  # (expr, inclusive)
    upper: list[tuple[exp.Expr, bool]]


def _conjuncts(e: exp.Expr | None) -> list[exp.Expr]:
    if e is None:
        return []
    e = e.unnest() if isinstance(e, exp.Paren) else e
    if isinstance(e, exp.And):
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _bounds(where: exp.Expr | None, time: str) -> _Bounds:
    b = _Bounds([], [])
    for c in _conjuncts(where.this if isinstance(where, exp.Where) else where):
        if isinstance(c, exp.Between) and _is_col(c.this, time):
            b.lower.append((c.args["low"], True))
            b.upper.append((c.args["high"], True))
            continue
        kinds = {exp.GTE: ("lower", True), exp.GT: ("lower", False), exp.LTE: ("upper", True), exp.LT: ("upper", False)}
        flipped = {"lower": "upper", "upper": "lower"}
        for cls, (side, inclusive) in kinds.items():
            if isinstance(c, cls):
                if _is_col(c.left, time):
                    getattr(b, side).append((c.right, inclusive))
                elif _is_col(c.right, time):
                    getattr(b, flipped[side]).append((c.left, inclusive))
    if not b.lower and not b.upper:
        raise ValueError("gap-filling query is missing both upper and lower time bounds")
    if not b.lower:
        raise ValueError("gap-filling query is missing lower time bound")
    if not b.upper:
        raise ValueError("gap-filling query is missing upper time bound")
    for what, found in (("lower", b.lower), ("upper", b.upper)):
        if not all(_no_columns(e) for e, _ in found):
            raise ValueError(f"{what} time bound for gap fill query must evaluate to a scalar")
    return b


def _evaluate_ns(plan: Planner, exprs: list[str]) -> list[int]:
    """Evaluate constant SQL expressions to int64 values, in the user's session."""
    sql = "SELECT " + ", ".join(f"{e} AS v{i}" for i, e in enumerate(exprs))
    row = plan(sql).to_arrow_table()
    out = []
    for i in range(len(exprs)):
        v = row.column(i)[0].as_py() if row.num_rows else None
        if v is None:
            raise ValueError("a time bound of the gap-filling query is null")
        out.append(int(v))
    return out


def _ts(e: exp.Expr) -> str:
    return f"CAST(CAST({e.sql(dialect=DIALECT)} AS TIMESTAMP) AS BIGINT)"


@dataclass
class _Range:
    lo: int  # the first and last instants the WHERE clause lets in (ns)
    hi: int
    stride: int
    origin: exp.Expr | None
    interval: str


def _range(plan: Planner, node: exp.Expr, b: _Bounds) -> _Range:
    args = fn_args(node)
    los = _evaluate_ns(plan, [_ts(e) for e, _ in b.lower])
    his = _evaluate_ns(plan, [_ts(e) for e, _ in b.upper])
    lo = max(v if inc else v + 1 for v, (_, inc) in zip(los, b.lower))
    hi = min(v if inc else v - 1 for v, (_, inc) in zip(his, b.upper))
    interval = args[0].sql(dialect=DIALECT)
    zero, one = _evaluate_ns(plan, ["CAST(to_timestamp_nanos(0) AS BIGINT)", f"CAST(to_timestamp_nanos(0) + {interval} AS BIGINT)"])
    if one - zero <= 0:
        raise ValueError(f"{fn_name(node)}: the interval must be positive")
    return _Range(lo, hi, one - zero, args[2] if len(args) > 2 else None, interval)


def _bins(plan: Planner, r: _Range, wallclock: bool, ttype: pa.DataType) -> pa.Array:
    """The bin starts, as `ttype`: date_bin's from lo's bin to hi's, or the wall clock's."""
    zone = getattr(ttype, "tz", None)
    if wallclock and zone is not None and zone.upper() not in ("UTC", "+00:00"):
        origin = _evaluate_ns(plan, [_ts(r.origin)])[0] if r.origin is not None else 0
        count = (r.hi - r.lo) // r.stride + 2
        if count > MAX_ROWS:
            raise ValueError(f"gap filling would produce more than {MAX_ROWS} bins: narrow the time range")
        return wallclock_series(r.lo, r.hi, zone, r.stride, origin).cast(ttype)
    origin_sql = f", {r.origin.sql(dialect=DIALECT)}" if r.origin is not None else ""

    def binned(v: int) -> str:
        return f"CAST(date_bin({r.interval}, to_timestamp_nanos({v}){origin_sql}) AS BIGINT)"

    first, last = _evaluate_ns(plan, [binned(r.lo), binned(r.hi)])
    count = (last - first) // r.stride + 1 if last >= first else 0
    if count > MAX_ROWS:
        raise ValueError(f"gap filling would produce more than {MAX_ROWS} bins: narrow the time range")
    return pa.array(range(first, last + 1, r.stride) if count else [], pa.int64()).cast(ttype)


def _plan_columns(select: exp.Select) -> tuple[list[Column], exp.Anonymous]:
    """Classify the select list; strip locf/interpolate; add hidden GROUP BY keys."""
    projections = list(select.expressions)
    cols: list[Column] = []
    gap: exp.Anonymous | None = None
    for p in projections:
        inner = _unalias(p)
        if isinstance(inner, exp.Anonymous) and fn_name(inner) in BINNERS:
            gap = inner
            cols.append(Column(Role.TIME))
            continue
        if isinstance(inner, exp.Anonymous) and fn_name(inner) in FILLERS:
            args = fn_args(inner)
            if len(args) != 1:
                raise ValueError(f"{fn_name(inner)} takes one argument, an aggregate")
            fill = Fill.LOCF if fn_name(inner) == "locf" else Fill.INTERPOLATE
            rename = None if isinstance(p, exp.Alias) else fn_name(inner)
            inner.replace(args[0])
            cols.append(Column(Role.VALUE, fill, rename))
            continue
        if any(fn_name(n) in FILLERS for n in inner.find_all(exp.Anonymous)):
            raise ValueError("locf and interpolate must wrap a whole column of the SELECT list, e.g. locf(avg(x))")
        cols.append(Column(Role.VALUE, Fill.ZERO if isinstance(inner, exp.Count) else Fill.NULL))
    if gap is None:
        raise ValueError("date_bin_gapfill must be a column of the outermost SELECT list")
    group = select.args.get("group")
    if group is None:
        raise ValueError("a gap-filling query needs GROUP BY with its date_bin_gapfill column")
    aliases = {p.alias.lower(): i for i, p in enumerate(projections) if isinstance(p, exp.Alias)}
    keyed_time = False
    for g in group.expressions:
        at: int | None = None
        if isinstance(g, exp.Literal) and not g.is_string:
            at = int(g.this) - 1
        elif isinstance(g, exp.Column) and not g.table and g.name.lower() in aliases:
            at = aliases[g.name.lower()]
        else:
            at = next((i for i, p in enumerate(projections) if _unalias(p) == g), None)
        if at is not None and 0 <= at < len(cols):
            if cols[at].role is Role.TIME:
                keyed_time = True
            else:
                cols[at].role = Role.GROUP
        elif isinstance(g, exp.Anonymous) and fn_name(g) in BINNERS:
            keyed_time = True
        else:
            select.append("expressions", exp.alias_(g.copy(), f"__pe_g{len(cols)}"))
            cols.append(Column(Role.HIDDEN))
    if not keyed_time:
        raise ValueError("date_bin_gapfill must be in the GROUP BY of a gap-filling query")
    return cols, gap


def _order_keys(select: exp.Select, order: exp.Order | None, names: list[str], projections: list[exp.Expr]) -> str:
    """ORDER BY over the output columns of the filled table."""
    if order is None:
        return ""
    aliases = {p.alias.lower(): i for i, p in enumerate(projections) if isinstance(p, exp.Alias)}
    keys = []
    for o in order.expressions:
        e = o.this
        if isinstance(e, exp.Literal) and not e.is_string:
            at = int(e.this) - 1
        elif isinstance(e, exp.Column) and not e.table and e.name.lower() in aliases:
            at = aliases[e.name.lower()]
        else:
            at = next((i for i, p in enumerate(projections) if _unalias(p) == e), -1)
            if at < 0 and isinstance(e, exp.Column):
                at = next((i for i, n in enumerate(names) if n.lower() == e.name.lower()), -1)
        if not 0 <= at < len(names):
            raise ValueError(f"ORDER BY {e.sql(dialect=DIALECT)}: a gap-filling query can only order by its output columns")
        key = _q(names[at]) + (" DESC" if o.args.get("desc") else " ASC")
        if o.args.get("nulls_first") is not None:
            key += " NULLS FIRST" if o.args["nulls_first"] else " NULLS LAST"
        keys.append(key)
    return " ORDER BY " + ", ".join(keys)


@dataclass
class _Prepared:
    """A gap-filling SELECT taken apart: the aggregate to run and what the filling needs."""

    select: exp.Select  # the aggregate (date_bin instead of date_bin_gapfill, no ORDER/LIMIT)
    cols: list[Column]
    span: _Range
    gap_name: str
    time_rename: str | None
    order: exp.Order | None
    limit: exp.Expr | None
    offset: exp.Expr | None
    original: list[exp.Expr]  # the select list as written (ORDER BY may repeat an expression)


def _prepare(tree: exp.Expr, plan: Planner, bind: Callable[[exp.Expr], None]) -> _Prepared:
    if not isinstance(tree, exp.Select):
        raise ValueError("date_bin_gapfill is supported in a plain SELECT (not in UNION or subqueries)")
    select = tree
    order = select.args.get("order")
    limit = select.args.get("limit")
    offset = select.args.get("offset")
    for key in ("order", "limit", "offset"):
        select.set(key, None)
    original = [p.copy() for p in select.expressions]
    cols, gap = _plan_columns(select)
    gap_name = fn_name(gap)
    args = fn_args(gap)
    time_col = args[1] if len(args) > 1 else None
    if time_col is not None and not isinstance(time_col, exp.Column):
        time_col = next(time_col.find_all(exp.Column), None)  # e.g. tz(time, 'Europe/Paris')
    if not isinstance(time_col, exp.Column):
        raise ValueError(f"{gap_name}: the second argument must be the time column")
    span = _range(plan, gap, _bounds(select.args.get("where"), time_col.name))
    time_rename = None
    for i, c in enumerate(cols):
        if c.role is Role.TIME and not isinstance(select.expressions[i], exp.Alias):
            time_rename = gap_name
    for n in [n for n in select.find_all(exp.Anonymous) if fn_name(n) in BINNERS]:
        n.replace(call(BINNERS[fn_name(n)], fn_args(n)))
    bind(select)
    return _Prepared(select, cols, span, gap_name, time_rename, order, limit, offset, original)


def aggregate_sql(tree: exp.Expr, plan: Planner, bind: Callable[[exp.Expr], None]) -> str:
    """The aggregate statement a gap-filling SELECT starts from (what EXPLAIN shows)."""
    return _prepare(tree, plan, bind).select.sql(dialect=DIALECT)


def run_gapfill(
    tree: exp.Expr, plan: Planner, kinds_of: Callable[[DataFrame], dict[int, str]],
    bind: Callable[[exp.Expr], None],
) -> tuple[DataFrame, dict[str, str]]:
    """Run a gap-filling SELECT (already bound to typed functions): the filled DataFrame, and
    the column types (storage/column_types.py) of its columns, read off the aggregate's plan."""
    p = _prepare(tree, plan, bind)
    select, cols, span, gap_name, time_rename = p.select, p.cols, p.span, p.gap_name, p.time_rename
    order, limit, offset, original = p.order, p.limit, p.offset, p.original
    inner = plan(select.sql(dialect=DIALECT))
    kinds = kinds_of(inner)
    agg = inner.to_arrow_table()
    names = agg.column_names
    public = list(names)
    for i, c in enumerate(cols):
        plain = BINNERS.get(time_rename or "", "")
        if c.role is Role.TIME and time_rename and public_name(names[i]).startswith(plain + "("):
            public[i] = time_rename + public_name(names[i])[len(plain):]
        if c.rename:
            public[i] = f"{c.rename}({names[i]})"
    t_at = next(i for i, c in enumerate(cols) if c.role is Role.TIME)
    bins = _bins(plan, span, gap_name == WALLCLOCK_GAPFILL, agg.schema.field(t_at).type)
    filled = _fill(agg, cols, public, bins, _order_keys(select, order, public, original), limit, offset)
    return filled, {public[i]: k for i, k in kinds.items() if cols[i].role in (Role.GROUP, Role.VALUE)}


def _fill(
    agg: pa.Table, cols: list[Column], public: list[str], bins: pa.Array,
    order_by: str, limit: exp.Expr | None, offset: exp.Expr | None,
) -> DataFrame:
    names = agg.column_names
    t_at = next(i for i, c in enumerate(cols) if c.role is Role.TIME)
    tname = names[t_at]
    keys = [names[i] for i, c in enumerate(cols) if c.role in (Role.GROUP, Role.HIDDEN)]
    scratch = SessionContext(SessionConfig().with_target_partitions(1))
    scratch.register_record_batches("a", [agg.to_batches() or [pa.RecordBatch.from_pylist([], schema=agg.schema)]])
    series = 1
    if keys:
        distinct = f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(_q(k) for k in keys)} FROM a) s"
        series = scratch.sql(distinct).to_arrow_table().column(0)[0].as_py()
    if len(bins) * series > MAX_ROWS:
        raise ValueError(
            f"gap filling would produce {len(bins) * series} rows (more than {MAX_ROWS}): "
            "narrow the time range or widen the interval"
        )
    table = pa.table({"__pe_t": bins})
    scratch.register_record_batches("b", [table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]])

    times = f"SELECT __pe_t FROM b UNION SELECT {_q(tname)} FROM a"
    if keys:
        kq = ", ".join(f"s.{_q(k)}" for k in keys)
        grid = f"SELECT {kq}, t.__pe_t FROM (SELECT DISTINCT {', '.join(_q(k) for k in keys)} FROM a) s CROSS JOIN ({times}) t"
        on = " AND ".join([f"(g.{_q(k)} IS NOT DISTINCT FROM a.{_q(k)})" for k in keys] + [f"g.__pe_t = a.{_q(tname)}"])
    else:
        grid = f"SELECT t.__pe_t FROM ({times}) t"
        on = f"g.__pe_t = a.{_q(tname)}"
    outs = []
    for i, c in enumerate(cols):
        n = names[i]
        if c.role is Role.TIME:
            outs.append(f"g.__pe_t AS {_q(n)}")
        elif c.role in (Role.GROUP, Role.HIDDEN):
            outs.append(f"g.{_q(n)} AS {_q(n)}")
        else:
            outs.append(f"a.{_q(n)} AS {_q(n)}")
    joined = f"SELECT {', '.join(outs)}, a.{_q(tname)} IS NULL AS __pe_gap FROM ({grid}) g LEFT JOIN a ON {on}"

    part = f"PARTITION BY {', '.join(_q(k) for k in keys)} " if keys else ""
    win = f"OVER ({part}ORDER BY {_q(tname)} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    ahead = f"OVER ({part}ORDER BY {_q(tname)} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)"
    stage = []  # window results, named per column
    final = []
    for i, c in enumerate(cols):
        n, out = names[i], _q(public[i])
        if c.role is Role.HIDDEN:
            continue
        if c.role is not Role.VALUE or c.fill is Fill.NULL:
            final.append(f"{_q(n)} AS {out}")
        elif c.fill is Fill.ZERO:
            final.append(f"CASE WHEN __pe_gap THEN 0 ELSE {_q(n)} END AS {out}")
        elif c.fill is Fill.LOCF:
            stage.append(f"last_value({_q(n)}) IGNORE NULLS {win} AS __pe_l{i}")
            final.append(f"__pe_l{i} AS {out}")
        else:
            vtype = agg.schema.field(i).type
            if not (pa.types.is_integer(vtype) or pa.types.is_floating(vtype)):
                raise ValueError(f"interpolate needs a numeric column, {public[i]} is {vtype}")
            point = f"CASE WHEN NOT __pe_gap THEN named_struct('t', CAST({_q(tname)} AS BIGINT), 'v', {_q(n)}) END"
            stage.append(f"last_value({point}) IGNORE NULLS {win} AS __pe_p{i}")
            stage.append(f"first_value({point}) IGNORE NULLS {ahead} AS __pe_n{i}")
            p, nx = f"__pe_p{i}", f"__pe_n{i}"
            frac = f"CAST(CAST({_q(tname)} AS BIGINT) - {p}['t'] AS DOUBLE) / CAST({nx}['t'] - {p}['t'] AS DOUBLE)"
            value = f"CAST({p}['v'] AS DOUBLE) + (CAST({nx}['v'] AS DOUBLE) - CAST({p}['v'] AS DOUBLE)) * {frac}"
            final.append(f"CASE WHEN __pe_gap THEN arrow_cast({value}, '{_arrow_name(vtype)}') ELSE {_q(n)} END AS {out}")
    windows = f"SELECT *{''.join(', ' + s for s in stage)} FROM ({joined}) j"
    default_order = " ORDER BY " + ", ".join(_q(k) for k in keys + [tname])
    sql = f"SELECT {', '.join(final)} FROM ({windows}) w" + (default_order if not order_by else "")
    if order_by:
        sql = f"SELECT * FROM ({sql}) o{order_by}"
    if limit is not None:
        sql += " " + limit.sql(dialect=DIALECT)
    if offset is not None:
        sql += " " + offset.sql(dialect=DIALECT)
    return scratch.sql(sql)


def _arrow_name(t: pa.DataType) -> str:
    """arrow_cast() type text for the numeric types interpolate keeps."""
    table = {
        pa.float64(): "Float64", pa.float32(): "Float32", pa.int64(): "Int64", pa.int32(): "Int32",
        pa.int16(): "Int16", pa.int8(): "Int8", pa.uint64(): "UInt64", pa.uint32(): "UInt32",
        pa.uint16(): "UInt16", pa.uint8(): "UInt8",
    }
    return table.get(t, "Float64")
