"""InfluxQL text to the ast.py tree, with lark's LALR parser (grammar.lark).

Lark is a well-kept grammar tool with a fast LALR mode and a contextual lexer, which InfluxQL
needs: `/` is a regex or a division depending on where it stands. Errors carry 1.x's
`at line L, char C` positions.
"""
from __future__ import annotations

import builtins
import functools
import re
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError

from . import ast
from .duration import DurationError, parse_duration
from .errors import InfluxQLError, InfluxQLSyntaxError, InfluxQLUnsupported

MAX_DEPTH = 200  # nesting of parentheses; deeper text is refused before parsing
_INT64_MAX = 2**63 - 1
_UNSUPPORTED = re.compile(
    r"^\s*(create\s+(user|retention|continuous|subscription)|drop\s+(user|retention|continuous|subscription|series|"
    r"measurement|shard)|alter|grant|revoke|set\s+password|delete|kill|show\s+(users|grants|queries|stats|"
    r"diagnostics|shards|shard\s+groups|subscriptions|continuous|measurement\s+cardinality|series\s+cardinality|"
    r"tag\s+key\s+cardinality|tag\s+values\s+cardinality|field\s+key\s+cardinality))\b", re.IGNORECASE)
_NAMES = {"IDENT": "identifier", "QUOTED_IDENT": "identifier", "STRING": "string", "INTEGER": "integer",
          "FLOAT": "number", "DURATION": "duration", "REGEX": "regex", "BIND": "bound parameter",
          "LPAR": "(", "RPAR": ")", "COMMA": ",", "SEMICOLON": ";", "$END": "EOF"}


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(text, start="query", parser="lalr", maybe_placeholders=False, propagate_positions=False)


def _unquote_ident(tok: Token) -> str:
    s = str(tok)
    if tok.type == "QUOTED_IDENT":
        return re.sub(r'\\(.)', r"\1", s[1:-1])
    return s


