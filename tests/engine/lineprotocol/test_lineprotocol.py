"""Unit tests of the line-protocol grammar, run against both parser implementations."""
from __future__ import annotations

import math

import pytest

from pe_engine.lineprotocol import parse as lp
from pe_engine.lineprotocol import (
    MAX_ERROR_LINE,
    FieldType,
    ParseResult,
    ParsedTable,
    normalize_precision,
    parse_lp,
    parse_lp_python,
)

NOW = 1_000_000_007  # default time used by every parse below


def _parse_c(body, precision="ns", default_time_ns=NOW):
    return lp._parse_c(lp._as_bytes(body), lp.PRECISION_FACTORS[normalize_precision(precision)],
                       lp._default_time(default_time_ns))


def _parse_py(body, precision="ns", default_time_ns=NOW):
    return parse_lp_python(body, precision, default_time_ns)


IMPLS = [pytest.param(_parse_py, id="python")]
if lp.c_extension_available():
    IMPLS.append(pytest.param(_parse_c, id="c"))


@pytest.fixture(params=IMPLS)
def parse(request):
    return request.param


def rows(table: ParsedTable) -> list[dict]:
    """Rows as {column: value} with absent (None) columns left out, plus 'time'."""
    out = []
    for i in range(table.rows):
        r = {"time": table.time[i]}
        r.update({k: v[i] for k, v in table.dense_tags().items() if v[i] is not None})
        r.update({k: v[i] for k, (_, v) in table.dense_fields().items() if v[i] is not None})
        out.append(r)
    return out


def only_row(result: ParseResult) -> dict:
    assert not result.errors, result.errors
    assert len(result.tables) == 1
    (table,) = result.tables.values()
    assert table.rows == 1
    return rows(table)[0]


def error_of(result: ParseResult) -> str:
    assert result.rows == 0, result.tables
    assert len(result.errors) == 1, result.errors
    return result.errors[0].message


def field(result: ParseResult, key: str):
    (table,) = result.tables.values()
    ftype, values = table.fields[key]
    return ftype, values[0]


# --------------------------------------------------------------------------- basics


def test_full_line(parse):
    r = parse(b"cpu,host=a,region=west usage=64.5,count=3i,flag=t,msg=\"hi\",n=7u 1590488773254420000")
    table = r.tables["cpu"]
    assert table.name == "cpu"
    assert table.rows == 1
    assert table.line_numbers == [1]
    assert table.time == [1590488773254420000]
    assert table.tags == {"host": ["a"], "region": ["west"]}
    assert table.fields == {
        "usage": (FieldType.FLOAT, [64.5]),
        "count": (FieldType.INT, [3]),
        "flag": (FieldType.BOOL, [True]),
        "msg": (FieldType.STRING, ["hi"]),
        "n": (FieldType.UINT, [7]),
    }
    assert list(table.fields) == ["usage", "count", "flag", "msg", "n"]
    assert r.errors == []


def test_no_tags_no_timestamp_uses_default_time(parse):
    assert only_row(parse(b"m v=1")) == {"time": NOW, "v": 1.0}


def test_default_time_is_now_when_not_given(parse):
    import time

    before = time.time_ns()
    r = parse(b"m v=1", default_time_ns=None)
    after = time.time_ns()
    assert before <= r.tables["m"].time[0] <= after


def test_str_and_bytes_inputs_agree(parse):
    text = "cpu,h=ä v=1,s=\"ö\" 5\nbad line"
    assert parse(text) == parse(text.encode())
    assert parse(bytearray(text.encode())) == parse(text.encode())
    assert parse(memoryview(text.encode())) == parse(text.encode())


def test_empty_bodies(parse):
    for body in (b"", b"\n", b"\n\n\n", b"   \n\t\n", "", b"\r\n"):
        r = parse(body)
        assert r.tables == {} and r.errors == []


def test_multiple_spaces_between_sections_and_trailing_spaces(parse):
    assert only_row(parse(b"m,t=1   v=1    5   ")) == {"time": 5, "t": "1", "v": 1.0}
    assert only_row(parse(b"m v=1   ")) == {"time": NOW, "v": 1.0}


