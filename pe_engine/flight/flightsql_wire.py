"""Flight SQL's protobuf messages, read and written by hand (no protobuf dependency).

Flight SQL (arrow/format/FlightSql.proto) wraps each command in a `google.protobuf.Any`
(type_url `type.googleapis.com/arrow.flight.protocol.sql.<Name>`) in FlightDescriptor.cmd,
Ticket.ticket or Action.body. The messages pe reads or writes are flat: strings, bytes, bools,
ints, repeated strings and packed ints, so a proto3 wire codec of ~100 lines covers them.
Unknown fields are skipped, as protobuf does; malformed bytes raise `WireError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, TypeVar

TYPE_URL_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not the protobuf message they claim to be."""


class Kind(Enum):
    """How one field is encoded."""

    STRING = "string"
    BYTES = "bytes"
    BOOL = "bool"
    INT = "int"  # int32 / uint32 / int64 / enum: a varint
    STRINGS = "repeated string"
    INTS = "repeated varint"  # packed on write; packed or not on read


# ---------------------------------------------------------------------------- primitives
def encode_varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # negative int32/int64: ten bytes, two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def _key(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def _len_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, _LEN) + encode_varint(len(payload)) + payload


def iter_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field: int for varints, bytes otherwise."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = decode_varint(data, pos)
        elif wire == _LEN:
            size, pos = decode_varint(data, pos)
            if pos + size > len(data):
                raise WireError("truncated length-delimited field")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if pos + size > len(data):
                raise WireError("truncated fixed-width field")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise WireError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(n: int, bits: int = 64) -> int:
    n &= (1 << 64) - 1
    if bits == 32:
        n &= 0xFFFFFFFF
        return n - (1 << 32) if n >> 31 else n
    return n - (1 << 64) if n >> 63 else n


# ---------------------------------------------------------------------------- messages
M = TypeVar("M", bound="Message")


@dataclass
class Message:
    """A flat proto3 message: subclasses list (number, attribute, kind) in FIELDS."""

    FIELDS: ClassVar[tuple[tuple[int, str, Kind], ...]] = ()

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def type_url(cls) -> str:
        return TYPE_URL_PREFIX + cls.name()

    @classmethod
    def decode(cls: type[M], data: bytes) -> M:
        by_number = {number: (attr, kind) for number, attr, kind in cls.FIELDS}
        values: dict[str, Any] = {}
        try:
            for number, wire, raw in iter_fields(data):
                if number not in by_number:
                    continue
                attr, kind = by_number[number]
                values[attr] = _read(kind, wire, raw, values.get(attr))
        except WireError as e:
            raise WireError(f"malformed {cls.name()}: {e}") from None
        return cls(**values)

    def encode(self) -> bytes:
        out = bytearray()
        for number, attr, kind in self.FIELDS:
            out += _write(number, kind, getattr(self, attr))
        return bytes(out)


def _read(kind: Kind, wire: int, raw: Any, old: Any) -> Any:
    if kind is Kind.INTS:
        items = list(old or [])
        if wire == _LEN:  # packed
            pos = 0
            while pos < len(raw):
                n, pos = decode_varint(raw, pos)
                items.append(n)
        elif wire == _VARINT:
            items.append(raw)
        else:
            raise WireError("repeated varint field with the wrong wire type")
        return items
    expected = _VARINT if kind in (Kind.BOOL, Kind.INT) else _LEN
    if wire != expected:
        raise WireError(f"{kind.value} field with wire type {wire}")
    if kind is Kind.BOOL:
        return bool(raw)
    if kind is Kind.INT:
        return _signed(raw)
    if kind is Kind.BYTES:
        return bytes(raw)
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("string field is not UTF-8") from None
    return [*(old or []), text] if kind is Kind.STRINGS else text


def _write(number: int, kind: Kind, value: Any) -> bytes:
    """None means absent (optional fields); proto3 defaults are still written when explicit
    presence matters to a reader (pe only writes set values)."""
    if value is None:
        return b""
    if kind is Kind.STRING:
        return _len_delimited(number, value.encode("utf-8"))
    if kind is Kind.BYTES:
        return _len_delimited(number, bytes(value))
    if kind is Kind.BOOL:
        return _key(number, _VARINT) + b"\x01" if value else b""
    if kind is Kind.INT:
        return _key(number, _VARINT) + encode_varint(value)
    if kind is Kind.STRINGS:
        return b"".join(_len_delimited(number, s.encode("utf-8")) for s in value)
    if not value:  # empty packed list: nothing
        return b""
    return _len_delimited(number, b"".join(encode_varint(n) for n in value))


# ---------------------------------------------------------------------------- Any
def pack_any(message: Message) -> bytes:
    return _len_delimited(1, message.type_url().encode()) + _len_delimited(2, message.encode())


