"""The typed InfluxQL syntax tree the parser builds and the planner reads.

Frozen dataclasses, so statements can be compared in tests and cached by text. Names follow
InfluxDB 1.x's own `influxql` package where one exists, so its documentation maps onto these.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union


class BinaryOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    BITAND = "&"
    BITOR = "|"
    BITXOR = "^"
    EQ = "="
    NEQ = "!="
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    EQ_REGEX = "=~"
    NEQ_REGEX = "!~"
    AND = "AND"
    OR = "OR"

    @property
    def is_comparison(self) -> bool:
        return self in _COMPARISONS

    @property
    def is_logical(self) -> bool:
        return self in (BinaryOp.AND, BinaryOp.OR)


_COMPARISONS = frozenset({
    BinaryOp.EQ, BinaryOp.NEQ, BinaryOp.LT, BinaryOp.LTE, BinaryOp.GT, BinaryOp.GTE,
    BinaryOp.EQ_REGEX, BinaryOp.NEQ_REGEX,
})


class DataType(enum.Enum):
    """A `::type` cast on a variable reference (`usage::float`, `host::tag`)."""
    FLOAT = "float"
    INTEGER = "integer"
    UNSIGNED = "unsigned"
    STRING = "string"
    BOOLEAN = "boolean"
    FIELD = "field"
    TAG = "tag"


class WildcardKind(enum.Enum):
    ALL = "*"
    FIELD = "*::field"
    TAG = "*::tag"


# --- expressions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class VarRef:
    """A field, tag or `time`; `name` is unquoted (the parser strips `"..."`)."""
    name: str
    cast: DataType | None = None


@dataclass(frozen=True)
class Wildcard:
    kind: WildcardKind = WildcardKind.ALL


@dataclass(frozen=True)
class RegexLiteral:
    """`/pattern/` with `\\/` already unescaped; Go RE2 syntax, which Rust's regex mostly shares."""
    pattern: str


@dataclass(frozen=True)
class IntegerLiteral:
    value: int


@dataclass(frozen=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True)
class StringLiteral:
    """`'text'`. Compared with `time`, the planner reads it as an RFC3339 timestamp."""
    value: str


@dataclass(frozen=True)
class BooleanLiteral:
    value: bool


@dataclass(frozen=True)
class DurationLiteral:
    """`10s`, `1h30m`: nanoseconds."""
    nanoseconds: int


@dataclass(frozen=True)
class BoundParameter:
    """`$name`, filled from the request's `params`."""
    name: str


@dataclass(frozen=True)
class Call:
    """A function: `mean(usage)`, `now()`, `time(1m)` in GROUP BY, `percentile(x, 95)`.
    `name` is lower-cased."""
    name: str
    args: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class Distinct:
    """`SELECT DISTINCT field` (the keyword form of `distinct(field)`)."""
    name: str


@dataclass(frozen=True)
class UnaryMinus:
    """`-expr` where expr is not a literal (the parser folds `-1` into the literal)."""
    expr: Expr


@dataclass(frozen=True)
class BinaryExpr:
    op: BinaryOp
    lhs: Expr
    rhs: Expr


Expr = Union[
    VarRef, Wildcard, RegexLiteral, IntegerLiteral, NumberLiteral, StringLiteral, BooleanLiteral,
    DurationLiteral, BoundParameter, Call, Distinct, UnaryMinus, BinaryExpr,
]


# --- SELECT ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measurement:
    """`cpu`, `"my db"."autogen"."cpu"`, `db..cpu` or `/^cpu/` (then `regex` is set, `name` None)."""
    name: str | None = None
    regex: str | None = None
    database: str | None = None
    retention_policy: str | None = None


@dataclass(frozen=True)
class SubQuery:
    statement: SelectStatement


Source = Union[Measurement, SubQuery]


@dataclass(frozen=True)
class Field:
    expr: Expr
    alias: str | None = None


class FillMode(enum.Enum):
    NULL = "null"
    NONE = "none"
    PREVIOUS = "previous"
    LINEAR = "linear"
    NUMBER = "number"  # `fill(0)`, `fill(-1.5)`: FillOption.value holds it


@dataclass(frozen=True)
class FillOption:
    mode: FillMode = FillMode.NULL
    value: int | float | None = None


@dataclass(frozen=True)
class SortField:
    """InfluxQL sorts only by `time`; the parser accepts any name so the planner can say so."""
    name: str = "time"
    ascending: bool = True


@dataclass(frozen=True)
class Into:
    """`INTO` target; parsed so the planner can refuse it with a clear message."""
    measurement: Measurement


@dataclass(frozen=True)
class SelectStatement:
    fields: tuple[Field, ...]
    sources: tuple[Source, ...]
    condition: Expr | None = None
    dimensions: tuple[Expr, ...] = ()  # GROUP BY: Call("time", ...), VarRef, Wildcard, RegexLiteral
    fill: FillOption | None = None  # None: no fill() clause (the default, fill(null), applies)
    sort: tuple[SortField, ...] = ()
    limit: int | None = None
    offset: int | None = None
    slimit: int | None = None
    soffset: int | None = None
    timezone: str | None = None  # tz('Europe/Paris')
    into: Into | None = None


# --- other statements -----------------------------------------------------------------------

class TagKeyOp(enum.Enum):
    """How `SHOW TAG VALUES WITH KEY ...` picks keys."""
    EQ = "="
    NEQ = "!="
    EQ_REGEX = "=~"
    NEQ_REGEX = "!~"
    IN = "IN"


@dataclass(frozen=True)
class ShowDatabases:
    pass


@dataclass(frozen=True)
class ShowRetentionPolicies:
    database: str | None = None  # ON db


@dataclass(frozen=True)
class ShowMeasurements:
    database: str | None = None
    measurement: Measurement | None = None  # WITH MEASUREMENT = name | =~ /regex/
    measurement_op: BinaryOp | None = None  # EQ, NEQ, EQ_REGEX or NEQ_REGEX
    condition: Expr | None = None
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class ShowTagKeys:
    database: str | None = None
    sources: tuple[Source, ...] = ()
    condition: Expr | None = None
    limit: int | None = None
    offset: int | None = None
    slimit: int | None = None
    soffset: int | None = None


@dataclass(frozen=True)
class ShowTagValues:
    key_op: TagKeyOp
    keys: tuple[str, ...] = ()  # for EQ, NEQ and IN
    key_regex: str | None = None  # for EQ_REGEX and NEQ_REGEX
    database: str | None = None
    sources: tuple[Source, ...] = ()
    condition: Expr | None = None
    limit: int | None = None
    offset: int | None = None
    slimit: int | None = None
    soffset: int | None = None


@dataclass(frozen=True)
class ShowFieldKeys:
    database: str | None = None
    sources: tuple[Source, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class ShowSeries:
    database: str | None = None
    sources: tuple[Source, ...] = ()
    condition: Expr | None = None
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class CreateDatabase:
    name: str


@dataclass(frozen=True)
class DropDatabase:
    name: str


@dataclass(frozen=True)
class Explain:
    statement: SelectStatement
    analyze: bool = False


Statement = Union[
    SelectStatement, ShowDatabases, ShowRetentionPolicies, ShowMeasurements, ShowTagKeys,
    ShowTagValues, ShowFieldKeys, ShowSeries, CreateDatabase, DropDatabase, Explain,
]


@dataclass(frozen=True)
class Query:
    """What one `q=` holds: statements separated by `;`."""
    statements: tuple[Statement, ...] = field(default_factory=tuple)
