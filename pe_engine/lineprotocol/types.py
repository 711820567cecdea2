"""Data shapes that leave the line-protocol parser.

Both parser implementations (pure Python and the C accelerator) return exactly
these, so the storage layer never needs to know which one ran.
"""
from __future__ import annotations

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


@dataclass(slots=True)
class ParsedTable:
    """Column-oriented rows of one table from one body.

    Every list has `rows` entries. Absent tags/fields are None. Column dicts keep
    first-seen order. Types are consistent within a body: a line whose field type
    disagrees with an earlier line of the same body is rejected by the parser.
    """

    name: str
    rows: int = 0
    line_numbers: list[int] = field(default_factory=list)
    time: list[int] = field(default_factory=list)  # nanoseconds since epoch
    tags: dict[str, list] = field(default_factory=dict)
    fields: dict[str, tuple[FieldType, list]] = field(default_factory=dict)


@dataclass(slots=True)
class ParseResult:
    tables: dict[str, ParsedTable] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())