def unpack_any(data: bytes) -> tuple[str, bytes]:
    """(type_url, value) of a serialized google.protobuf.Any."""
    type_url, value = "", b""
    for number, wire, raw in iter_fields(data):
        if wire != _LEN:
            raise WireError("not a google.protobuf.Any")
        if number == 1:
            try:
                type_url = bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                raise WireError("Any.type_url is not UTF-8") from None
        elif number == 2:
            value = bytes(raw)
    if not type_url:
        raise WireError("not a google.protobuf.Any (no type_url)")
    return type_url, value


def command_name(type_url: str) -> str | None:
    """`CommandStatementQuery` for Flight SQL's type URLs, None for any other."""
    return type_url[len(TYPE_URL_PREFIX):] if type_url.startswith(TYPE_URL_PREFIX) else None


# ---------------------------------------------------------------------------- Flight SQL
@dataclass
class CommandStatementQuery(Message):
    query: str = ""
    transaction_id: bytes | None = None
    FIELDS = ((1, "query", Kind.STRING), (2, "transaction_id", Kind.BYTES))


@dataclass
class TicketStatementQuery(Message):
    statement_handle: bytes = b""
    FIELDS = ((1, "statement_handle", Kind.BYTES),)


@dataclass
class CommandPreparedStatementQuery(Message):
    prepared_statement_handle: bytes = b""
    FIELDS = ((1, "prepared_statement_handle", Kind.BYTES),)


@dataclass
class DoPutPreparedStatementResult(Message):
    prepared_statement_handle: bytes | None = None
    FIELDS = ((1, "prepared_statement_handle", Kind.BYTES),)


@dataclass
class ActionCreatePreparedStatementRequest(Message):
    query: str = ""
    transaction_id: bytes | None = None
    FIELDS = ((1, "query", Kind.STRING), (2, "transaction_id", Kind.BYTES))


@dataclass
class ActionCreatePreparedStatementResult(Message):
    prepared_statement_handle: bytes = b""
    dataset_schema: bytes = b""
    parameter_schema: bytes = b""
    FIELDS = ((1, "prepared_statement_handle", Kind.BYTES), (2, "dataset_schema", Kind.BYTES),
              (3, "parameter_schema", Kind.BYTES))


@dataclass
class ActionClosePreparedStatementRequest(Message):
    prepared_statement_handle: bytes = b""
    FIELDS = ((1, "prepared_statement_handle", Kind.BYTES),)


@dataclass
class CommandGetCatalogs(Message):
    FIELDS = ()


@dataclass
class CommandGetDbSchemas(Message):
    catalog: str | None = None
    db_schema_filter_pattern: str | None = None
    FIELDS = ((1, "catalog", Kind.STRING), (2, "db_schema_filter_pattern", Kind.STRING))


@dataclass
class CommandGetTables(Message):
    catalog: str | None = None
    db_schema_filter_pattern: str | None = None
    table_name_filter_pattern: str | None = None
    table_types: list[str] = field(default_factory=list)
    include_schema: bool = False
    FIELDS = ((1, "catalog", Kind.STRING), (2, "db_schema_filter_pattern", Kind.STRING),
              (3, "table_name_filter_pattern", Kind.STRING), (4, "table_types", Kind.STRINGS),
              (5, "include_schema", Kind.BOOL))


@dataclass
class CommandGetTableTypes(Message):
    FIELDS = ()


@dataclass
class CommandGetSqlInfo(Message):
    info: list[int] = field(default_factory=list)
    FIELDS = ((1, "info", Kind.INTS),)


@dataclass
class CommandGetXdbcTypeInfo(Message):
    data_type: int | None = None
    FIELDS = ((1, "data_type", Kind.INT),)


def _signed32(cmd: CommandGetXdbcTypeInfo) -> int | None:
    return None if cmd.data_type is None else _signed(cmd.data_type, 32)


MESSAGES: dict[str, type[Message]] = {m.name(): m for m in (
    CommandStatementQuery, TicketStatementQuery, CommandPreparedStatementQuery, DoPutPreparedStatementResult,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    ActionClosePreparedStatementRequest, CommandGetCatalogs, CommandGetDbSchemas, CommandGetTables,
    CommandGetTableTypes, CommandGetSqlInfo, CommandGetXdbcTypeInfo,
)}


def decode_command(data: bytes) -> Message | str:
    """The Flight SQL message in a serialized Any; a str (its name) for a Flight SQL message pe
    does not decode. WireError for bytes that are no Any or no Flight SQL message."""
    type_url, value = unpack_any(data)
    name = command_name(type_url)
    if name is None:
        raise WireError(f"unknown command type '{type_url}' (expected {TYPE_URL_PREFIX}<Command>)")
    cls = MESSAGES.get(name)
    return name if cls is None else cls.decode(value)


def xdbc_data_type(cmd: CommandGetXdbcTypeInfo) -> int | None:
    """The requested data_type as int32 (negative SQL types arrive as 10-byte varints)."""
    return _signed32(cmd)


__all__ = [
    "WireError", "Kind", "Message", "pack_any", "unpack_any", "decode_command", "command_name",
    "encode_varint", "decode_varint", "iter_fields", "TYPE_URL_PREFIX", "MESSAGES",
    "xdbc_data_type", *MESSAGES,
]
