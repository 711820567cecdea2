"""The InfluxQL parser: text to the typed tree, and its errors."""

from __future__ import annotations

import random

import pytest

from pe_engine.influxql import ast as a
from pe_engine.influxql.errors import InfluxQLError, InfluxQLSyntaxError, InfluxQLUnsupported
from pe_engine.influxql.parser import MAX_DEPTH, parse_query, parse_statement

S = 1_000_000_000
M = 60 * S
H = 60 * M


def v(name: str, cast: a.DataType | None = None) -> a.VarRef:
    return a.VarRef(name, cast)


def b(op: a.BinaryOp, lhs: a.Expr, rhs: a.Expr) -> a.BinaryExpr:
    return a.BinaryExpr(op, lhs, rhs)


def i(value: int) -> a.IntegerLiteral:
    return a.IntegerLiteral(value)


def s(value: str) -> a.StringLiteral:
    return a.StringLiteral(value)


def m(name: str | None = None, **kw: str) -> a.Measurement:
    return a.Measurement(name=name, **kw)


def sel(*fields: a.Expr | a.Field, sources: tuple[a.Source, ...] = (m("cpu"),), **kw: object) -> a.SelectStatement:
    fs = tuple(f if isinstance(f, a.Field) else a.Field(f) for f in fields)
    return a.SelectStatement(fields=fs, sources=sources, **kw)  # type: ignore[arg-type]


def field_expr(text: str) -> a.Expr:
    stmt = parse_statement(f"SELECT {text} FROM cpu")
    assert isinstance(stmt, a.SelectStatement)
    return stmt.fields[0].expr


def where(text: str) -> a.Expr | None:
    stmt = parse_statement(f"SELECT x FROM cpu WHERE {text}")
    assert isinstance(stmt, a.SelectStatement)
    return stmt.condition


now = a.Call("now")
EQ, NEQ, AND, OR = a.BinaryOp.EQ, a.BinaryOp.NEQ, a.BinaryOp.AND, a.BinaryOp.OR
ADD, SUB, MUL, DIV = a.BinaryOp.ADD, a.BinaryOp.SUB, a.BinaryOp.MUL, a.BinaryOp.DIV


# ---- SELECT ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "stmt"), [
    ("SELECT * FROM cpu", sel(a.Wildcard())),
    ("SELECT *::field, *::tag FROM cpu", sel(a.Wildcard(a.WildcardKind.FIELD), a.Wildcard(a.WildcardKind.TAG))),
    ("SELECT usage AS u, \"idle time\" AS \"i t\" FROM cpu",
     sel(a.Field(v("usage"), "u"), a.Field(v("idle time"), "i t"))),
    ("SELECT x::float, y::integer, z::string, w::boolean, t::tag, f::field FROM cpu",
     sel(v("x", a.DataType.FLOAT), v("y", a.DataType.INTEGER), v("z", a.DataType.STRING),
         v("w", a.DataType.BOOLEAN), v("t", a.DataType.TAG), v("f", a.DataType.FIELD))),
    ("SELECT MEAN(usage), percentile(usage, 95), count(*), mean(/^u/) FROM cpu",
     sel(a.Call("mean", (v("usage"),)), a.Call("percentile", (v("usage"), i(95))), a.Call("count", (a.Wildcard(),)),
         a.Call("mean", (a.RegexLiteral("^u"),)))),
    ("SELECT DISTINCT host FROM cpu", sel(a.Distinct("host"))),
    ("SELECT count(DISTINCT host), distinct(x) FROM cpu",
     sel(a.Call("count", (a.Distinct("host"),)), a.Call("distinct", (v("x"),)))),
    ("SELECT derivative(mean(x), 1s) FROM cpu",
     sel(a.Call("derivative", (a.Call("mean", (v("x"),)), a.DurationLiteral(S))))),
    ("SELECT x INTO db.rp.out FROM cpu", sel(v("x"), into=a.Into(m("out", database="db", retention_policy="rp")))),
    ("SELECT x FROM cpu LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4", sel(v("x"), limit=1, offset=2, slimit=3, soffset=4)),
    ("SELECT x FROM cpu ORDER BY time DESC", sel(v("x"), sort=(a.SortField("time", False),))),
    ("SELECT x FROM cpu ORDER BY time", sel(v("x"), sort=(a.SortField("time", True),))),
    ("SELECT x FROM cpu ORDER BY ASC", sel(v("x"), sort=(a.SortField("time", True),))),
    ("SELECT x FROM cpu tz('Europe/Paris')", sel(v("x"), timezone="Europe/Paris")),
    ("SELECT x FROM cpu fill(0)", sel(v("x"), fill=a.FillOption(a.FillMode.NUMBER, 0))),
])
def test_select(text: str, stmt: a.SelectStatement) -> None:
    assert parse_statement(text) == stmt