def _unquote_string(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _int(tok: Token) -> int:
    v = int(str(tok))
    if v > _INT64_MAX:
        raise InfluxQLSyntaxError(f"unable to parse integer {tok}: out of range", tok.line or 1, tok.column or 1)
    return v


_OPS = {op.value: op for op in ast.BinaryOp}
_OPS["<>"] = ast.BinaryOp.NEQ


def _tok(items: list[Any], type_: str) -> Token | None:
    for it in items:
        if isinstance(it, Token) and it.type == type_:
            return it
    return None


def _plain(items: list[Any]) -> list[Any]:
    """Children without keyword tokens."""
    return [i for i in items if not (isinstance(i, Token) and i.type.isupper() and i.type not in
                                     ("IDENT", "QUOTED_IDENT", "STRING", "INTEGER", "FLOAT", "REGEX", "DURATION"))]


class _Build(Transformer):
    # -- atoms
    def integer(self, c: list[Token]) -> ast.Expr:
        return ast.IntegerLiteral(_int(c[0]))

    def float(self, c: list[Token]) -> ast.Expr:
        return ast.NumberLiteral(float(str(c[0])))

    def duration(self, c: list[Token]) -> ast.Expr:
        try:
            return ast.DurationLiteral(parse_duration(str(c[0])))
        except DurationError as e:
            raise InfluxQLSyntaxError(str(e), c[0].line or 1, c[0].column or 1) from None

    def string(self, c: list[Token]) -> ast.Expr:
        return ast.StringLiteral(_unquote_string(str(c[0])))

    def regex(self, c: list[Token]) -> ast.Expr:
        return ast.RegexLiteral(str(c[0])[1:-1].replace("\\/", "/"))

    def true(self, c: list[Token]) -> ast.Expr:
        return ast.BooleanLiteral(True)

    def false(self, c: list[Token]) -> ast.Expr:
        return ast.BooleanLiteral(False)

    def bind(self, c: list[Token]) -> ast.Expr:
        return ast.BoundParameter(str(c[0])[1:])

    def wildcard(self, c: list[Any]) -> ast.Expr:
        return ast.Wildcard()

    def typed_wildcard(self, c: list[Token]) -> ast.Expr:
        kind = str(c[-1]).lower()
        if kind == "field":
            return ast.Wildcard(ast.WildcardKind.FIELD)
        if kind == "tag":
            return ast.Wildcard(ast.WildcardKind.TAG)
        raise InfluxQLError(f"invalid wildcard type {kind}: use *::field or *::tag")

    def distinct_kw(self, c: list[Any]) -> ast.Expr:
        return ast.Distinct(self._name(c[-1]))

    def keyword_as_ident(self, c: list[Token]) -> Token:
        return Token("IDENT", str(c[0]))

    def _name(self, x: Any) -> str:
        return _unquote_ident(x) if isinstance(x, Token) else str(x)

    def var(self, c: list[Any]) -> ast.Expr:
        name = self._name(c[0])
        cast = None
        if len(c) > 1:
            try:
                cast = ast.DataType(str(c[1]).lower())
            except ValueError:
                raise InfluxQLError(f"invalid type {c[1]}: use float, integer, unsigned, string, boolean, field or tag") \
                    from None
        return ast.VarRef(name, cast)

    def call(self, c: list[Any]) -> ast.Expr:
        return ast.Call(str(c[0]).lower(), tuple(x for x in c[1:] if x is not None))

    def neg(self, c: list[Any]) -> ast.Expr:
        e = c[0]
        if isinstance(e, ast.IntegerLiteral):
            return ast.IntegerLiteral(-e.value)
        if isinstance(e, ast.NumberLiteral):
            return ast.NumberLiteral(-e.value)
        if isinstance(e, ast.DurationLiteral):
            return ast.DurationLiteral(-e.nanoseconds)
        return ast.UnaryMinus(e)

    # -- operators
    def _chain(self, c: list[Any]) -> ast.Expr:
        e = c[0]
        i = 1
        while i < len(c):
            op = c[i]
            e = ast.BinaryExpr(_OPS[str(op).upper() if not isinstance(op, ast.BinaryOp) else op.value]
                               if not isinstance(op, ast.BinaryOp) else op, e, c[i + 1])
            i += 2
        return e

    or_expr = and_expr = cmp_expr = add_expr = mul_expr = _chain

    def add_op(self, c: list[Token]) -> ast.BinaryOp:
        return _OPS[str(c[0])]

    mul_op = add_op

    def cmp_op(self, c: list[Token]) -> ast.BinaryOp:
        return _OPS[str(c[0])]

    # -- select
    def field(self, c: list[Any]) -> ast.Field:
        parts = _plain(c)
        alias = self._name(parts[1]) if len(parts) > 1 else None
        return ast.Field(parts[0], alias)

    def fields(self, c: list[ast.Field]) -> tuple[ast.Field, ...]:
        return tuple(c)

    def sources(self, c: list[Any]) -> tuple[ast.Source, ...]:
        return tuple(c)

    def m1(self, c: list[Any]) -> ast.Measurement:
        return ast.Measurement(name=self._name(c[0]))

    def m2(self, c: list[Any]) -> ast.Measurement:
        return ast.Measurement(name=self._name(c[1]), retention_policy=self._name(c[0]))

    def m3(self, c: list[Any]) -> ast.Measurement:
        return ast.Measurement(name=self._name(c[2]), database=self._name(c[0]), retention_policy=self._name(c[1]))

    def m_db(self, c: list[Any]) -> ast.Measurement:
        return ast.Measurement(name=self._name(c[1]), database=self._name(c[0]))

    def m_regex(self, c: list[Token]) -> ast.Measurement:
        return ast.Measurement(regex=str(c[0])[1:-1].replace("\\/", "/"))

    def m3_regex(self, c: list[Any]) -> ast.Measurement:
        return ast.Measurement(regex=str(c[2])[1:-1].replace("\\/", "/"), database=self._name(c[0]),
                               retention_policy=self._name(c[1]))

    def m_db_regex(self, c: list[Any]) -> ast.Measurement:
        return ast.Measurement(regex=str(c[1])[1:-1].replace("\\/", "/"), database=self._name(c[0]))

    def measurement(self, c: list[Any]) -> ast.Measurement:
        return c[0]

    def subquery(self, c: list[Any]) -> ast.SubQuery:
        return ast.SubQuery(c[0])

    def into_clause(self, c: list[Any]) -> tuple[str, ast.Into]:
        return ("into", ast.Into(c[-1]))

    def where_clause(self, c: list[Any]) -> tuple[str, Any]:
        return ("where", c[-1])

    def group_clause(self, c: list[Any]) -> tuple[str, Any]:
        return ("group", tuple(_plain(c)))

    def fill_null(self, c: list[Any]) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.NULL)

    def fill_none(self, c: list[Any]) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.NONE)

    def fill_previous(self, c: list[Any]) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.PREVIOUS)

    def fill_linear(self, c: list[Any]) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.LINEAR)

    def signed_number(self, c: list[Any]) -> "int | builtins.float":
        tok = c[-1]
        v: int | builtins.float = _int(tok) if tok.type == "INTEGER" else float(str(tok))
        return -v if len(c) > 1 else v

    def fill_number(self, c: list[Any]) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.NUMBER, c[0])

    def fill_clause(self, c: list[Any]) -> tuple[str, Any]:
        return ("fill", c[-1])

    def sort_field(self, c: list[Any]) -> ast.SortField:
        desc = _tok(c, "DESC") is not None
        return ast.SortField(self._name(c[0]), not desc)

    def order_clause(self, c: list[Any]) -> tuple[str, Any]:
        return ("sort", tuple(x for x in c if isinstance(x, ast.SortField)))

    def limit(self, c: list[Token]) -> tuple[str, int]:
        return ("limit", _int(c[-1]))

    def offset(self, c: list[Token]) -> tuple[str, int]:
        return ("offset", _int(c[-1]))

    def slimit(self, c: list[Token]) -> tuple[str, int]:
        return ("slimit", _int(c[-1]))

    def soffset(self, c: list[Token]) -> tuple[str, int]:
        return ("soffset", _int(c[-1]))

    def tz_clause(self, c: list[Token]) -> tuple[str, str]:
        return ("tz", _unquote_string(str(c[-1])))

    def on_clause(self, c: list[Any]) -> tuple[str, str]:
        return ("on", self._name(c[-1]))

    def from_clause(self, c: list[Any]) -> tuple[str, Any]:
        return ("from", c[-1])

    @staticmethod
    def _clauses(c: list[Any]) -> dict[str, Any]:
        return {x[0]: x[1] for x in c if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str)}

    def select_stmt(self, c: list[Any]) -> ast.SelectStatement:
        cl = self._clauses(c)
        flds = next(x for x in c if isinstance(x, tuple) and x and isinstance(x[0], ast.Field))
        srcs = next(x for x in c if isinstance(x, tuple) and x and isinstance(x[0], (ast.Measurement, ast.SubQuery)))
        return ast.SelectStatement(
            fields=flds, sources=srcs, condition=cl.get("where"), dimensions=cl.get("group", ()),
            fill=cl.get("fill"), sort=cl.get("sort", ()), limit=cl.get("limit"), offset=cl.get("offset"),
            slimit=cl.get("slimit"), soffset=cl.get("soffset"), timezone=cl.get("tz"), into=cl.get("into"))

    def explain(self, c: list[Any]) -> ast.Explain:
        return ast.Explain(c[-1], analyze=_tok(c, "ANALYZE") is not None)

    # -- other statements
    def show_databases(self, c: list[Any]) -> ast.Statement:
        return ast.ShowDatabases()

    def show_rps(self, c: list[Any]) -> ast.Statement:
        return ast.ShowRetentionPolicies(self._clauses(c).get("on"))

    def with_measurement(self, c: list[Any]) -> tuple[str, Any]:
        op, target = c[-2], c[-1]
        m = (ast.Measurement(regex=str(target)[1:-1].replace("\\/", "/")) if isinstance(target, Token)
             and target.type == "REGEX" else ast.Measurement(name=self._name(target)))
        return ("withm", (op, m))

    def show_measurements(self, c: list[Any]) -> ast.Statement:
        cl = self._clauses(c)
        op, m = cl.get("withm", (None, None))
        return ast.ShowMeasurements(cl.get("on"), m, op, cl.get("where"), cl.get("limit"), cl.get("offset"))

    def show_tag_keys(self, c: list[Any]) -> ast.Statement:
        cl = self._clauses(c)
        return ast.ShowTagKeys(cl.get("on"), cl.get("from", ()), cl.get("where"), cl.get("limit"), cl.get("offset"),
                               cl.get("slimit"), cl.get("soffset"))

    def tag_key_match(self, c: list[Any]) -> tuple[str, Any]:
        op, target = c[0], c[1]
        if isinstance(target, Token) and target.type == "REGEX":
            kop = ast.TagKeyOp.EQ_REGEX if op is ast.BinaryOp.EQ_REGEX else ast.TagKeyOp.NEQ_REGEX
            if op not in (ast.BinaryOp.EQ_REGEX, ast.BinaryOp.NEQ_REGEX):
                raise InfluxQLError("WITH KEY =~ and !~ take a regular expression")
            return ("key", (kop, (), str(target)[1:-1].replace("\\/", "/")))
        if op not in (ast.BinaryOp.EQ, ast.BinaryOp.NEQ):
            raise InfluxQLError("WITH KEY takes =, !=, =~, !~ or IN")
        kop = ast.TagKeyOp.EQ if op is ast.BinaryOp.EQ else ast.TagKeyOp.NEQ
        return ("key", (kop, (self._name(target),), None))

    def tag_key_in(self, c: list[Any]) -> tuple[str, Any]:
        return ("key", (ast.TagKeyOp.IN, tuple(self._name(x) for x in _plain(c)), None))

    def show_tag_values(self, c: list[Any]) -> ast.Statement:
        cl = self._clauses(c)
        kop, keys, rx = cl["key"]
        return ast.ShowTagValues(kop, keys, rx, cl.get("on"), cl.get("from", ()), cl.get("where"), cl.get("limit"),
                                 cl.get("offset"), cl.get("slimit"), cl.get("soffset"))

    def show_field_keys(self, c: list[Any]) -> ast.Statement:
        cl = self._clauses(c)
        return ast.ShowFieldKeys(cl.get("on"), cl.get("from", ()), cl.get("limit"), cl.get("offset"))

    def show_series(self, c: list[Any]) -> ast.Statement:
        cl = self._clauses(c)
        return ast.ShowSeries(cl.get("on"), cl.get("from", ()), cl.get("where"), cl.get("limit"), cl.get("offset"))

    def create_db(self, c: list[Any]) -> ast.Statement:
        return ast.CreateDatabase(self._name(_plain(c)[0]))

    def drop_db(self, c: list[Any]) -> ast.Statement:
        return ast.DropDatabase(self._name(_plain(c)[0]))

    def query(self, c: list[Any]) -> ast.Query:
        return ast.Query(tuple(x for x in c if not isinstance(x, Token)))