def test_leading_whitespace_is_ignored(parse):
    assert only_row(parse(b"  \t  m v=1 5")) == {"time": 5, "v": 1.0}


# --------------------------------------------------------------------------- lines


def test_crlf_line_endings(parse):
    r = parse(b"m v=1 1\r\nm v=2 2\r\n")
    assert r.errors == []
    assert r.tables["m"].fields["v"] == (FieldType.FLOAT, [1.0, 2.0])
    assert r.tables["m"].line_numbers == [1, 2]


def test_only_one_trailing_cr_is_stripped(parse):
    r = parse(b"m v=1\r\r\n")
    assert "invalid field value" in error_of(r)


def test_comments_and_blank_lines_are_skipped_but_counted(parse):
    body = b"# header\n\n   \n  # indented comment\nm v=1 1\n\t\nbad\nm v=2 2\n"
    r = parse(body)
    assert r.tables["m"].line_numbers == [5, 8]
    assert [(e.line_number, e.original_line) for e in r.errors] == [(7, "bad")]


def test_partial_body_keeps_good_lines(parse):
    body = b"m v=1 1\nm v= 2\nm v=3 3\nm,t v=4\nother x=1i 4\n"
    r = parse(body)
    assert r.tables["m"].fields["v"] == (FieldType.FLOAT, [1.0, 3.0])
    assert r.tables["other"].fields["x"] == (FieldType.INT, [1])
    assert [e.line_number for e in r.errors] == [2, 4]
    assert r.rows == 3


def test_error_original_line_and_truncation(parse):
    long = b"m," + b"t=" + b"x" * 1000 + b" v=bad"
    r = parse(b"good v=1\n" + long + b"\r\n")
    (e,) = r.errors
    assert e.line_number == 2
    assert len(e.original_line) == MAX_ERROR_LINE
    assert e.original_line == long.decode()[:MAX_ERROR_LINE]
    assert e.to_json() == {"original_line": e.original_line, "line_number": 2, "error_message": e.message}


def test_error_original_line_keeps_leading_whitespace_drops_cr(parse):
    (e,) = parse(b"  bad\r\n").errors
    assert e.original_line == "  bad"


# --------------------------------------------------------------------------- escapes


@pytest.mark.parametrize(
    "line, measurement",
    [
        (rb"my\ cpu v=1", "my cpu"),
        (rb"my\,cpu v=1", "my,cpu"),
        (rb"a\\b v=1", "a\\b"),
        (rb"a\=b v=1", "a\\=b"),  # '=' is not escapable in a measurement
        (rb"a=b v=1", "a=b"),
        (rb"a\xb v=1", "a\\xb"),  # backslash before anything else stays
        (rb"\ lead v=1", " lead"),
        (rb"a\\\ b v=1", "a\\ b"),
        ("mésure v=1".encode(), "mésure"),
    ],
)
def test_measurement_escapes(parse, line, measurement):
    r = parse(line)
    assert r.errors == []
    assert list(r.tables) == [measurement]


@pytest.mark.parametrize(
    "line, key, value",
    [
        (rb"m,a\ b=c\ d v=1", "a b", "c d"),
        (rb"m,a\,b=c\,d v=1", "a,b", "c,d"),
        (rb"m,a\=b=c\=d v=1", "a=b", "c=d"),
        (rb"m,a\\b=c\\d v=1", "a\\b", "c\\d"),
        (rb"m,a\xb=c\yd v=1", "a\\xb", "c\\yd"),
        (rb"m,k=a=b v=1", "k", "a=b"),  # unescaped '=' inside a tag value is allowed
        (rb'm,k="q" v=1', "k", '"q"'),
        ("m,clé=valé v=1".encode(), "clé", "valé"),
    ],
)
def test_tag_escapes(parse, line, key, value):
    row = only_row(parse(line))
    assert row[key] == value


