"""LineBuilder: the line-protocol helper InfluxDB 3 puts in every plugin's builtins.

Behaviour follows the current InfluxDB 3 Core implementation (not the older copy
in the docs), quirks included, because plugins are written against it:

* tag keys are validated but never escaped; tag values and field keys escape
  backslash, comma, equals sign and space; the measurement escapes only comma
  and space;
* values are formatted when set (``fields`` holds ready-to-write LP text) and
  nothing is range-checked except negative uint64 values.

This file must stay self-contained (stdlib only, no relative imports): the
engine executes its source into plugin namespaces.
"""
from collections import OrderedDict
from typing import Optional


class InfluxDBError(Exception):
    """Base class for LineBuilder errors."""


class InvalidMeasurementError(InfluxDBError):
    """The measurement name cannot be written."""


class InvalidKeyError(InfluxDBError):
    """A tag or field key cannot be written."""


class InvalidLineError(InfluxDBError):
    """The line as a whole is not valid (e.g. it has no fields)."""


class LineBuilder:
    """Builds one line of line protocol with chainable setters."""

    def __init__(self, measurement: str):
        if " " in measurement:
            raise InvalidMeasurementError("Measurement name cannot contain spaces")
        self.measurement = measurement
        self.tags: "OrderedDict[str, str]" = OrderedDict()
        self.fields: "OrderedDict[str, str]" = OrderedDict()
        self._timestamp_ns: Optional[int] = None

    def _validate_key(self, key: str, key_type: str) -> None:
        """Reject keys that the line protocol cannot carry unescaped."""
        if not key:
            raise InvalidKeyError(f"{key_type} key cannot be empty")
        if " " in key:
            raise InvalidKeyError(f"{key_type} key '{key}' cannot contain spaces")
        if "," in key:
            raise InvalidKeyError(f"{key_type} key '{key}' cannot contain commas")
        if "=" in key:
            raise InvalidKeyError(f"{key_type} key '{key}' cannot contain equals signs")

    def tag(self, key: str, value: str) -> "LineBuilder":
        """Set a tag (value stored as str(value), escaped at build time)."""
        self._validate_key(key, "tag")
        self.tags[key] = str(value)
        return self

    def int64_field(self, key: str, value: int) -> "LineBuilder":
        """Set a signed integer field (written as <value>i)."""
        self._validate_key(key, "field")
        self.fields[key] = f"{value}i"
        return self

    def uint64_field(self, key: str, value: int) -> "LineBuilder":
        """Set an unsigned integer field (written as <value>u)."""
        self._validate_key(key, "field")
        if value < 0:
            raise ValueError(f"uint64 field '{key}' cannot be negative")
        self.fields[key] = f"{value}u"
        return self

    def float64_field(self, key: str, value: float) -> "LineBuilder":
        """Set a float field; whole numbers get a trailing .0 so they stay floats."""
        self._validate_key(key, "field")
        if value % 1 == 0:
            self.fields[key] = f"{int(value)}.0"
        else:
            self.fields[key] = str(value)
        return self

    def string_field(self, key: str, value: str) -> "LineBuilder":
        """Set a string field (backslashes and double quotes escaped)."""
        self._validate_key(key, "field")
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        self.fields[key] = f'"{escaped}"'
        return self

    def bool_field(self, key: str, value: bool) -> "LineBuilder":
        """Set a boolean field (written as t or f)."""
        self._validate_key(key, "field")
        self.fields[key] = "t" if value else "f"
        return self

    def time_ns(self, timestamp_ns: int) -> "LineBuilder":
        """Set the timestamp in nanoseconds (not validated)."""
        self._timestamp_ns = timestamp_ns
        return self

    @staticmethod
    def _escape(text: str) -> str:
        """Escaping used for tag values and field keys."""
        return (
            text.replace("\\", "\\\\")
            .replace(",", "\\,")
            .replace("=", "\\=")
            .replace(" ", "\\ ")
        )

    def build(self) -> str:
        """Return the line (no trailing newline); needs at least one field."""
        line = self.measurement.replace(",", "\\,").replace(" ", "\\ ")
        for key, value in self.tags.items():
            line += f",{key}={self._escape(value)}"
        if not self.fields:
            raise InvalidLineError(f"At least one field is required: {line}")
        line += " " + ",".join(f"{self._escape(key)}={value}" for key, value in self.fields.items())
        if self._timestamp_ns is not None:
            line += f" {self._timestamp_ns}"
        return line