def test_full_dashboard_query() -> None:
    text = ("SELECT mean(\"usage_idle\") AS \"mean\" FROM \"telegraf\".\"autogen\".\"cpu\" "
            "WHERE (\"host\" =~ /^(web1|web2)$/) AND time >= now() - 6h GROUP BY time(1m), \"host\" fill(null) "
            "ORDER BY time DESC LIMIT 1000 tz('UTC')")
    assert parse_statement(text) == a.SelectStatement(
        fields=(a.Field(a.Call("mean", (v("usage_idle"),)), "mean"),),
        sources=(m("cpu", database="telegraf", retention_policy="autogen"),),
        condition=b(AND, b(a.BinaryOp.EQ_REGEX, v("host"), a.RegexLiteral("^(web1|web2)$")),
                    b(a.BinaryOp.GTE, v("time"), b(SUB, now, a.DurationLiteral(6 * H)))),
        dimensions=(a.Call("time", (a.DurationLiteral(M),)), v("host")),
        fill=a.FillOption(a.FillMode.NULL), sort=(a.SortField("time", False),), limit=1000, timezone="UTC")


@pytest.mark.parametrize(("text", "option"), [
    ("null", a.FillOption(a.FillMode.NULL)),
    ("none", a.FillOption(a.FillMode.NONE)),
    ("previous", a.FillOption(a.FillMode.PREVIOUS)),
    ("LINEAR", a.FillOption(a.FillMode.LINEAR)),
    ("42", a.FillOption(a.FillMode.NUMBER, 42)),
    ("1.5", a.FillOption(a.FillMode.NUMBER, 1.5)),
    ("-1", a.FillOption(a.FillMode.NUMBER, -1)),
    ("-0.25", a.FillOption(a.FillMode.NUMBER, -0.25)),
])
def test_fill(text: str, option: a.FillOption) -> None:
    stmt = parse_statement(f"SELECT mean(x) FROM cpu GROUP BY time(1m) fill({text}) LIMIT 5")
    assert isinstance(stmt, a.SelectStatement)
    assert stmt.fill == option and stmt.limit == 5


@pytest.mark.parametrize(("text", "dims"), [
    ("time(10m)", (a.Call("time", (a.DurationLiteral(10 * M),)),)),
    ("time(10m, 5m)", (a.Call("time", (a.DurationLiteral(10 * M), a.DurationLiteral(5 * M))),)),
    ("time(10m, -5m)", (a.Call("time", (a.DurationLiteral(10 * M), a.DurationLiteral(-5 * M))),)),
    ("host, \"data center\"", (v("host"), v("data center"))),
    ("*", (a.Wildcard(),)),
    ("/^h/", (a.RegexLiteral("^h"),)),
    ("TIME(1h), host", (a.Call("time", (a.DurationLiteral(H),)), v("host"))),
])
def test_group_by(text: str, dims: tuple[a.Expr, ...]) -> None:
    stmt = parse_statement(f"SELECT mean(x) FROM cpu GROUP BY {text}")
    assert isinstance(stmt, a.SelectStatement)
    assert stmt.dimensions == dims


