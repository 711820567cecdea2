"""InfluxQL text to the ast.py tree: lark's LALR parser over grammar.lark.

LALR with lark's contextual lexer: a `/` is a regex where an operand may stand and a division
after one, and the tree is built while parsing (an inline transformer), so no recursion runs
over the input's nesting. Errors are worded as InfluxDB 1.x words them (`found FROM, expected
identifier at line 1, char 8`); valid 1.x statements pe does not run raise InfluxQLUnsupported.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, v_args
from lark.lexer import PatternStr

from . import ast
from .duration import DurationError, parse_duration
from .timerange import find_zone
from .errors import InfluxQLError, InfluxQLSyntaxError, InfluxQLUnsupported

__all__ = ["MAX_DEPTH", "parse_query", "parse_statement"]

MAX_DEPTH = 200
"""Deepest nesting accepted: of parentheses, and of the tree (operators, calls, subqueries).
Deeper text is refused, so nothing that walks a statement recursively can overflow the stack."""

_INT64_MAX = 2**63 - 1
_INT64_MIN_DIGITS = str(2**63)
# Keywords 1.x reads as identifiers outside their clause; the grammar's other keywords are reserved.
_SOFT_KEYWORDS = frozenset({"fill", "tz", "null", "none", "previous", "linear"})
_KEYWORD_TERMINAL = re.compile(r"^(_?[A-Z]+)\.\d+: /([a-z]+)\\b/i$", re.MULTILINE)
# Terminal classes, in the order an error lists them.
_CLASS_NAMES = {
    "IDENT": "identifier", "QUOTED_IDENT": "identifier", "STRING": "string", "INTEGER": "number",
    "FLOAT": "number", "DURATION": "duration", "REGEX": "regex", "_TRUE": "boolean", "_FALSE": "boolean",
    "BIND": "bound parameter",
}
_CLASS_ORDER = ["identifier", "string", "number", "duration", "boolean", "regex", "bound parameter"]
_MAX_EXPECTED = 8


@dataclass(frozen=True)
class _Parser:
    lark: Lark
    keywords: frozenset[str]  # terminal names of keywords (shown upper-case in errors)
    punctuation: Mapping[str, str]  # terminal name -> its text


@functools.lru_cache(maxsize=1)
def _parser() -> _Parser:
    text = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    keywords = {word: name for name, word in _KEYWORD_TERMINAL.findall(text)}
    reserved = {word: name for word, name in keywords.items() if word not in _SOFT_KEYWORDS}

    def reserve(tok: Token) -> Token:
        """A reserved word where the parser wanted a name is that keyword, as in 1.x."""
        name = reserved.get(tok.value.lower())
        if name is not None:
            tok.type = name
        return tok

    def check_duration(tok: Token) -> Token:
        try:
            parse_duration(tok.value)
        except DurationError:
            raise InfluxQLSyntaxError(f"invalid duration {tok.value}", tok.line or 1, tok.column or 1) from None
        return tok

    lark = Lark(text, start="query", parser="lalr", lexer="contextual", transformer=_Build(),
                maybe_placeholders=True, lexer_callbacks={"IDENT": reserve, "DURATION": check_duration})
    punctuation = {t.name: t.pattern.value for t in lark.terminals if isinstance(t.pattern, PatternStr)}
    return _Parser(lark, frozenset(keywords.values()), punctuation)


# ---- literals ----------------------------------------------------------------------------------

_STRING_ESCAPES = {"n": "\n", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unquote(tok: Token) -> str:
    """The text of a `'string'` or `"identifier"`: 1.x's escapes, `\\n \\\\ \\' \\"`, and no others."""
    body = tok.value[1:-1]
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        ch = _STRING_ESCAPES.get(m.group(1))
        if ch is None:
            raise InfluxQLSyntaxError(f"bad escape \\{m.group(1)} in {tok.value}", tok.line or 1,
                                      (tok.column or 1) + m.start() + 1)
        return ch

    return _ESCAPE.sub(one, body)


def _name(tok: Token) -> str:
    return _unquote(tok) if tok.type == "QUOTED_IDENT" else tok.value


def _regex(tok: Token) -> str:
    return tok.value[1:-1].replace("\\/", "/")


def _int(tok: Token, limit: int = _INT64_MAX) -> int:
    value = int(tok.value)
    if value > limit:
        raise InfluxQLSyntaxError(f"unable to parse integer {tok.value}: out of int64 range", tok.line or 1,
                                  tok.column or 1)
    return value


