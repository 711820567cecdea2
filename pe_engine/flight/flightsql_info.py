"""Flight SQL's CommandGetSqlInfo and CommandGetXdbcTypeInfo answers, in the spec's schemas.

What a BI tool or driver asks before it talks SQL: the server's name and version, that it is
read-only, how identifiers are quoted and cased (DataFusion: `"` quotes, unquoted names fold to
lower case), which keywords and functions exist, and which SQL types it can name. Values follow
what InfluxDB 3 reports (a read-only SQL server without transactions, Substrait or cancel).
"""
from __future__ import annotations

from enum import IntEnum

import pyarrow as pa

from .. import __version__


class SqlInfo(IntEnum):
    """The SqlInfo ids pe answers (numbers from FlightSql.proto)."""

    SERVER_NAME = 0
    SERVER_VERSION = 1
    SERVER_ARROW_VERSION = 2
    SERVER_READ_ONLY = 3
    SERVER_SQL = 4
    SERVER_SUBSTRAIT = 5
    SERVER_TRANSACTION = 8
    SERVER_CANCEL = 9
    SERVER_STATEMENT_TIMEOUT = 100
    SERVER_TRANSACTION_TIMEOUT = 101
    SQL_DDL_CATALOG = 500
    SQL_DDL_SCHEMA = 501
    SQL_DDL_TABLE = 502
    SQL_IDENTIFIER_CASE = 503
    SQL_IDENTIFIER_QUOTE_CHAR = 504
    SQL_QUOTED_IDENTIFIER_CASE = 505
    SQL_ALL_TABLES_ARE_SELECTABLE = 506
    SQL_NULL_ORDERING = 507
    SQL_KEYWORDS = 508
    SQL_NUMERIC_FUNCTIONS = 509
    SQL_STRING_FUNCTIONS = 510
    SQL_SYSTEM_FUNCTIONS = 511
    SQL_DATETIME_FUNCTIONS = 512
    SQL_SEARCH_STRING_ESCAPE = 513
    SQL_EXTRA_NAME_CHARACTERS = 514
    SQL_SUPPORTS_COLUMN_ALIASING = 515
    SQL_NULL_PLUS_NULL_IS_NULL = 516
    SQL_SUPPORTS_TABLE_CORRELATION_NAMES = 518
    SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY = 520
    SQL_SUPPORTS_ORDER_BY_UNRELATED = 521
    SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE = 523
    SQL_SCHEMA_TERM = 529
    SQL_PROCEDURE_TERM = 530
    SQL_CATALOG_TERM = 531
    SQL_CATALOG_AT_START = 532
    SQL_SELECT_FOR_UPDATE_SUPPORTED = 536
    SQL_STORED_PROCEDURES_SUPPORTED = 537
    SQL_CORRELATED_SUBQUERIES_SUPPORTED = 539
    SQL_TRANSACTIONS_SUPPORTED = 563
    SQL_BATCH_UPDATES_SUPPORTED = 572


_CASE_LOWERCASE, _CASE_CASE_INSENSITIVE = 3, 1
_NULLS_SORTED_HIGH = 0

_KEYWORDS = [
    "absolute", "action", "add", "all", "allocate", "alter", "analyze", "and", "any", "are", "as", "asc",
    "between", "by", "case", "cast", "copy", "create", "cross", "current", "delete", "desc", "describe",
    "distinct", "drop", "else", "end", "except", "exists", "explain", "external", "false", "first", "following",
    "from", "full", "group", "having", "in", "inner", "insert", "intersect", "interval", "into", "is", "join",
    "last", "left", "like", "limit", "not", "null", "nulls", "offset", "on", "or", "order", "outer", "over",
    "partition", "preceding", "range", "right", "row", "rows", "select", "set", "show", "table", "then", "true",
    "unbounded", "union", "unnest", "update", "using", "values", "view", "when", "where", "window", "with",
]
_NUMERIC = ["abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "degrees", "exp", "floor", "ln", "log",
            "log10", "log2", "pi", "power", "radians", "random", "round", "signum", "sin", "sqrt", "tan", "trunc"]
_STRING = ["ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat", "concat_ws",
           "initcap", "left", "length", "lower", "lpad", "ltrim", "md5", "octet_length", "regexp_match",
           "regexp_replace", "repeat", "replace", "reverse", "right", "rpad", "rtrim", "split_part",
           "starts_with", "strpos", "substr", "to_hex", "translate", "trim", "upper"]
_SYSTEM = ["array", "arrow_typeof", "coalesce", "nullif", "struct"]
_DATETIME = ["current_date", "current_time", "date_bin", "date_bin_gapfill", "date_part", "date_trunc",
             "datepart", "datetrunc", "from_unixtime", "now", "to_timestamp", "to_timestamp_micros",
             "to_timestamp_millis", "to_timestamp_seconds"]