@pytest.mark.parametrize(("text", "source"), [
    ("cpu", m("cpu")),
    ("\"cpu load\"", m("cpu load")),
    ("autogen.cpu", m("cpu", retention_policy="autogen")),
    ("db.rp.cpu", m("cpu", database="db", retention_policy="rp")),
    ("db..cpu", m("cpu", database="db")),
    ("\"my db\".\"my rp\".\"my m\"", m("my m", database="my db", retention_policy="my rp")),
    ("/^cpu/", m(regex="^cpu")),
    ("db.rp./^c/", m(regex="^c", database="db", retention_policy="rp")),
    ("db../^c/", m(regex="^c", database="db")),
    ("/a\\/b/", m(regex="a/b")),
])
def test_sources(text: str, source: a.Measurement) -> None:
    stmt = parse_statement(f"SELECT x FROM {text}")
    assert isinstance(stmt, a.SelectStatement)
    assert stmt.sources == (source,)


def test_several_sources_and_subquery() -> None:
    stmt = parse_statement("SELECT max(m) FROM (SELECT mean(x) AS m FROM cpu GROUP BY time(1m)), mem")
    inner = sel(a.Field(a.Call("mean", (v("x"),)), "m"), dimensions=(a.Call("time", (a.DurationLiteral(M),)),))
    assert stmt == sel(a.Call("max", (v("m"),)), sources=(a.SubQuery(inner), m("mem")))


# ---- expressions -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expr"), [
    ("a + b * c", b(ADD, v("a"), b(MUL, v("b"), v("c")))),
    ("a * b + c", b(ADD, b(MUL, v("a"), v("b")), v("c"))),
    ("a - b - c", b(SUB, b(SUB, v("a"), v("b")), v("c"))),
    ("a / b / c", b(DIV, b(DIV, v("a"), v("b")), v("c"))),
    ("(a + b) * c", b(MUL, b(ADD, v("a"), v("b")), v("c"))),
    ("a % b + c", b(ADD, b(a.BinaryOp.MOD, v("a"), v("b")), v("c"))),
    ("a | b & c", b(a.BinaryOp.BITOR, v("a"), b(a.BinaryOp.BITAND, v("b"), v("c")))),
    ("a ^ b * c", b(a.BinaryOp.BITXOR, v("a"), b(MUL, v("b"), v("c")))),
    ("a + b | c", b(a.BinaryOp.BITOR, b(ADD, v("a"), v("b")), v("c"))),
    ("-1", i(-1)),
    ("-1.5", a.NumberLiteral(-1.5)),
    ("-10s", a.DurationLiteral(-10 * S)),
    ("-x", a.UnaryMinus(v("x"))),
    ("-mean(x) * 2", b(MUL, a.UnaryMinus(a.Call("mean", (v("x"),))), i(2))),
    ("2 - -1", b(SUB, i(2), i(-1))),
    ("-9223372036854775808", i(-(2**63))),
    ("9223372036854775807", i(2**63 - 1)),
    ("1e3", a.NumberLiteral(1000.0)),
    (".5", a.NumberLiteral(0.5)),
    ("2.5E-1", a.NumberLiteral(0.25)),
    ("'it\\'s'", s("it's")),
    ("'a\\\\b\\n'", s("a\\b\n")),
    ("\"we\\\"ird\"", v('we"ird')),
    ("$p", a.BoundParameter("p")),
    ("$\"my param\"", a.BoundParameter("my param")),
    ("5u", a.DurationLiteral(5_000)),
    ("5µ", a.DurationLiteral(5_000)),
    ("100ns", a.DurationLiteral(100)),
    ("1h30m", a.DurationLiteral(90 * M)),
    ("time", v("time")),
    ("selector", v("selector")),  # a keyword's prefix is a name
])
def test_expressions(text: str, expr: a.Expr) -> None:
    assert field_expr(text) == expr