class _Int64Min(ast.IntegerLiteral):
    """2**63, which is an int64 only under a unary minus: the minus folds it, and a leftover one
    is refused by _check (so `-9223372036854775808` parses, as in 1.x, and the positive does not)."""

    def __init__(self, value: int, tok: Token) -> None:
        super().__init__(value)
        object.__setattr__(self, "line", tok.line or 1)
        object.__setattr__(self, "char", tok.column or 1)


_BINARY_OPS = {op.name: op for op in ast.BinaryOp}  # terminal names are the BinaryOp names
_BINARY_OPS["LTGT"] = ast.BinaryOp.NEQ
# Go influxql's Token.Precedence()
_PRECEDENCE = {"OR": 1, "AND": 2, "EQ": 4, "NEQ": 4, "LTGT": 4, "LT": 4, "LTE": 4, "GT": 4, "GTE": 4,
               "EQ_REGEX": 4, "NEQ_REGEX": 4, "ADD": 5, "SUB": 5, "BITOR": 5, "BITXOR": 5,
               "MUL": 6, "DIV": 6, "MOD": 6, "BITAND": 6}


def _binary(tok: Token, lhs: Any, rhs: Any) -> ast.BinaryExpr:
    op = _BINARY_OPS[tok.type]
    if op is ast.BinaryOp.EQ_REGEX or op is ast.BinaryOp.NEQ_REGEX:
        if type(rhs) is not ast.RegexLiteral and type(rhs) is not ast.BoundParameter:
            raise InfluxQLSyntaxError(f"{tok.value} takes a regex on its right (/.../)", tok.line or 1,
                                      tok.column or 1)
    return ast.BinaryExpr(op, lhs, rhs)


_KEY_OPS = {ast.BinaryOp.EQ: ast.TagKeyOp.EQ, ast.BinaryOp.NEQ: ast.TagKeyOp.NEQ,
            ast.BinaryOp.EQ_REGEX: ast.TagKeyOp.EQ_REGEX, ast.BinaryOp.NEQ_REGEX: ast.TagKeyOp.NEQ_REGEX}
_CASTS = {t.value: t for t in ast.DataType}


def _cast(tok: Token | None) -> ast.DataType | None:
    if tok is None:
        return None
    cast = _CASTS.get(tok.value.lower())
    if cast is None:
        raise InfluxQLSyntaxError(f"found {tok.value}, expected float, integer, unsigned, string, boolean, field or tag",
                                  tok.line or 1, tok.column or 1)
    return cast


def _opt_name(tok: Token | None) -> str | None:
    return None if tok is None else _name(tok)


def _args(items: Iterable[Any]) -> tuple[ast.Expr, ...]:
    return tuple(x for x in items if x is not None)


