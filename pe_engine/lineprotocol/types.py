"""Data shapes that leave the line-protocol parser.

Both parser implementations (pure Python and the C accelerator) return exactly
these, so the storage layer never needs to know which one ran.
"""
from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum


class FieldType(IntEnum):
    """The five InfluxDB field types. Values are stable: they go into the WAL and the store."""

    FLOAT = 0
    INT = 1
    UINT = 2
    STRING = 3
    BOOL = 4

    @property
    def iox_name(self) -> str:
        """Name InfluxDB 3 uses in type-conflict messages (`iox::column_type::field::<name>`)."""
        return ("float", "integer", "uinteger", "string", "boolean")[self]


def iox_type_name(kind: str, field_type: FieldType | None) -> str:
    """A column type as InfluxDB 3 names it in type-conflict messages."""
    if kind == "tag":
        return "iox::column_type::tag"
    if kind == "time":
        return "iox::column_type::timestamp"
    assert field_type is not None
    return f"iox::column_type::field::{field_type.iox_name}"


@dataclass(slots=True)
class LineError:
    """One rejected line: what a person needs to find and fix it."""

    line_number: int  # 1-based, counting every line of the body (blank and comment lines too)
    original_line: str  # the line, truncated to MAX_ERROR_LINE chars
    message: str

    def to_json(self) -> dict:
        return {
            "original_line": self.original_line,
            "line_number": self.line_number,
            "error_message": self.message,
        }


MAX_ERROR_LINE = 256
MAX_ERROR_MESSAGE = 1024  # an error message is cut to this many characters in an answer


class LineErrors(list[LineError]):
    """The line errors an answer reports (at most MAX_REPORTED_ERRORS of them), plus how
    many more lines were rejected but only counted."""

    omitted: int = 0

    def __init__(self, errors: Iterable[LineError] = (), omitted: int = 0) -> None:
        super().__init__(errors)
        self.omitted = omitted

    @property
    def total(self) -> int:
        return len(self) + self.omitted


@dataclass(slots=True)
class ParsedTable:
    """Column-oriented rows of one table from one body, stored sparsely.

    `line_numbers` and `time` have `rows` entries. A column (`tags[key]`, `fields[key][1]`)
    holds only the values present, in row order; `index[key]` gives their row numbers
    (an ``array('q')``). A column without an `index` entry is dense: it has `rows` entries
    (None where absent) — what the parser emits for a column every row has, and what
    hand-built tables use. So memory is proportional to the cells a body holds, never to
    rows x columns. Column dicts keep first-seen order; tag and field keys are disjoint.
    Types are consistent within a body: a line whose field type disagrees with an earlier
    line of the same body is rejected by the parser.
    """

    name: str
    rows: int = 0
    line_numbers: list[int] = field(default_factory=list)
    time: list[int] = field(default_factory=list)  # nanoseconds since epoch
    tags: dict[str, list] = field(default_factory=dict)
    fields: dict[str, tuple[FieldType, list]] = field(default_factory=dict)
    index: dict[str, array] = field(default_factory=dict)  # sparse column -> row of each value

    def values(self, key: str) -> list:
        """The stored values of a column (present cells only when it is sparse)."""
        return self.tags[key] if key in self.tags else self.fields[key][1]

    def value_rows(self, key: str) -> Sequence[int]:
        """Row numbers that have a value in this column, ascending."""
        rows = self.index.get(key)
        if rows is not None:
            return rows
        return [i for i, v in enumerate(self.values(key)) if v is not None]

    def column(self, key: str) -> list:
        """A column padded to every row (None where absent): for tests and small tables."""
        values = self.values(key)
        rows = self.index.get(key)
        if rows is None:
            return list(values)
        out: list = [None] * self.rows
        for r, v in zip(rows, values):
            out[r] = v
        return out

    def dense_tags(self) -> dict[str, list]:
        return {k: self.column(k) for k in self.tags}

    def dense_fields(self) -> dict[str, tuple[FieldType, list]]:
        return {k: (ft, self.column(k)) for k, (ft, _) in self.fields.items()}


@dataclass(frozen=True, slots=True)
class SchemaLimits:
    """What the catalog can still take, handed to the parser as plain data.

    `columns_of(table)` gives the catalog's column names of a table (time included), or
    None when the catalog has no such table. When it gives a dict of name -> kind (-1 a tag,
    -2 time, else the FieldType), those types are the body's too: a line that disagrees with
    the catalog is rejected by the parser, and the lines after it are judged by the catalog's
    type, not by that line's. Limits of 0 are off. The catalog stays the
    final judge (it checks again on the loop); this only stops a body early.
    """

    database: str
    max_tables: int = 0
    max_columns: int = 0
    known_tables: int = 0
    columns_of: Callable[[str], Collection[str] | None] | None = None


MAX_REPORTED_ERRORS = 100  # line errors a parse keeps in full; the rest are only counted


@dataclass(slots=True)
class ParseResult:
    tables: dict[str, ParsedTable] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS
    error_count: int = -1  # every rejected line, reported or not; -1 = len(errors)

    @property
    def rejected(self) -> int:
        """How many lines were rejected, including those not kept in `errors`."""
        return len(self.errors) if self.error_count < 0 else self.error_count

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())