@pytest.mark.parametrize(("text", "cond"), [
    ("a = 1 OR b = 2 AND c = 3", b(OR, b(EQ, v("a"), i(1)), b(AND, b(EQ, v("b"), i(2)), b(EQ, v("c"), i(3))))),
    ("(a = 1 OR b = 2) AND c = 3", b(AND, b(OR, b(EQ, v("a"), i(1)), b(EQ, v("b"), i(2))), b(EQ, v("c"), i(3)))),
    ("a <> 'x'", b(NEQ, v("a"), s("x"))),
    ("a != 'x'", b(NEQ, v("a"), s("x"))),
    ("a < 1 AND a <= 2 AND a > 3 AND a >= 4",
     b(AND, b(AND, b(AND, b(a.BinaryOp.LT, v("a"), i(1)), b(a.BinaryOp.LTE, v("a"), i(2))),
              b(a.BinaryOp.GT, v("a"), i(3))), b(a.BinaryOp.GTE, v("a"), i(4)))),
    ("host =~ /^web\\/[0-9]+$/", b(a.BinaryOp.EQ_REGEX, v("host"), a.RegexLiteral("^web/[0-9]+$"))),
    ("host !~ /x/", b(a.BinaryOp.NEQ_REGEX, v("host"), a.RegexLiteral("x"))),
    ("host =~ $re", b(a.BinaryOp.EQ_REGEX, v("host"), a.BoundParameter("re"))),
    ("a / 2 > 1", b(a.BinaryOp.GT, b(DIV, v("a"), i(2)), i(1))),
    ("time > now() - 1h", b(a.BinaryOp.GT, v("time"), b(SUB, now, a.DurationLiteral(H)))),
    ("time >= '2024-01-01T00:00:00Z'", b(a.BinaryOp.GTE, v("time"), s("2024-01-01T00:00:00Z"))),
    ("time > 1700000000s", b(a.BinaryOp.GT, v("time"), a.DurationLiteral(1_700_000_000 * S))),
    ("time < 1700000000000000000", b(a.BinaryOp.LT, v("time"), i(1_700_000_000_000_000_000))),
    ("up = true OR up = FALSE", b(OR, b(EQ, v("up"), a.BooleanLiteral(True)), b(EQ, v("up"), a.BooleanLiteral(False)))),
])
def test_conditions(text: str, cond: a.Expr) -> None:
    assert where(text) == cond


# ---- other statements ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "stmt"), [
    ("SHOW DATABASES", a.ShowDatabases()),
    ("show retention policies", a.ShowRetentionPolicies()),
    ("SHOW RETENTION POLICIES ON \"my db\"", a.ShowRetentionPolicies("my db")),
    ("SHOW MEASUREMENTS", a.ShowMeasurements()),
    ("SHOW MEASUREMENTS ON db WITH MEASUREMENT =~ /^c/ WHERE host = 'a' LIMIT 5 OFFSET 1",
     a.ShowMeasurements("db", m(regex="^c"), a.BinaryOp.EQ_REGEX, b(EQ, v("host"), s("a")), 5, 1)),
    ("SHOW MEASUREMENTS WITH MEASUREMENT = cpu", a.ShowMeasurements(None, m("cpu"), EQ)),
    ("SHOW MEASUREMENTS WITH MEASUREMENT != cpu", a.ShowMeasurements(None, m("cpu"), NEQ)),
    ("SHOW MEASUREMENTS WITH MEASUREMENT !~ /x/", a.ShowMeasurements(None, m(regex="x"), a.BinaryOp.NEQ_REGEX)),
    ("SHOW TAG KEYS", a.ShowTagKeys()),
    ("SHOW TAG KEYS ON db FROM cpu, /^m/ WHERE a = 'b' LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4",
     a.ShowTagKeys("db", (m("cpu"), m(regex="^m")), b(EQ, v("a"), s("b")), 1, 2, 3, 4)),
    ("SHOW TAG VALUES WITH KEY = host", a.ShowTagValues(a.TagKeyOp.EQ, ("host",))),
    ("SHOW TAG VALUES WITH KEY != host", a.ShowTagValues(a.TagKeyOp.NEQ, ("host",))),
    ("SHOW TAG VALUES WITH KEY =~ /^h/", a.ShowTagValues(a.TagKeyOp.EQ_REGEX, (), "^h")),
    ("SHOW TAG VALUES WITH KEY !~ /^h/", a.ShowTagValues(a.TagKeyOp.NEQ_REGEX, (), "^h")),
    ("SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, \"region\") WHERE x = 'y' LIMIT 3 OFFSET 1",
     a.ShowTagValues(a.TagKeyOp.IN, ("host", "region"), None, "db", (m("cpu"),), b(EQ, v("x"), s("y")), 3, 1)),
    ("SHOW FIELD KEYS", a.ShowFieldKeys()),
    ("SHOW FIELD KEYS ON db FROM cpu LIMIT 2 OFFSET 1", a.ShowFieldKeys("db", (m("cpu"),), 2, 1)),
    ("SHOW SERIES", a.ShowSeries()),
    ("SHOW SERIES ON db FROM db.rp.cpu WHERE host = 'a' LIMIT 1 OFFSET 2",
     a.ShowSeries("db", (m("cpu", database="db", retention_policy="rp"),), b(EQ, v("host"), s("a")), 1, 2)),
    ("CREATE DATABASE foo", a.CreateDatabase("foo")),
    ("CREATE DATABASE \"f o\" WITH DURATION 30d REPLICATION 1 SHARD DURATION 1h NAME \"rp\"", a.CreateDatabase("f o")),
    ("DROP DATABASE foo", a.DropDatabase("foo")),
    ("EXPLAIN SELECT x FROM cpu", a.Explain(sel(v("x")))),
    ("explain analyze SELECT x FROM cpu", a.Explain(sel(v("x")), analyze=True)),
])
def test_statements(text: str, stmt: a.Statement) -> None:
    assert parse_statement(text) == stmt