def _depth_check(text: str) -> None:
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise InfluxQLError(f"expression nested deeper than {MAX_DEPTH} parentheses")
        elif ch == ")":
            depth -= 1


def _expected(e: UnexpectedInput) -> str:
    allowed: Any = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
    names = sorted({_NAMES.get(t, t.lower()) for t in allowed if not t.startswith("__")})
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


def parse_query(text: str) -> ast.Query:
    """Every `;`-separated statement of `text`."""
    if _UNSUPPORTED.match(text):
        stmt = " ".join(_UNSUPPORTED.match(text).group(1).upper().split())  # type: ignore[union-attr]
        hint = ": pe uses tokens (pe create token)" if "USER" in stmt or "GRANT" in stmt or "PASSWORD" in stmt else ""
        raise InfluxQLUnsupported(f"{stmt} is not supported{hint}")
    _depth_check(text)
    try:
        tree = _parser().parse(text)
        result = _Build().transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, InfluxQLError):
            raise e.orig_exc from None
        raise
    except UnexpectedToken as e:
        found = "EOF" if e.token.type == "$END" else str(e.token)
        raise InfluxQLSyntaxError(f"found {found}, expected {_expected(e)}", e.line if e.line > 0 else 1,
                                  e.column if e.column > 0 else len(text) + 1) from None
    except UnexpectedCharacters as e:
        raise InfluxQLSyntaxError(f"found {text[e.pos_in_stream or 0]!r}, expected {_expected(e)}", e.line, e.column) \
            from None
    except UnexpectedEOF as e:
        raise InfluxQLSyntaxError(f"found EOF, expected {_expected(e)}", 1, len(text) + 1) from None
    assert isinstance(result, ast.Query)
    return result


def parse_statement(text: str) -> ast.Statement:
    q = parse_query(text)
    if len(q.statements) != 1:
        raise InfluxQLError(f"expected one statement, found {len(q.statements)}")
    return q.statements[0]