@v_args(inline=True)
class _Build(Transformer[Token, Any]):
    """Callbacks run at each LALR reduction; children arrive already built (names as grammar.lark)."""

    # ---- expressions
    def expr(self, *items: Any) -> Any:
        """`operand (operator operand)*` to a tree by precedence, left-associative (shunting-yard)."""
        if len(items) == 3:
            return _binary(items[1], items[0], items[2])
        operands: list[Any] = [items[0]]
        ops: list[Token] = []
        for i in range(1, len(items), 2):
            tok = items[i]
            prec = _PRECEDENCE[tok.type]
            while ops and _PRECEDENCE[ops[-1].type] >= prec:
                rhs = operands.pop()
                operands.append(_binary(ops.pop(), operands.pop(), rhs))
            ops.append(tok)
            operands.append(items[i + 1])
        while ops:
            rhs = operands.pop()
            operands.append(_binary(ops.pop(), operands.pop(), rhs))
        return operands[0]

    def eq_op(self, tok: Token) -> ast.BinaryOp:
        return _BINARY_OPS[tok.type]

    regex_op = eq_op

    def neg(self, _minus: Token, expr: Any) -> Any:
        if type(expr) is ast.IntegerLiteral or type(expr) is _Int64Min:
            return ast.IntegerLiteral(-expr.value)
        if type(expr) is ast.NumberLiteral:
            return ast.NumberLiteral(-expr.value)
        if type(expr) is ast.DurationLiteral:
            return ast.DurationLiteral(-expr.nanoseconds)
        return ast.UnaryMinus(expr)

    def call(self, name: Token, *args: Any) -> ast.Call:
        return ast.Call(name.value.lower(), _args(args))

    def distinct_call(self, *args: Any) -> ast.Call:
        return ast.Call("distinct", _args(args))

    def distinct(self, name: Token) -> ast.Distinct:
        return ast.Distinct(_name(name))

    def var(self, name: Token, cast: Token | None) -> ast.VarRef:
        return ast.VarRef(_name(name), _cast(cast))

    def wildcard(self, _star: Token, cast: Token | None) -> ast.Wildcard:
        kind = _cast(cast)
        if kind is None:
            return ast.Wildcard()
        if kind is ast.DataType.FIELD:
            return ast.Wildcard(ast.WildcardKind.FIELD)
        if kind is ast.DataType.TAG:
            return ast.Wildcard(ast.WildcardKind.TAG)
        assert cast is not None
        raise InfluxQLSyntaxError(f"found {cast.value}, expected field or tag", cast.line or 1, cast.column or 1)

    def regex(self, tok: Token) -> ast.RegexLiteral:
        return ast.RegexLiteral(_regex(tok))

    def integer(self, tok: Token) -> ast.IntegerLiteral:
        value = _int(tok, _INT64_MAX + 1)
        return _Int64Min(value, tok) if value > _INT64_MAX else ast.IntegerLiteral(value)

    def float(self, tok: Token) -> ast.NumberLiteral:
        return ast.NumberLiteral(float(tok.value))

    def duration(self, tok: Token) -> ast.DurationLiteral:
        return ast.DurationLiteral(parse_duration(tok.value))  # checked by the lexer already

    def string(self, tok: Token) -> ast.StringLiteral:
        return ast.StringLiteral(_unquote(tok))

    def true(self) -> ast.BooleanLiteral:
        return ast.BooleanLiteral(True)

    def false(self) -> ast.BooleanLiteral:
        return ast.BooleanLiteral(False)

    def bind(self, tok: Token) -> ast.BoundParameter:
        name = tok.value[1:]
        if name.startswith('"'):
            name = _unquote(Token("QUOTED_IDENT", name, line=tok.line, column=(tok.column or 1) + 1))
        return ast.BoundParameter(name)

    # ---- SELECT
    def field(self, expr: Any, alias: Token | None) -> ast.Field:
        return ast.Field(expr, None if alias is None else _name(alias))

    def fields(self, *items: ast.Field) -> tuple[ast.Field, ...]:
        return items

    def sources(self, *items: ast.Source) -> tuple[ast.Source, ...]:
        return items

    def m_name(self, name: Token) -> ast.Measurement:
        return ast.Measurement(name=_name(name))

    def m_rp_name(self, rp: Token, name: Token) -> ast.Measurement:
        return ast.Measurement(name=_name(name), retention_policy=_name(rp))

    def m_db_rp_name(self, db: Token, rp: Token, name: Token) -> ast.Measurement:
        return ast.Measurement(name=_name(name), database=_name(db), retention_policy=_name(rp))

    def m_db_name(self, db: Token, name: Token) -> ast.Measurement:
        return ast.Measurement(name=_name(name), database=_name(db))

    def m_regex(self, rx: Token) -> ast.Measurement:
        return ast.Measurement(regex=_regex(rx))

    def m_rp_regex(self, rp: Token, rx: Token) -> ast.Measurement:
        return ast.Measurement(regex=_regex(rx), retention_policy=_name(rp))

    def m_db_rp_regex(self, db: Token, rp: Token, rx: Token) -> ast.Measurement:
        return ast.Measurement(regex=_regex(rx), database=_name(db), retention_policy=_name(rp))

    def m_db_regex(self, db: Token, rx: Token) -> ast.Measurement:
        return ast.Measurement(regex=_regex(rx), database=_name(db))

    def subquery(self, stmt: ast.SelectStatement) -> ast.SubQuery:
        return ast.SubQuery(stmt)

    def _optional(self, value: Any) -> Any:
        return value

    into = where = group_by = fill = order_by = from_ = with_measurement = _optional

    def on(self, tok: Token | None) -> str | None:
        return _opt_name(tok)

    def tz(self, tok: Token | None) -> str | None:
        if tok is None:
            return None
        name = _unquote(tok)
        try:
            find_zone(name)
        except InfluxQLError as e:
            raise InfluxQLError(f"error parsing query: {e}") from None
        return name

    def dimensions(self, *dims: Any) -> tuple[Any, ...]:
        return dims

    def fill_null(self) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.NULL)

    def fill_none(self) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.NONE)

    def fill_previous(self) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.PREVIOUS)

    def fill_linear(self) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.LINEAR)

    def fill_number(self, tok: Token) -> ast.FillOption:
        return ast.FillOption(ast.FillMode.NUMBER, float(tok.value) if tok.type == "FLOAT" else _int(tok))

    def fill_negative(self, _minus: Token, tok: Token) -> ast.FillOption:
        value = float(tok.value) if tok.type == "FLOAT" else _int(tok, _INT64_MAX + 1)
        return ast.FillOption(ast.FillMode.NUMBER, -value)

    def sort_fields(self, *fields: ast.SortField) -> tuple[ast.SortField, ...]:
        if any(f.name.lower() != "time" for f in fields):  # as 1.x: a parse error
            raise InfluxQLError("error parsing query: only ORDER BY time supported at this time")
        return fields

    def sort_named(self, name: Token, direction: Token | None) -> ast.SortField:
        return ast.SortField(_name(name), direction is None or direction.type == "ASC")

    def sort_time(self, direction: Token) -> ast.SortField:
        return ast.SortField("time", direction.type == "ASC")

    def limit(self, tok: Token | None) -> int | None:
        return None if tok is None else _int(tok)

    offset = slimit = soffset = limit


    def select_stmt(self, fields: tuple[ast.Field, ...], into: ast.Measurement | None,
                    sources: tuple[ast.Source, ...], condition: Any, dimensions: tuple[Any, ...] | None,
                    fill: ast.FillOption | None, sort: tuple[ast.SortField, ...] | None, limit: int | None,
                    offset: int | None, slimit: int | None, soffset: int | None,
                    timezone: str | None) -> ast.SelectStatement:
        return ast.SelectStatement(
            fields=fields, sources=sources, condition=condition, dimensions=dimensions or (), fill=fill,
            sort=sort or (), limit=limit, offset=offset, slimit=slimit, soffset=soffset, timezone=timezone,
            into=None if into is None else ast.Into(into))

    def explain(self, analyze: Token | None, stmt: ast.SelectStatement) -> ast.Explain:
        return ast.Explain(stmt, analyze is not None)

    # ---- other statements
    def show_databases(self) -> ast.ShowDatabases:
        return ast.ShowDatabases()

    def show_rps(self, on: str | None) -> ast.ShowRetentionPolicies:
        return ast.ShowRetentionPolicies(on)

    def measurement_name(self, op: ast.BinaryOp, name: Token) -> tuple[ast.BinaryOp, ast.Measurement]:
        return op, ast.Measurement(name=_name(name))

    def measurement_regex(self, op: ast.BinaryOp, rx: Token) -> tuple[ast.BinaryOp, ast.Measurement]:
        return op, ast.Measurement(regex=_regex(rx))

    def show_measurements(self, on: str | None, with_m: tuple[ast.BinaryOp, ast.Measurement] | None,
                          condition: Any, limit: int | None, offset: int | None) -> ast.ShowMeasurements:
        op, m = with_m if with_m is not None else (None, None)
        return ast.ShowMeasurements(on, m, op, condition, limit, offset)

    def show_tag_keys(self, _tag: Token, on: str | None, sources: tuple[ast.Source, ...] | None, condition: Any,
                      limit: int | None, offset: int | None, slimit: int | None,
                      soffset: int | None) -> ast.ShowTagKeys:
        return ast.ShowTagKeys(on, sources or (), condition, limit, offset, slimit, soffset)

    def key_eq(self, op: ast.BinaryOp, key: Token) -> tuple[ast.TagKeyOp, tuple[str, ...], str | None]:
        return _KEY_OPS[op], (_name(key),), None

    def key_regex(self, op: ast.BinaryOp, rx: Token) -> tuple[ast.TagKeyOp, tuple[str, ...], str | None]:
        return _KEY_OPS[op], (), _regex(rx)

    def key_in(self, *keys: Token) -> tuple[ast.TagKeyOp, tuple[str, ...], str | None]:
        return ast.TagKeyOp.IN, tuple(_name(k) for k in keys), None

    def show_tag_values(self, _tag: Token, on: str | None, sources: tuple[ast.Source, ...] | None,
                        key: tuple[ast.TagKeyOp, tuple[str, ...], str | None], condition: Any, limit: int | None,
                        offset: int | None, slimit: int | None, soffset: int | None) -> ast.ShowTagValues:
        op, keys, rx = key
        return ast.ShowTagValues(op, keys, rx, on, sources or (), condition, limit, offset, slimit, soffset)

    def show_field_keys(self, _field: Token, on: str | None, sources: tuple[ast.Source, ...] | None,
                        limit: int | None, offset: int | None) -> ast.ShowFieldKeys:
        return ast.ShowFieldKeys(on, sources or (), limit, offset)

    def show_series(self, on: str | None, sources: tuple[ast.Source, ...] | None, condition: Any,
                    limit: int | None, offset: int | None) -> ast.ShowSeries:
        return ast.ShowSeries(on, sources or (), condition, limit, offset)

    def create_db(self, name: Token, *_retention: Token) -> ast.CreateDatabase:
        return ast.CreateDatabase(_name(name))  # `WITH DURATION ...` is read and dropped

    def drop_db(self, name: Token) -> ast.DropDatabase:
        return ast.DropDatabase(_name(name))

    def query(self, *statements: ast.Statement | None) -> ast.Query:
        return ast.Query(tuple(s for s in statements if s is not None))