@pytest.mark.parametrize(
    "line, key",
    [
        (rb"m a\ b=1", "a b"),
        (rb"m a\,b=1", "a,b"),
        (rb"m a\=b=1", "a=b"),
        (rb"m a\\b=1", "a\\b"),
        (rb"m a\xb=1", "a\\xb"),
        (rb'm "a"=1', '"a"'),
    ],
)
def test_field_key_escapes(parse, line, key):
    assert only_row(parse(line))[key] == 1.0


# --------------------------------------------------------------------------- field values


@pytest.mark.parametrize(
    "token, expected",
    [
        ("1", 1.0),
        ("1.0", 1.0),
        ("-1.5", -1.5),
        ("1e10", 1e10),
        ("1.5E-3", 1.5e-3),
        ("1e+5", 1e5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1.", 1.0),
        ("0.1", 0.1),
        ("007.5", 7.5),
        ("123456789012345678901234567890", 123456789012345678901234567890.0),
        ("0.1000000000000000055511151231257827", 0.1),
        ("1e-400", 0.0),  # underflow rounds to zero like float()
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("4.9e-324", 5e-324),
        ("0e99999999999", 0.0),
    ],
)
def test_float_values(parse, token, expected):
    ftype, value = field(parse(f"m v={token}".encode()), "v")
    assert ftype is FieldType.FLOAT
    assert type(value) is float and value == expected


def test_negative_zero_keeps_its_sign(parse):
    for token in ("-0", "-0.0", "-0e5"):
        _, value = field(parse(f"m v={token}".encode()), "v")
        assert value == 0.0 and math.copysign(1.0, value) == -1.0


@pytest.mark.parametrize(
    "token",
    ["NaN", "nan", "inf", "-inf", "+inf", "Infinity", "1e400", "-1e400", "+1", "1.2.3", "1e", "e5",
     "-", ".", "1_000", "0x10", "1e5.5", "1..2", "١", "1:5", "1f", "--1", "1e+-5"],
)
def test_invalid_float_values(parse, token):
    msg = error_of(parse(f"m v={token}".encode()))
    assert msg.startswith("invalid field value")


def test_float_out_of_range_message(parse):
    assert error_of(parse(b"m v=1e400")) == "invalid field value '1e400' for field 'v': float out of range"


@pytest.mark.parametrize(
    "token, expected",
    [("0i", 0), ("123i", 123), ("-123i", -123), ("007i", 7),
     (f"{2**63 - 1}i", 2**63 - 1), (f"-{2**63}i", -(2**63)), ("-0i", 0)],
)
def test_integer_values(parse, token, expected):
    ftype, value = field(parse(f"m v={token}".encode()), "v")
    assert ftype is FieldType.INT and type(value) is int and value == expected


@pytest.mark.parametrize("token", [f"{2**63}i", f"-{2**63 + 1}i", "99999999999999999999999i"])
def test_integer_overflow(parse, token):
    msg = error_of(parse(f"m v={token}".encode()))
    assert msg == f"invalid field value '{token}' for field 'v': integer out of range for int64"


@pytest.mark.parametrize("token", ["+1i", "1.0i", "i", "-i", "1e3i", "1ii", "0x1i"])
def test_invalid_integer_syntax(parse, token):
    assert error_of(parse(f"m v={token}".encode())).startswith("invalid field value")


@pytest.mark.parametrize("token, expected", [("0u", 0), ("42u", 42), (f"{2**64 - 1}u", 2**64 - 1), ("00u", 0)])
def test_unsigned_values(parse, token, expected):
    ftype, value = field(parse(f"m v={token}".encode()), "v")
    assert ftype is FieldType.UINT and value == expected


def test_unsigned_overflow_and_negative(parse):
    assert error_of(parse(f"m v={2**64}u".encode())) == (
        f"invalid field value '{2**64}u' for field 'v': unsigned integer out of range for uint64"
    )
    assert error_of(parse(b"m v=-1u")) == "invalid field value '-1u' for field 'v': unsigned integer cannot be negative"
    assert error_of(parse(b"m v=+1u")).startswith("invalid field value")


def test_huge_digit_strings_do_not_hit_int_limits(parse):
    zeros = "0" * 5000
    assert field(parse(f"m v={zeros}7i".encode()), "v") == (FieldType.INT, 7)
    assert field(parse(f"m v={zeros}7u".encode()), "v") == (FieldType.UINT, 7)
    assert "out of range" in error_of(parse(f"m v={'9' * 5000}i".encode()))
    assert only_row(parse(f"m v=1 {zeros}5".encode()))["time"] == 5


@pytest.mark.parametrize("spelling", ["t", "T", "true", "True", "TRUE"])
def test_true_spellings(parse, spelling):
    assert field(parse(f"m v={spelling}".encode()), "v") == (FieldType.BOOL, True)


@pytest.mark.parametrize("spelling", ["f", "F", "false", "False", "FALSE"])
def test_false_spellings(parse, spelling):
    ftype, value = field(parse(f"m v={spelling}".encode()), "v")
    assert ftype is FieldType.BOOL and value is False


@pytest.mark.parametrize("spelling", ["tRUE", "yes", "1b", "fals", "truee", "tr"])
def test_invalid_booleans(parse, spelling):
    assert error_of(parse(f"m v={spelling}".encode())).startswith("invalid field value")


@pytest.mark.parametrize(
    "raw, expected",
    [
        (r'""', ""),
        (r'"hello world"', "hello world"),
        (r'"a,b=c d"', "a,b=c d"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"keep\nthis"', "keep\\nthis"),  # other backslashes are literal
        (r'"trailing\\"', "trailing\\"),
        (r'"x\y\\\"z"', 'x\\y\\"z'),
        ('"ünïcødé ✓"', "ünïcødé ✓"),
        (r'"\"', None),  # \" does not close the string -> unterminated
    ],
)
def test_string_values(parse, raw, expected):
    r = parse(f"m s={raw},x=1i".encode())
    if expected is None:
        assert "unterminated string" in error_of(r)
    else:
        assert field(r, "s") == (FieldType.STRING, expected)


def test_string_errors(parse):
    assert error_of(parse(b'm s="abc')) == "invalid field value for field 's': unterminated string '\"abc'"
    assert "after closing quote" in error_of(parse(b'm s="abc"x'))
    assert error_of(parse(b'm s="abc"x')) == "invalid field value for field 's': unexpected 'x' after closing quote"


def test_string_does_not_span_lines(parse):
    r = parse(b'm s="first\nsecond" 5')
    assert [e.line_number for e in r.errors] == [1, 2]


def test_string_followed_by_timestamp(parse):
    assert only_row(parse(b'm s="a b" 12')) == {"time": 12, "s": "a b"}


# --------------------------------------------------------------------------- timestamps / precision


@pytest.mark.parametrize(
    "precision, factor",
    [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 10**9), ("m", 60 * 10**9), ("h", 3600 * 10**9)],
)
def test_precision_scaling(parse, precision, factor):
    assert only_row(parse(b"m v=1 7", precision))["time"] == 7 * factor
    assert only_row(parse(b"m v=1 -7", precision))["time"] == -7 * factor


def test_default_time_is_not_scaled(parse):
    assert only_row(parse(b"m v=1", "s", default_time_ns=123))["time"] == 123


def test_timestamp_limits(parse):
    assert only_row(parse(f"m v=1 {2**63 - 1}".encode()))["time"] == 2**63 - 1
    assert only_row(parse(f"m v=1 {-(2**63)}".encode()))["time"] == -(2**63)
    for body, precision in ((f"m v=1 {2**63}", "ns"), (f"m v=1 {-(2**63) - 1}", "ns"),
                            ("m v=1 9300000000", "s"), ("m v=1 -9300000000", "s"),
                            ("m v=1 2562048", "h")):
        assert "out of range" in error_of(parse(body.encode(), precision)), body
    assert only_row(parse(b"m v=1 2562047", "h"))["time"] == 2562047 * 3600 * 10**9


@pytest.mark.parametrize("token", ["12a", "1.5", "+5", "0x10", "1e9", "-", "5i"])
def test_invalid_timestamps(parse, token):
    assert error_of(parse(f"m v=1 {token}".encode())) == f"Unable to parse timestamp value '{token}'"


def test_trailing_content(parse):
    assert error_of(parse(b"m v=1 5 extra")) == "Could not parse entire line. Found trailing content: 'extra'"
    assert error_of(parse(b"m v=1 5 6")).startswith("Could not parse entire line")


@pytest.mark.parametrize(
    "spelling, canonical",
    [(None, "ns"), ("", "ns"), ("auto", "ns"), ("ns", "ns"), ("n", "ns"), ("nanosecond", "ns"),
     ("us", "us"), ("u", "us"), ("µs", "us"), ("μs", "us"), ("microsecond", "us"),
     ("ms", "ms"), ("millisecond", "ms"), ("s", "s"), ("second", "s"), ("Second", "s"),
     ("m", "m"), ("h", "h"), (" ms ", "ms"), ("NS", "ns"), ("MS", "ms")],
)
def test_normalize_precision(spelling, canonical):
    assert normalize_precision(spelling) == canonical


@pytest.mark.parametrize("bad", ["x", "M", "H", "d", "nanos", "1", 5])
def test_normalize_precision_rejects_unknown(bad):
    with pytest.raises(ValueError, match="valid values are"):
        normalize_precision(bad)


def test_parse_rejects_bad_precision_with_value_error():
    with pytest.raises(ValueError):
        parse_lp(b"m v=1", precision="weeks")
    with pytest.raises(ValueError):
        parse_lp_python(b"m v=1", precision="weeks")


def test_v1_and_v3_spellings_scale_the_same(parse):
    assert parse(b"m v=1 3", "microsecond") == parse(b"m v=1 3", "u") == parse(b"m v=1 3", "us")


# --------------------------------------------------------------------------- structure errors


@pytest.mark.parametrize(
    "line, message",
    [
        (b"cpu", "No fields were provided"),
        (b"cpu ", "No fields were provided"),
        (b"cpu,t=1", "No fields were provided"),
        (b"cpu,t=1   ", "No fields were provided"),
        (b"cpu,host v=1", "Tag set malformed: could not find equals sign in 'host'"),
        (b"cpu,host,x=1 v=1", "Tag set malformed: could not find equals sign in 'host'"),
        (b"cpu,=a v=1", "Tag set malformed: expected a tag key, got '=a v=1'"),
        (b"cpu, v=1", "Tag set malformed: expected a tag key, got ' v=1'"),
        (b"cpu,t= v=1", "Expected tag value for tag 't', got ' v=1'"),
        (b"cpu,t=,u=1 v=1", "Expected tag value for tag 't', got ',u=1 v=1'"),
        (b"cpu v", "Field set malformed: could not find equals sign in 'v'"),
        (b"cpu v 1", "Field set malformed: could not find equals sign in 'v'"),
        (b"cpu v=1,", "Field set malformed: expected a field key, got ''"),
        (b"cpu v=1,,w=2", "Field set malformed: expected a field key, got ',w=2'"),
        (b"cpu =1", "Field set malformed: expected a field key, got '=1'"),
        (b"cpu v=", "invalid field value for field 'v': missing value"),
        (b"cpu v=,w=1", "invalid field value for field 'v': missing value"),
        (b",t=1 v=1", "Invalid measurement name: measurement is empty in ',t=1 v=1'"),
        (b"cpu v=abc", "invalid field value 'abc' for field 'v': expected a float, integer (i), "
                       "unsigned (u), quoted string or boolean"),
    ],
)
def test_structure_errors(parse, line, message):
    assert error_of(parse(line)) == message


def test_line_of_only_escaped_space_is_a_measurement_without_fields(parse):
    assert error_of(parse(b"\\ ")) == "No fields were provided"


def test_duplicate_field(parse):
    assert error_of(parse(b"m v=1,v=2")) == "invalid line protocol - multiple instances of 'v' field found"
    assert error_of(parse(b"m v=1,v=2i")) == "invalid line protocol - multiple instances of 'v' field found"


def test_duplicate_tag(parse):
    assert error_of(parse(b"m,t=1,t=2 v=1")) == "invalid line protocol - multiple instances of tag 't' found"


def test_duplicates_compare_unescaped_keys(parse):
    assert "multiple instances" in error_of(parse(rb"m a\ b=1,a\ b=2"))
    assert "multiple instances" in error_of(parse(rb"m,a\xb=1,a\\xb=2 v=1"))


def test_tag_and_field_with_same_key(parse):
    assert error_of(parse(b"m,k=1 k=1")) == "invalid line protocol - 'k' is used as both a tag and a field"


@pytest.mark.parametrize("line", [b"m,time=1 v=1", b"m time=1", b"m v=1,time=2i", b'm,t=1 x=1,time="s"'])
def test_time_column_is_reserved(parse, line):
    assert error_of(parse(line)) == "invalid column name 'time': it is reserved for the timestamp"


def test_time_as_measurement_is_fine(parse):
    assert list(parse(b"time v=1").tables) == ["time"]


def test_wide_lines(parse):
    many = ",".join(f"f{i}={i}i" for i in range(60))
    tags = ",".join(f"t{i}=v{i}" for i in range(30))
    r = parse(f"m,{tags} {many} 1\nm,{tags} {many},f3=1i 2\nm,t0=x,t1=y f59=5i,f0=1i 3".encode())
    table = r.tables["m"]
    assert table.rows == 2
    assert list(table.fields)[:3] == ["f0", "f1", "f2"]
    assert table.fields["f59"][1] == [59, 5]
    assert table.column("t29") == ["v29", None]
    assert [e.message for e in r.errors] == ["invalid line protocol - multiple instances of 'f3' field found"]


# --------------------------------------------------------------------------- columns across lines


def test_type_conflict_within_body(parse):
    r = parse(b"weather temp=1.5 1\nweather temp=\"hot\" 2\nweather temp=3 3")
    assert r.tables["weather"].fields["temp"] == (FieldType.FLOAT, [1.5, 3.0])
    (e,) = r.errors
    assert e.line_number == 2
    assert e.message == (
        "invalid column type for column 'temp', expected iox::column_type::field::float, "
        "got iox::column_type::field::string"
    )


@pytest.mark.parametrize(
    "first, second, expected, got",
    [
        (b"v=1i", b"v=1", "integer", "float"),
        (b"v=1u", b"v=1i", "uinteger", "integer"),
        (b"v=t", b'v="x"', "boolean", "string"),
        (b'v="x"', b"v=f", "string", "boolean"),
    ],
)
def test_type_conflict_names(parse, first, second, expected, got):
    r = parse(b"m " + first + b"\nm " + second)
    assert error_of(ParseResult({}, r.errors)) == (
        f"invalid column type for column 'v', expected iox::column_type::field::{expected}, "
        f"got iox::column_type::field::{got}"
    )


def test_tag_field_conflict_across_lines(parse):
    r = parse(b"m,k=a v=1\nm k=1\nm,v=x w=1")
    assert [e.message for e in r.errors] == [
        "invalid column type for column 'k', expected iox::column_type::tag, got iox::column_type::field::float",
        "invalid column type for column 'v', expected iox::column_type::field::float, got iox::column_type::tag",
    ]
    assert r.tables["m"].rows == 1


def test_same_key_different_types_in_different_tables(parse):
    r = parse(b"a v=1\nb v=\"s\"\nc,v=x f=1")
    assert r.errors == []
    assert r.tables["a"].fields["v"][0] is FieldType.FLOAT
    assert r.tables["b"].fields["v"][0] is FieldType.STRING
    assert r.tables["c"].tags["v"] == ["x"]


def test_none_backfill_and_column_order(parse):
    body = b"m,a=1 x=1 1\nm,b=2 y=2i 2\nm,a=3,b=4 x=3,y=4i 3\nm z=t 4\n"
    table = parse(body).tables["m"]
    assert table.rows == 4
    assert table.dense_tags() == {"a": ["1", None, "3", None], "b": [None, "2", "4", None]}
    assert table.dense_fields() == {
        "x": (FieldType.FLOAT, [1.0, None, 3.0, None]),
        "y": (FieldType.INT, [None, 2, 4, None]),
        "z": (FieldType.BOOL, [None, None, None, True]),
    }
    assert table.time == [1, 2, 3, 4]
    assert table.line_numbers == [1, 2, 3, 4]


def test_table_order_is_first_seen(parse):
    assert list(parse(b"b v=1\na v=1\nc v=1\na v=2").tables) == ["b", "a", "c"]


def test_rejected_lines_never_touch_columns(parse):
    # the bad line would add column 'new' and a new table; both must stay absent
    r = parse(b"m v=1 1\nm new=1,v=\"s\" 2\nn,t=1 v=1,v=2\nm v=3 3")
    table = r.tables["m"]
    assert list(table.fields) == ["v"] and table.tags == {}
    assert table.rows == 2
    assert "n" not in r.tables
    assert len(r.errors) == 2


def test_rejected_first_line_does_not_create_table(parse):
    r = parse(b"m v=1,v=2\n")
    assert r.tables == {} and len(r.errors) == 1


# --------------------------------------------------------------------------- encoding


def test_invalid_utf8_line_is_rejected_alone(parse):
    r = parse(b"m v=1 1\nm,t=\xff\xfe v=2 2\nm v=3 3\n\xc3\x28 v=1\n")
    assert r.tables["m"].fields["v"] == (FieldType.FLOAT, [1.0, 3.0])
    assert [e.line_number for e in r.errors] == [2, 4]
    assert r.errors[0].message == "line is not valid UTF-8: invalid start byte at byte 4"
    assert r.errors[0].original_line == "m,t=\ufffd\ufffd v=2 2"


@pytest.mark.parametrize("bad", [b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"])
def test_surrogates_overlongs_and_truncated_sequences_are_invalid(parse, bad):
    assert error_of(parse(b"m s=\"" + bad + b"\"")).startswith("line is not valid UTF-8")


def test_invalid_utf8_in_comment_is_ignored(parse):
    r = parse(b"# \xff\xff\nm v=1")
    assert r.errors == [] and r.rows == 1


def test_lone_surrogate_in_str_body(parse):
    r = parse("m v=1\nm,t=\ud800 v=1")
    assert r.rows == 1 and r.errors[0].line_number == 2


def test_non_ascii_everywhere(parse):
    r = parse("温度,地点=東京 値=1.5,説明=\"晴れ\" 1".encode())
    assert rows(r.tables["温度"]) == [{"time": 1, "地点": "東京", "値": 1.5, "説明": "晴れ"}]


def test_nul_bytes_are_ordinary_characters(parse):
    r = parse(b"m\x00,t=a\x00b v=1,s=\"x\x00\"")
    assert rows(r.tables["m\x00"]) == [{"time": NOW, "t": "a\x00b", "v": 1.0, "s": "x\x00"}]


# --------------------------------------------------------------------------- dispatch


def test_parse_lp_matches_python_reference():
    body = b"m,t=a v=1 1\nbad\nm v=\"s\"\n"
    assert parse_lp(body, default_time_ns=5) == parse_lp_python(body, default_time_ns=5)


def test_env_var_forces_pure_python(monkeypatch):
    monkeypatch.setenv("PE_PURE_PYTHON_LP", "1")
    assert lp._use_c() is False
    monkeypatch.delenv("PE_PURE_PYTHON_LP")
    assert lp._use_c() is lp.c_extension_available()


def test_default_time_out_of_range_is_a_value_error():
    with pytest.raises(ValueError):
        parse_lp(b"m v=1", default_time_ns=2**63)


@pytest.mark.skipif(not lp.c_extension_available(), reason="C extension not built")
def test_c_shares_repeated_tag_values():
    table = _parse_c(b"m,h=host1 v=1\nm,h=host1 v=2\nm,h=host1 v=3").tables["m"]
    a, b, c = table.tags["h"]
    assert a is b is c