def _values() -> dict[int, object]:
    """id -> value; the Python type picks the union member (str, bool, int64, Bitmask, list)."""
    return {
        SqlInfo.SERVER_NAME: "pe (InfluxDB 3 compatible)",
        SqlInfo.SERVER_VERSION: __version__,
        SqlInfo.SERVER_ARROW_VERSION: pa.__version__,
        SqlInfo.SERVER_READ_ONLY: True,
        SqlInfo.SERVER_SQL: True,
        SqlInfo.SERVER_SUBSTRAIT: False,
        SqlInfo.SERVER_TRANSACTION: Int32(0),  # SQL_SUPPORTED_TRANSACTION_NONE
        SqlInfo.SERVER_CANCEL: False,
        SqlInfo.SERVER_STATEMENT_TIMEOUT: Int32(0),
        SqlInfo.SERVER_TRANSACTION_TIMEOUT: Int32(0),
        SqlInfo.SQL_DDL_CATALOG: False,
        SqlInfo.SQL_DDL_SCHEMA: False,
        SqlInfo.SQL_DDL_TABLE: False,
        SqlInfo.SQL_IDENTIFIER_CASE: Int32(_CASE_LOWERCASE),
        SqlInfo.SQL_IDENTIFIER_QUOTE_CHAR: '"',
        SqlInfo.SQL_QUOTED_IDENTIFIER_CASE: Int32(_CASE_CASE_INSENSITIVE),
        SqlInfo.SQL_ALL_TABLES_ARE_SELECTABLE: True,
        SqlInfo.SQL_NULL_ORDERING: Int32(_NULLS_SORTED_HIGH),
        SqlInfo.SQL_KEYWORDS: _KEYWORDS,
        SqlInfo.SQL_NUMERIC_FUNCTIONS: _NUMERIC,
        SqlInfo.SQL_STRING_FUNCTIONS: _STRING,
        SqlInfo.SQL_SYSTEM_FUNCTIONS: _SYSTEM,
        SqlInfo.SQL_DATETIME_FUNCTIONS: _DATETIME,
        SqlInfo.SQL_SEARCH_STRING_ESCAPE: "\\",
        SqlInfo.SQL_EXTRA_NAME_CHARACTERS: "",
        SqlInfo.SQL_SUPPORTS_COLUMN_ALIASING: True,
        SqlInfo.SQL_NULL_PLUS_NULL_IS_NULL: True,
        SqlInfo.SQL_SUPPORTS_TABLE_CORRELATION_NAMES: True,
        SqlInfo.SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY: True,
        SqlInfo.SQL_SUPPORTS_ORDER_BY_UNRELATED: True,
        SqlInfo.SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE: True,
        SqlInfo.SQL_SCHEMA_TERM: "schema",
        SqlInfo.SQL_PROCEDURE_TERM: "procedure",
        SqlInfo.SQL_CATALOG_TERM: "catalog",
        SqlInfo.SQL_CATALOG_AT_START: True,
        SqlInfo.SQL_SELECT_FOR_UPDATE_SUPPORTED: False,
        SqlInfo.SQL_STORED_PROCEDURES_SUPPORTED: False,
        SqlInfo.SQL_CORRELATED_SUBQUERIES_SUPPORTED: True,
        SqlInfo.SQL_TRANSACTIONS_SUPPORTED: False,
        SqlInfo.SQL_BATCH_UPDATES_SUPPORTED: False,
    }


class Int32(int):
    """An int32 (enum or bitmask) value, as opposed to a bigint one."""


# The union's members, in type-id order, as the spec lists them.
_STRING_LIST = pa.list_(pa.field("string_data", pa.utf8()))
_INT_MAP = pa.map_(pa.int32(), pa.list_(pa.field("$data$", pa.int32())))
_MEMBERS = [
    pa.field("string_value", pa.utf8()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", _STRING_LIST),
    pa.field("int32_to_int32_list_map", _INT_MAP),
]
VALUE_TYPE = pa.dense_union(_MEMBERS)
SQL_INFO_SCHEMA = pa.schema([pa.field("info_name", pa.uint32(), nullable=False),
                             pa.field("value", VALUE_TYPE, nullable=False)])


def _member(value: object) -> int:
    if isinstance(value, str):
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, Int32):
        return 3
    if isinstance(value, int):
        return 2
    if isinstance(value, list):
        return 4
    return 5


def sql_info_table(requested: list[int]) -> pa.Table:
    """One row per requested id pe knows (all of them when none is requested), ids ascending."""
    values = _values()
    ids = sorted(values) if not requested else [i for i in dict.fromkeys(requested) if i in values]
    columns: list[list[object]] = [[] for _ in _MEMBERS]
    type_ids: list[int] = []
    offsets: list[int] = []
    for i in ids:
        member = _member(values[i])
        type_ids.append(member)
        offsets.append(len(columns[member]))
        columns[member].append(values[i])
    children = [pa.array(col, type=f.type) for col, f in zip(columns, _MEMBERS)]
    union = pa.UnionArray.from_dense(pa.array(type_ids, pa.int8()), pa.array(offsets, pa.int32()), children,
                                     [f.name for f in _MEMBERS], list(range(len(_MEMBERS))))
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), union], schema=SQL_INFO_SCHEMA)