# ---- lexical matters --------------------------------------------------------------------------------

def test_keywords_are_case_insensitive() -> None:
    assert parse_statement("sElEcT x As y FrOm cpu wHeRe a = 1 gRoUp By time(1m) FiLl(NoNe) LiMiT 1") == sel(
        a.Field(v("x"), "y"), condition=b(EQ, v("a"), i(1)), dimensions=(a.Call("time", (a.DurationLiteral(M),)),),
        fill=a.FillOption(a.FillMode.NONE), limit=1)


def test_names_keep_their_case() -> None:
    assert parse_statement("SELECT Usage FROM CPU") == sel(v("Usage"), sources=(m("CPU"),))


def test_comments_and_newlines() -> None:
    text = "-- leading comment\nSELECT x /* inline\n comment */ FROM cpu -- trailing\n WHERE a = 1"
    assert parse_statement(text) == sel(v("x"), condition=b(EQ, v("a"), i(1)))


def test_soft_keywords_are_names_elsewhere() -> None:
    assert parse_statement("SELECT fill, tz, none, previous FROM linear") == sel(
        v("fill"), v("tz"), v("none"), v("previous"), sources=(m("linear"),))


def test_quoted_keyword_is_a_name() -> None:
    assert parse_statement('SELECT "from", "key" FROM "select"') == sel(v("from"), v("key"), sources=(m("select"),))


@pytest.mark.parametrize(("text", "count"), [
    ("SELECT x FROM a; SELECT y FROM b", 2),
    ("SELECT x FROM a;", 1),
    (";;SELECT x FROM a;;;SHOW DATABASES;", 2),
    ("", 0),
    ("  ;  ", 0),
])
def test_multiple_statements(text: str, count: int) -> None:
    assert len(parse_query(text).statements) == count


def test_statements_in_order() -> None:
    assert parse_query("SHOW DATABASES; DROP DATABASE x").statements == (a.ShowDatabases(), a.DropDatabase("x"))


def test_semicolon_in_a_string_does_not_split() -> None:
    assert parse_query("SELECT x FROM a WHERE t = 'a;b'").statements == (
        sel(v("x"), sources=(m("a"),), condition=b(EQ, v("t"), s("a;b"))),)


def test_parse_statement_wants_exactly_one() -> None:
    with pytest.raises(InfluxQLError, match="expected one statement, found 2"):
        parse_statement("SHOW DATABASES; SHOW DATABASES")


