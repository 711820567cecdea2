"""Property tests of the line-protocol parsers.

(a) any input gives a ParseResult, never an exception;
(b) the C accelerator and the Python reference agree exactly (values, value
    types, float signs, column order, line numbers, error messages);
(c) generated valid bodies parse back to exactly the values that were written.
"""
from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pe_engine.lineprotocol import parse as lp
from pe_engine.lineprotocol import FieldType, LineError, ParseResult

NOW = 42
PRECISIONS = list(lp.PRECISION_FACTORS)

needs_c = pytest.mark.skipif(not lp.c_extension_available(), reason="C extension not built")
# Example counts come from the hypothesis profile (tests/conftest.py: "ci" by default,
# PE_HYPOTHESIS_PROFILE=thorough for many more); PE_LP_FUZZ_SCALE=50 multiplies them for a long
# local fuzzing run.
SCALE = int(os.environ.get("PE_LP_FUZZ_SCALE", "1"))
EXAMPLES = settings.default.max_examples * SCALE
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_python(body: bytes | str, precision: str = "ns") -> ParseResult:
    return lp.parse_lp_python(body, precision, NOW)


def run_c(body: bytes | str, precision: str = "ns") -> ParseResult:
    factor = lp.PRECISION_FACTORS[precision]
    return lp._parse_c(lp._as_bytes(body), factor, NOW)


def canon(result: ParseResult) -> tuple:
    """A comparison key that also distinguishes 1 from 1.0 from True and -0.0 from 0.0.

    Columns are compared padded to every row; `storage` adds how a parser stored them
    (sparse columns: values present + their rows), which both parsers must agree on.
    """

    def value(x: object) -> tuple:
        return (type(x).__name__, x.hex() if isinstance(x, float) else x)

    tables = []
    for name, t in result.tables.items():
        assert len(t.line_numbers) == len(t.time) == t.rows
        tags = [(k, [value(x) for x in t.column(k)]) for k in t.tags]
        fields = [(k, type(ft).__name__, int(ft), [value(x) for x in t.column(k)]) for k, (ft, _) in t.fields.items()]
        for k in [*t.tags, *t.fields]:
            rows = t.index.get(k)
            if rows is None:
                assert len(t.values(k)) == t.rows
            else:
                assert len(rows) == len(t.values(k)) < t.rows  # a column every row has is dense
                assert None not in t.values(k)
                assert list(rows) == sorted(set(rows)) and all(0 <= r < t.rows for r in rows)
        tables.append((name, t.name, t.rows, t.line_numbers, [value(x) for x in t.time], tags, fields))
    errors = [(type(e).__name__, e.line_number, e.original_line, e.message) for e in result.errors]
    return tables, errors


def storage(result: ParseResult) -> list:
    """How each column is stored: (key, values present, rows or None when dense), in order."""
    return [
        (name, [(k, t.values(k), None if k not in t.index else list(t.index[k])) for k in [*t.tags, *t.fields]],
         list(t.index))
        for name, t in result.tables.items()
    ]


# ----------------------------------------------------------------------------- inputs

# Pieces that steer random bodies into every corner of the grammar.
TOKENS = [
    "cpu", "m", "host", "v", "time", "x", ",", "=", " ", "  ", "\\", '"', "\n", "\r", "\r\n", "\t", "#",
    "t", "T", "true", "FALSE", "f", "1", "0", "-", ".", "e", "E", "+", "i", "u", "5", "9" * 20,
    "1e400", "NaN", "inf", "é", "\u00ff", "\x00", "\\ ", "\\,", "\\=", "\\\\", '\\"', '"a b"',
]
RAW_TOKENS = [t.encode() for t in TOKENS] + [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x9f\x98"]

token_text = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)
token_bytes = st.lists(st.sampled_from(RAW_TOKENS) | st.binary(max_size=3), max_size=60).map(b"".join)
any_input = st.one_of(st.binary(max_size=200), st.text(max_size=200), token_text, token_bytes)


