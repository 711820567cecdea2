"""Line protocol: parsing bodies into column tables, and the plugin-side LineBuilder."""
from pathlib import Path

from . import builder as _builder
from .builder import (
    InfluxDBError,
    InvalidKeyError,
    InvalidLineError,
    InvalidMeasurementError,
    LineBuilder,
)
from .parse import (
    PRECISION_FACTORS,
    c_extension_available,
    normalize_precision,
    parse_lp,
    parse_lp_python,
)
from .types import MAX_ERROR_LINE, FieldType, LineError, ParsedTable, ParseResult

# Source of builder.py, for the engine to exec into plugin namespaces.
LINEBUILDER_SOURCE: str = Path(_builder.__file__).read_text(encoding="utf-8")

__all__ = [
    "FieldType",
    "InfluxDBError",
    "InvalidKeyError",
    "InvalidLineError",
    "InvalidMeasurementError",
    "LINEBUILDER_SOURCE",
    "LineBuilder",
    "LineError",
    "MAX_ERROR_LINE",
    "PRECISION_FACTORS",
    "ParseResult",
    "ParsedTable",
    "c_extension_available",
    "normalize_precision",
    "parse_lp",
    "parse_lp_python",
]