# ---- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "detail", "line", "char"), [
    ("SELECT FROM cpu", "found FROM, expected identifier, string, number", 1, 8),
    ("SELECT", "found EOF, expected identifier", 1, 7),
    ("SELECT x FROM", "found EOF, expected identifier, regex, (", 1, 14),
    ("SELECT x\nFROM cpu\nWHERE", "found EOF, expected identifier", 3, 6),
    ("SELECT x FROM cpu\n  WHERE ,", "found ,, expected identifier", 2, 9),
    ("SELECT x FROMcpu", "found FROMcpu, expected", 1, 10),
    ("SELECT x FROM cpu LIMIT x", "found x, expected number", 1, 25),
    ("SELECT x FROM cpu GROUP BY time(1m) fill(foo)", "found foo, expected number, LINEAR, NONE, NULL, PREVIOUS", 1, 42),
    ("SELECT a # b FROM c", "found #, expected", 1, 10),
    ("SELECT 'abc FROM c", "found unterminated string, expected", 1, 8),
    ('SELECT "abc FROM c', "found unterminated quoted identifier, expected", 1, 8),
    ("FOO", "found FOO, expected CREATE, DROP, EXPLAIN, SELECT, SHOW", 1, 1),
    ("SELECT x FROM cpu WHERE time > now() - 10x", "invalid duration 10x", 1, 40),
    ("SELECT mean(x) FROM cpu GROUP BY time(10x)", "invalid duration 10x", 1, 39),
    ("SELECT mean(x) FROM cpu GROUP BY time(1.5m)", "invalid duration 1.5m", 1, 39),
    ("SELECT x FROM cpu OFFSET 1 LIMIT 2", "found LIMIT, expected", 1, 28),
    ("SELECT 9223372036854775808 FROM cpu", "unable to parse integer 9223372036854775808: out of int64 range", 1, 8),
    ("SELECT x FROM cpu LIMIT 99999999999999999999", "unable to parse integer 99999999999999999999", 1, 25),
    ("SELECT 'a\\qb' FROM cpu", "bad escape \\q", 1, 10),
    ("SELECT x::bogus FROM cpu", "found bogus, expected float, integer", 1, 11),
    ("SELECT *::float FROM cpu", "found float, expected field or tag", 1, 11),
    ("SELECT x FROM cpu WHERE host =~ 'web'", "=~ takes a regex", 1, 30),
    ("SHOW MEASUREMENTS WITH MEASUREMENT =~ cpu", "found cpu, expected regex", 1, 39),
    ("SHOW TAG VALUES", "found EOF, expected", 1, 16),
    ("SHOW TAG VALUES WITH KEY =~ 'host'", "found 'host', expected regex", 1, 29),
    ("SELECT key FROM cpu", "found KEY, expected", 1, 8),
    ("SHOW DATABASES; SELECT", "found EOF", 1, 23),
])
def test_syntax_errors(text: str, detail: str, line: int, char: int) -> None:
    with pytest.raises(InfluxQLSyntaxError) as info:
        parse_query(text)
    err = info.value
    assert err.detail.startswith(detail), err.detail
    assert (err.line, err.char) == (line, char)
    assert str(err) == f"error parsing query: {err.detail} at line {line}, char {char}"
    assert "__" not in err.detail and "$END" not in err.detail  # no lark internals


@pytest.mark.parametrize(("text", "message"), [
    ("CREATE USER bob WITH PASSWORD 'x'", "CREATE USER is not supported: pe uses tokens (pe create token)"),
    ("GRANT ALL TO bob", "GRANT is not supported: pe uses tokens"),
    ("show users", "SHOW USERS is not supported"),
    ("DELETE FROM cpu WHERE time < now()", "DELETE is not supported"),
    ("DROP SERIES FROM cpu", "DROP SERIES is not supported"),
    ("DROP MEASUREMENT cpu", "DROP MEASUREMENT is not supported"),
    ("SHOW QUERIES", "SHOW QUERIES is not supported"),
    ("KILL QUERY 36", "KILL QUERY is not supported"),
    ("CREATE RETENTION POLICY rp ON db DURATION 1d REPLICATION 1", "CREATE RETENTION POLICY is not supported"),
    ("SHOW STATS", "SHOW STATS is not supported"),
    ("SHOW DIAGNOSTICS", "SHOW DIAGNOSTICS is not supported"),
    ("CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT mean(x) INTO y FROM z GROUP BY time(1m) END",
     "CREATE CONTINUOUS QUERY is not supported"),
    ("SHOW SERIES CARDINALITY", "SHOW SERIES CARDINALITY is not supported"),
    ("SHOW TAG VALUES EXACT CARDINALITY WITH KEY = host", "SHOW TAG VALUES EXACT CARDINALITY is not supported"),
    ("SELECT x FROM a; /* c */ DROP USER bob", "DROP USER is not supported"),
])
def test_unsupported(text: str, message: str) -> None:
    with pytest.raises(InfluxQLUnsupported) as info:
        parse_query(text)
    assert str(info.value).startswith(message)