# ------------------------------------------------------------------------- XDBC type info
XDBC_TYPE_INFO_SCHEMA = pa.schema([
    pa.field("type_name", pa.utf8(), nullable=False),
    pa.field("data_type", pa.int32(), nullable=False),
    pa.field("column_size", pa.int32()),
    pa.field("literal_prefix", pa.utf8()),
    pa.field("literal_suffix", pa.utf8()),
    pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
    pa.field("nullable", pa.int32(), nullable=False),
    pa.field("case_sensitive", pa.bool_(), nullable=False),
    pa.field("searchable", pa.int32(), nullable=False),
    pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
    pa.field("auto_increment", pa.bool_()),
    pa.field("local_type_name", pa.utf8()),
    pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()),
    pa.field("sql_data_type", pa.int32(), nullable=False),
    pa.field("datetime_subcode", pa.int32()),
    pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32()),
])

_NULLABLE, _SEARCHABLE_BASIC, _SEARCHABLE_FULL = 1, 2, 3
_XDBC_DATETIME, _XDBC_INTERVAL = 9, 10

# (type_name, data_type, column_size, literal quote, create_params, case_sensitive, searchable,
#  unsigned, datetime_subcode, num_prec_radix): the SQL types DataFusion names.
_TYPES: list[tuple[str, int, int | None, str | None, list[str] | None, bool, int, bool | None, int | None,
                   int | None]] = [
    ("TINYINT", -6, 3, None, None, False, _SEARCHABLE_BASIC, False, None, 10),
    ("BIGINT", -5, 19, None, None, False, _SEARCHABLE_BASIC, False, None, 10),
    ("BYTEA", -3, None, "'", None, False, _SEARCHABLE_BASIC, None, None, None),
    ("BOOLEAN", -7, 1, None, None, False, _SEARCHABLE_BASIC, None, None, None),
    ("CHAR", 1, None, "'", ["length"], True, _SEARCHABLE_FULL, None, None, None),
    ("DECIMAL", 3, 38, None, ["precision", "scale"], False, _SEARCHABLE_BASIC, False, None, 10),
    ("INTEGER", 4, 10, None, None, False, _SEARCHABLE_BASIC, False, None, 10),
    ("SMALLINT", 5, 5, None, None, False, _SEARCHABLE_BASIC, False, None, 10),
    ("FLOAT", 6, 24, None, None, False, _SEARCHABLE_BASIC, False, None, 2),
    ("REAL", 7, 24, None, None, False, _SEARCHABLE_BASIC, False, None, 2),
    ("DOUBLE", 8, 53, None, None, False, _SEARCHABLE_BASIC, False, None, 2),
    ("INTERVAL", 10, None, "'", None, False, _SEARCHABLE_BASIC, None, 0, None),
    ("VARCHAR", 12, None, "'", ["length"], True, _SEARCHABLE_FULL, None, None, None),
    ("DATE", 91, 10, "'", None, False, _SEARCHABLE_BASIC, None, 1, None),
    ("TIME", 92, 8, "'", None, False, _SEARCHABLE_BASIC, None, 2, None),
    ("TIMESTAMP", 93, 29, "'", None, False, _SEARCHABLE_BASIC, None, 3, None),
]


def xdbc_type_info_table(data_type: int | None) -> pa.Table:
    """All types (or those of one data_type), ordered by data_type then type_name as the spec asks."""
    rows = sorted((t for t in _TYPES if data_type is None or t[1] == data_type), key=lambda t: (t[1], t[0]))
    out = []
    for name, code, size, quote, params, case, search, unsigned, subcode, radix in rows:
        sql_type = _XDBC_DATETIME if code in (91, 92, 93) else (_XDBC_INTERVAL if code == 10 else code)
        out.append({
            "type_name": name, "data_type": code, "column_size": size, "literal_prefix": quote,
            "literal_suffix": quote, "create_params": params, "nullable": _NULLABLE, "case_sensitive": case,
            "searchable": search, "unsigned_attribute": unsigned, "fixed_prec_scale": False,
            "auto_increment": False if unsigned is not None else None, "local_type_name": name,
            "minimum_scale": 0 if code == 3 else None, "maximum_scale": 38 if code == 3 else None,
            "sql_data_type": sql_type, "datetime_subcode": subcode, "num_prec_radix": radix,
            "interval_precision": None,
        })
    return pa.Table.from_pylist(out, schema=XDBC_TYPE_INFO_SCHEMA)