# ---- nesting ------------------------------------------------------------------------------------

_PAREN_SCAN = re.compile(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|--[^\n]*|/\*.*?\*/|[()]", re.DOTALL)


def _check_parentheses(text: str) -> None:
    if text.count("(") <= MAX_DEPTH:
        return
    depth = 0
    for m in _PAREN_SCAN.finditer(text):
        tok = m.group()
        if tok == "(":
            depth += 1
            if depth > MAX_DEPTH:
                line, char = _position(text, m.start())
                raise InfluxQLSyntaxError(f"parentheses nested deeper than {MAX_DEPTH}", line, char)
        elif tok == ")":
            depth -= 1


def _check(query: ast.Query) -> None:
    """Refuse trees deeper than MAX_DEPTH (without recursing) and a leftover 2**63."""
    stack: list[tuple[Any, int]] = [(s, 0) for s in query.statements]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InfluxQLError(f"query nested deeper than {MAX_DEPTH} levels")
        t = type(node)
        d = depth + 1
        if t is ast.BinaryExpr:
            stack.append((node.lhs, d))
            stack.append((node.rhs, d))
        elif t is ast.Call:
            stack.extend((a, d) for a in node.args)
        elif t is ast.UnaryMinus:
            stack.append((node.expr, d))
        elif t is ast.SelectStatement:
            stack.extend((f.expr, d) for f in node.fields)
            stack.extend((s, d) for s in node.sources)
            stack.extend((x, d) for x in node.dimensions)
            if node.condition is not None:
                stack.append((node.condition, d))
        elif t is ast.SubQuery or t is ast.Explain:
            stack.append((node.statement, d))
        elif t is _Int64Min:
            raise InfluxQLSyntaxError(f"unable to parse integer {node.value}: out of int64 range", node.line,
                                      node.char)
        elif t in (ast.ShowMeasurements, ast.ShowTagKeys, ast.ShowTagValues, ast.ShowSeries, ast.ShowFieldKeys):
            stack.extend((s, d) for s in getattr(node, "sources", ()))
            condition = getattr(node, "condition", None)
            if condition is not None:
                stack.append((condition, d))


# ---- errors -------------------------------------------------------------------------------------

def _position(text: str, pos: int) -> tuple[int, int]:
    """1-based line and char of offset `pos`."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - text.rfind("\n", 0, pos)


def _found(p: _Parser, tok: Token) -> str:
    if tok.type in p.keywords or tok.type in ("ASC", "DESC", "ANALYZE", "FIELD", "TAG"):
        return tok.value.upper()
    return tok.value


def _expected(p: _Parser, terminals: Iterable[str]) -> str:
    classes: set[str] = set()
    keywords: set[str] = set()
    punctuation: set[str] = set()
    end = False
    for t in terminals:
        if t in _CLASS_NAMES:
            classes.add(_CLASS_NAMES[t])
        elif t in p.punctuation:
            punctuation.add(p.punctuation[t])
        elif t == "$END":
            end = True
        elif t not in ("WS", "COMMENT"):
            keywords.add(t.lstrip("_"))
    names = [c for c in _CLASS_ORDER if c in classes] + sorted(keywords) + sorted(punctuation)
    if end:
        names.append("EOF")
    if len(names) > _MAX_EXPECTED:
        names = names[:_MAX_EXPECTED - 1] + ["..."]
    return ", ".join(names)


_UNSUPPORTED_HINTS = {
    "token": ": pe uses tokens (pe create token)",
    "rp": ": pe keeps one retention period per database (pe create database --retention-period)",
    "delete": ": pe deletes whole tables (pe delete table)",
    "none": "",
}
_UNSUPPORTED: dict[tuple[str, ...], str] = {
    ("create", "user"): "token", ("drop", "user"): "token", ("alter", "user"): "token", ("show", "users"): "token",
    ("show", "grants"): "token", ("grant",): "token", ("revoke",): "token", ("set", "password"): "token",
    ("create", "retention", "policy"): "rp", ("alter", "retention", "policy"): "rp",
    ("drop", "retention", "policy"): "rp",
    ("delete",): "delete", ("drop", "series"): "delete", ("drop", "measurement"): "delete",
    ("drop", "shard"): "none", ("show", "shards"): "none", ("show", "shard", "groups"): "none",
    ("show", "queries"): "none", ("kill", "query"): "none", ("show", "stats"): "none",
    ("show", "diagnostics"): "none", ("show", "subscriptions"): "none", ("create", "subscription"): "none",
    ("drop", "subscription"): "none", ("create", "continuous", "query"): "none",
    ("drop", "continuous", "query"): "none", ("show", "continuous", "queries"): "none",
    ("insert",): "none",
}
for _what in (("series",), ("measurement",), ("tag", "key"), ("tag", "values"), ("field", "key")):
    _UNSUPPORTED[("show", *_what, "cardinality")] = "none"
    _UNSUPPORTED[("show", *_what, "exact", "cardinality")] = "none"
_STATEMENT_SPLIT = re.compile(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|--[^\n]*|/\*.*?\*/|;", re.DOTALL)
_LEADING_WORDS = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*((?:[A-Za-z]+(?:\s+|$)){1,5})", re.DOTALL)


def _unsupported(text: str, pos: int) -> InfluxQLUnsupported | None:
    """The statement holding offset `pos`, if it starts as a 1.x statement pe does not run."""
    start = 0
    for piece in _STATEMENT_SPLIT.finditer(text, 0, pos):
        if piece.group() == ";":
            start = piece.end()
    lead = _LEADING_WORDS.match(text, start)
    if lead is None:
        return None
    words = tuple(w.lower() for w in lead.group(1).split())
    for n in range(len(words), 0, -1):
        hint = _UNSUPPORTED.get(words[:n])
        if hint is not None:
            return InfluxQLUnsupported(f"{' '.join(words[:n]).upper()} is not supported{_UNSUPPORTED_HINTS[hint]}")
    return None


# ---- entry points -------------------------------------------------------------------------------

def parse_query(text: str) -> ast.Query:
    """Every `;`-separated statement of `text` (empty ones skipped)."""
    p = _parser()
    _check_parentheses(text)
    try:
        query = p.lark.parse(text)
    except UnexpectedInput as e:
        error = _syntax_error(p, text, e)
    except InfluxQLSyntaxError as e:  # raised by the lexer's and the tree's callbacks
        error = e
    else:
        assert isinstance(query, ast.Query)
        # Each level of the tree takes at least two characters (`a+`, `-x`, `f(`), and 2**63 is
        # written with these digits, so shorter text without them needs no walk.
        if len(text) > 2 * MAX_DEPTH or _INT64_MIN_DIGITS in text:
            _check(query)
        return query
    unsupported = _unsupported(text, _offset(text, error.line, error.char))
    raise (unsupported or error) from None


def _syntax_error(p: _Parser, text: str, e: UnexpectedInput) -> InfluxQLSyntaxError:
    if isinstance(e, UnexpectedToken) and e.token.type != "$END":
        tok = e.token
        return InfluxQLSyntaxError(f"found {_found(p, tok)}, expected {_expected(p, e.expected)}", tok.line or 1,
                                   tok.column or 1)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream or 0]
        found = {"'": "unterminated string", '"': "unterminated quoted identifier"}.get(ch, ch)
        return InfluxQLSyntaxError(f"found {found}, expected {_expected(p, e.allowed or ())}", e.line, e.column)
    # the end of the text (UnexpectedToken at $END; UnexpectedEOF is not raised by LALR today)
    line, char = _position(text, len(text))
    return InfluxQLSyntaxError(f"found EOF, expected {_expected(p, getattr(e, 'expected', ()) or ())}", line, char)


def _offset(text: str, line: int, char: int) -> int:
    """The offset of 1-based `line`, `char`."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
    return start + char - 1


def parse_statement(text: str) -> ast.Statement:
    """The one statement of `text`."""
    statements = parse_query(text).statements
    if len(statements) != 1:
        raise InfluxQLError(f"expected one statement, found {len(statements)}")
    return statements[0]