@FUZZ
@given(body=any_input, precision=st.sampled_from(PRECISIONS))
def test_python_never_raises(body, precision):
    result = run_python(body, precision)
    assert isinstance(result, ParseResult)
    assert all(isinstance(e, LineError) for e in result.errors)
    canon(result)


@needs_c
@FUZZ
@given(body=any_input, precision=st.sampled_from(PRECISIONS))
def test_c_matches_python_on_arbitrary_input(body, precision):
    c = run_c(body, precision)
    assert isinstance(c, ParseResult)
    py = run_python(body, precision)
    assert canon(c) == canon(py)
    assert storage(c) == storage(py)


# ----------------------------------------------------------------------------- valid bodies

NAME_CHARS = st.characters(codec="utf-8", exclude_characters="\n") | st.sampled_from(list(",= \\\"#\t\r"))
names = st.text(NAME_CHARS, min_size=1, max_size=8)
measurements = names.filter(lambda s: s[0] not in "#\t")  # would read as a comment / be stripped
keys = names.filter(lambda s: s != "time")


def esc_measurement(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def esc_key(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def esc_string(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


TRUE = ["t", "T", "true", "True", "TRUE"]
FALSE = ["f", "F", "false", "False", "FALSE"]


@st.composite
def field_value(draw, ftype: FieldType) -> tuple[str, object]:
    """(LP text, expected Python value) for a field of the given type."""
    if ftype is FieldType.FLOAT:
        x = draw(st.floats(allow_nan=False, allow_infinity=False))
        fmt = draw(st.sampled_from(["{!r}", "{:.17g}", "{:.3f}", "{:e}", "{:.0f}", "{:.2E}"]))
        text = fmt.format(x)
        if math.isinf(float(text)):  # rounding the largest floats can overflow
            text = repr(x)
        return text, float(text)
    if ftype is FieldType.INT:
        v = draw(st.integers(-(2**63), 2**63 - 1))
        return f"{v}i", v
    if ftype is FieldType.UINT:
        v = draw(st.integers(0, 2**64 - 1))
        return f"{v}u", v
    if ftype is FieldType.STRING:
        s = draw(st.text(NAME_CHARS, max_size=12))
        return f'"{esc_string(s)}"', s
    b = draw(st.booleans())
    return draw(st.sampled_from(TRUE if b else FALSE)), b


@st.composite
def valid_bodies(draw):
    """A body of valid lines (plus comments/blank lines) and the tables it must produce."""
    precision = draw(st.sampled_from(PRECISIONS))
    factor = lp.PRECISION_FACTORS[precision]
    schemas = []
    for m in draw(st.lists(measurements, min_size=1, max_size=3, unique=True)):
        ks = draw(st.lists(keys, min_size=1, max_size=6, unique=True))
        n_tags = draw(st.integers(0, len(ks) - 1))
        ftypes = {k: draw(st.sampled_from(list(FieldType))) for k in ks[n_tags:]}
        schemas.append((m, ks[:n_tags], ftypes))

    text_lines: list[str] = []
    expected: dict[str, dict] = {}
    for _ in range(draw(st.integers(1, 6))):
        for _ in range(draw(st.integers(0, 1))):
            text_lines.append(draw(st.sampled_from(["", "# comment", "  ", "\t# x, y=1"])))
        m, tag_keys, ftypes = draw(st.sampled_from(schemas))
        tags = draw(st.lists(st.sampled_from(tag_keys), unique=True)) if tag_keys else []
        tag_values = [draw(names) for _ in tags]
        fkeys = draw(st.lists(st.sampled_from(list(ftypes)), min_size=1, unique=True))
        fvals = [draw(field_value(ftypes[k])) for k in fkeys]
        ts = draw(st.none() | st.integers(-((2**63) // factor), (2**63 - 1) // factor))
        gap = " " * draw(st.integers(1, 3))

        line = draw(st.sampled_from(["", " ", "\t "])) + esc_measurement(m)
        line += "".join(f",{esc_key(k)}={esc_key(v)}" for k, v in zip(tags, tag_values))
        line += gap + ",".join(f"{esc_key(k)}={text}" for k, (text, _) in zip(fkeys, fvals))
        if ts is not None:
            line += gap + str(ts)
        line += draw(st.sampled_from(["", " ", "\r"]))
        text_lines.append(line)

        line_number = len(text_lines)
        t = expected.setdefault(m, {"rows": 0, "lines": [], "time": [], "tags": {}, "fields": {}})
        row = t["rows"]
        for k, v in zip(tags, tag_values):
            t["tags"].setdefault(k, [None] * row).append(v)
        for k, (_, v) in zip(fkeys, fvals):
            t["fields"].setdefault(k, (ftypes[k], [None] * row))[1].append(v)
        t["rows"] = row + 1
        t["lines"].append(line_number)
        t["time"].append(NOW if ts is None else ts * factor)
        for col in list(t["tags"].values()) + [c for _, c in t["fields"].values()]:
            if len(col) == row:
                col.append(None)

    body = "\n".join(text_lines) + draw(st.sampled_from(["", "\n"]))
    as_bytes = draw(st.booleans())
    return (body.encode() if as_bytes else body), precision, expected


def expected_result(expected: dict) -> ParseResult:
    result = ParseResult()
    for name, t in expected.items():
        result.tables[name] = lp.ParsedTable(name, t["rows"], t["lines"], t["time"], t["tags"], t["fields"])
    return result


IMPLS = [pytest.param(run_python, id="python")]
if lp.c_extension_available():
    IMPLS.append(pytest.param(run_c, id="c"))


@pytest.mark.parametrize("run", IMPLS)
@FUZZ
@given(case=valid_bodies())
def test_valid_bodies_round_trip(run, case):
    body, precision, expected = case
    result = run(body, precision)
    assert result.errors == []
    assert canon(result) == canon(expected_result(expected))


@st.composite
def mutated_bodies(draw):
    """A valid body with a few random edits: almost-valid input reaches the deepest error paths."""
    body, precision, _ = draw(valid_bodies())
    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(RAW_TOKENS) | st.binary(min_size=1, max_size=2))
        if op == "insert":
            data = data[:pos] + piece + data[pos:]
        elif op == "delete":
            data = data[:pos] + data[pos + len(piece):]
        else:
            data = data[:pos] + piece + data[pos + len(piece):]
    return data, precision


@needs_c
@FUZZ
@given(case=mutated_bodies())
def test_c_matches_python_on_mutated_valid_bodies(case):
    body, precision = case
    c, py = run_c(body, precision), run_python(body, precision)
    assert canon(c) == canon(py)
    assert storage(c) == storage(py)


@st.composite
def float_tokens(draw) -> str:
    """Decimal float spellings around every conversion path (short, 19-digit, long, huge exponents)."""
    digits = str(draw(st.integers(0, 10**25) | st.integers(2**53 - 10, 2**53 + 10) | st.integers(0, 10**19)))
    point = draw(st.integers(0, len(digits)))
    text = digits[:point] + draw(st.sampled_from([".", ""])) + digits[point:]
    if draw(st.booleans()):
        text += draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
        text += str(draw(st.integers(0, 400)))
    return draw(st.sampled_from(["", "-"])) + text


@needs_c
@FUZZ
@given(token=float_tokens() | st.floats(allow_nan=False, allow_infinity=False).map(repr))
def test_c_float_conversion_matches_python_float(token):
    body = f"m v={token}"
    c, py = run_c(body), run_python(body)
    assert canon(c) == canon(py)
    if not py.errors:
        (value,) = py.tables["m"].fields["v"][1]
        assert value.hex() == float(token).hex()
