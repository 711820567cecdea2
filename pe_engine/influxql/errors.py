"""InfluxQL's errors, worded as InfluxDB 1.x words them where clients match on the text."""
from __future__ import annotations


class InfluxQLError(Exception):
    """A statement pe cannot answer; the message is what the client sees."""


class InfluxQLSyntaxError(InfluxQLError):
    """Text that does not parse. `line` and `char` are 1-based, as 1.x reports them
    (`error parsing query: found X, expected Y at line 1, char 8`)."""

    def __init__(self, detail: str, line: int, char: int) -> None:
        self.detail = detail
        self.line = line
        self.char = char
        super().__init__(f"error parsing query: {detail} at line {line}, char {char}")


class InfluxQLUnsupported(InfluxQLError):
    """Valid InfluxQL that pe does not run (yet); says what instead of a wrong answer."""