def test_syntax_error_before_an_unsupported_statement_wins() -> None:
    with pytest.raises(InfluxQLSyntaxError):
        parse_query("SELECT FROM x; CREATE USER bob WITH PASSWORD 'x'")


# ---- nesting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM m",
    "SELECT " + "+".join(["a"] * 5000) + " FROM m",
    "SELECT " + "- " * 5000 + "x FROM m",
    "SELECT x FROM m WHERE " + " OR ".join(["a = 1"] * 5000),
    "SELECT * FROM " + "(SELECT * FROM " * 3000 + "m" + ")" * 3000,
    "SELECT " + "f(" * 5000 + "x" + ")" * 5000 + " FROM m",
])
def test_nesting_bomb_is_refused(text: str) -> None:
    with pytest.raises(InfluxQLError, match="nested deeper than"):
        parse_query(text)


def test_nesting_up_to_the_limit_parses() -> None:
    depth = MAX_DEPTH - 5
    expr = field_expr("(" * depth + "1" + ")" * depth)
    assert expr == i(1)
    chain = field_expr("+".join(["a"] * depth))
    assert isinstance(chain, a.BinaryExpr)


def test_parentheses_in_strings_do_not_count() -> None:
    text = "SELECT x FROM m WHERE t = '" + "(" * (MAX_DEPTH + 10) + "'"
    assert where_of(text) == b(EQ, v("t"), s("(" * (MAX_DEPTH + 10)))


def where_of(text: str) -> a.Expr | None:
    stmt = parse_statement(text)
    assert isinstance(stmt, a.SelectStatement)
    return stmt.condition


# ---- property-ish: random arithmetic keeps Go influxql's precedence ---------------------------------

_PREC = {"+": 5, "-": 5, "|": 5, "^": 5, "*": 6, "/": 6, "%": 6, "&": 6}
_OPS = {op.value: op for op in a.BinaryOp}


def _expected_tree(names: list[str], ops: list[str]) -> a.Expr:
    """Precedence climbing, written independently of the parser's shunting-yard."""
    pos = 0

    def climb(min_prec: int) -> a.Expr:
        nonlocal pos
        lhs: a.Expr = v(names[pos])
        while pos < len(ops) and _PREC[ops[pos]] >= min_prec:
            op = ops[pos]
            pos += 1
            rhs = climb(_PREC[op] + 1)
            lhs = b(_OPS[op], lhs, rhs)
        return lhs

    return climb(0)


@pytest.mark.parametrize("seed", range(20))
def test_random_arithmetic_precedence(seed: int) -> None:
    rnd = random.Random(seed)
    n = rnd.randint(1, 12)
    names = [f"v{k}" for k in range(n + 1)]
    ops = [rnd.choice(list(_PREC)) for _ in range(n)]
    text = names[0] + "".join(f" {op} {name}" for op, name in zip(ops, names[1:]))
    assert field_expr(text) == _expected_tree(names, ops)


@pytest.mark.parametrize("seed", range(10))
def test_random_whitespace_and_case_do_not_matter(seed: int) -> None:
    rnd = random.Random(seed)
    words = ["SELECT", "mean(x)", "AS", "m", "FROM", "cpu", "WHERE", "host", "=", "'a'", "AND", "time", ">",
             "now()", "-", "1h", "GROUP", "BY", "time(1m)", "fill(none)", "LIMIT", "3"]
    base = parse_statement(" ".join(words))
    keywords = {"SELECT", "AS", "FROM", "WHERE", "AND", "GROUP", "BY", "LIMIT", "fill(none)", "now()"}
    mangled = "".join(
        ("".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in w) if w in keywords else w)
        + rnd.choice([" ", "  ", "\n", "\t", " /* c */ ", " -- c\n"]) for w in words)
    assert parse_statement(mangled) == base
