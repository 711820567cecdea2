"""Reading a cache call's key predicates from the SQL text (the table functions cannot see them).

A UDTF sees only its arguments, not the query's filters, so before planning the table
functions ask `lookup_args`: when the statement is a plain `SELECT ... FROM last_cache(...)
[alias] [WHERE ...]`, top-level `key = literal|$param` and `key IN (...)` conjuncts are read
from the text (the WHERE clause still runs in DataFusion, so this can only narrow rows SQL
would drop anyway). For a kind with a column hierarchy (DVC) the columns a simple query
mentions also set the depth (`SELECT region FROM distinct_cache(...)` gives distinct
regions), as InfluxDB's projection does. Any other shape gets the whole cache.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ...lineprotocol.types import FieldType
from ..catalog import TableDef
from .base import CacheKind

_FUNCTIONS = {k.function: k for k in CacheKind}


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>--[^\n]*|/\*.*?\*/)
      | (?P<str>'(?:[^']|'')*')
      | (?P<qid>"(?:[^"]|"")*")
      | (?P<param>\$[A-Za-z0-9_]+)
      | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><>|!=|<=|>=|::|\|\||[=<>(),.;*+\-/%\[\]])
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_CLAUSES = {"where", "group", "order", "limit", "offset", "having", "window", "qualify"}
_SET_WORDS = {"join", "union", "intersect", "except", "with", "lateral", "values", "unnest"}


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # id | qid | str | param | num | op
    text: str
    value: str  # id: lower-cased; qid/str: unquoted; param: name without `$`; else the text


@dataclass(frozen=True, slots=True)
class Call:
    kind: CacheKind
    table: str | None  # None when the arguments are not plain string literals
    name: str | None
    start: int  # token index of the function name
    end: int  # token index of the closing parenthesis


@dataclass
class Shape:
    """A plain `SELECT ... FROM <call> [alias] [WHERE conjuncts] ...` statement."""

    conjuncts: list[tuple[Tok, list[Tok]]]  # (column, values) of `col = v` / `col IN (v, ...)`
    mentioned: set[tuple[bool, str]]  # every (quoted?, identifier) in the statement
    star: bool


def tokenize(sql: str) -> list[Tok] | None:
    """Tokens without whitespace/comments; None when the text has something we do not read
    (an unterminated quote, say), in which case nothing is derived from it."""
    out: list[Tok] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        text = m.group()
        if kind in ("ws", "comment"):
            continue
        if kind == "other":
            return None
        if kind == "id":
            value = text.lower()
        elif kind == "qid":
            value = text[1:-1].replace('""', '"')
        elif kind == "str":
            value = text[1:-1].replace("''", "'")
        elif kind == "param":
            value = text[1:]
        else:
            value = text
        out.append(Tok(kind, text, value))  # type: ignore[arg-type]
    return out


def find_calls(toks: list[Tok]) -> list[Call]:
    calls = []
    for i, t in enumerate(toks):
        if t.kind != "id" or t.value not in _FUNCTIONS or i + 1 >= len(toks) or toks[i + 1].text != "(":
            continue
        j = i + 2
        depth = 1
        args: list[list[Tok]] = [[]]
        while j < len(toks):
            x = toks[j]
            if x.text == "(":
                depth += 1
            elif x.text == ")":
                depth -= 1
                if depth == 0:
                    break
            if x.text == "," and depth == 1:
                args.append([])
            else:
                args[-1].append(x)
            j += 1
        if j >= len(toks):
            continue
        literal = 1 <= len(args) <= 2 and all(len(a) == 1 and a[0].kind == "str" for a in args)
        table = args[0][0].value if literal else None
        name = args[1][0].value if literal and len(args) == 2 else None
        calls.append(Call(_FUNCTIONS[t.value], table, name, i, j))
    return calls


def _is_word(t: Tok, *words: str) -> bool:
    return t.kind == "id" and t.value in words


def simple_shape(toks: list[Tok], call: Call) -> Shape | None:
    """The statement's shape when it is simple enough to read predicates from, else None."""
    toks = list(toks)
    while toks and toks[-1].text == ";":
        toks.pop()
    if any(t.text == ";" for t in toks):
        return None
    lead = 0  # EXPLAIN [ANALYZE] [VERBOSE] SELECT ...: the same statement underneath
    while lead < len(toks) and _is_word(toks[lead], "explain", "analyze", "verbose"):
        lead += 1
    if lead:
        toks = toks[lead:]
        call = Call(call.kind, call.table, call.name, call.start - lead, call.end - lead)
    words = [t.value for t in toks if t.kind == "id"]
    if not toks or not _is_word(toks[0], "select") or words.count("select") != 1 or words.count("from") != 1:
        return None
    if any(w in _SET_WORDS for w in words):
        return None
    from_at = next(i for i, t in enumerate(toks) if _is_word(t, "from"))
    depth = 0
    for t in toks[:from_at]:
        depth += (t.text == "(") - (t.text == ")")
    if depth != 0 or call.start != from_at + 1:
        return None
    j = call.end + 1
    alias: Tok | None = None
    if j < len(toks) and _is_word(toks[j], "as"):
        j += 1
        if j >= len(toks) or toks[j].kind not in ("id", "qid"):
            return None
        alias, j = toks[j], j + 1
    elif j < len(toks) and toks[j].kind == "qid" or (j < len(toks) and toks[j].kind == "id" and toks[j].value not in _CLAUSES):
        alias, j = toks[j], j + 1
    if j < len(toks) and not (toks[j].kind == "id" and toks[j].value in _CLAUSES):
        return None  # a comma (cross join) or anything else after the FROM item
    conjuncts: list[tuple[Tok, list[Tok]]] = []
    if j < len(toks) and _is_word(toks[j], "where"):
        k = j + 1
        depth = 0
        parts: list[list[Tok]] = [[]]
        ok = True
        while k < len(toks):
            t = toks[k]
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
            if depth == 0 and t.kind == "id" and t.value in _CLAUSES:
                break
            if _is_word(t, "case", "between") or (depth == 0 and _is_word(t, "or")):
                ok = False  # AND inside these is not a conjunction of the WHERE clause
            if depth == 0 and _is_word(t, "and"):
                parts.append([])
            else:
                parts[-1].append(t)
            k += 1
        if ok:
            for part in parts:
                found = _conjunct(part, alias)
                if found is not None:
                    conjuncts.append(found)
    mentioned = {(t.kind == "qid", t.value) for t in toks if t.kind in ("id", "qid")}
    return Shape(conjuncts, mentioned, any(t.text == "*" for t in toks))


def _column(part: list[Tok], k: int, alias: Tok | None) -> tuple[Tok, int] | None:
    if k >= len(part) or part[k].kind not in ("id", "qid"):
        return None
    if k + 2 < len(part) and part[k + 1].text == "." and part[k + 2].kind in ("id", "qid"):
        q = part[k]
        if alias is None or (q.kind == "qid") != (alias.kind == "qid") or q.value != alias.value:
            return None
        return part[k + 2], k + 3
    if part[k].kind == "id" and part[k].value in ("true", "false", "null", "not"):
        return None
    return part[k], k + 1


def _value(part: list[Tok], k: int) -> tuple[Tok, int] | None:
    if k >= len(part):
        return None
    t = part[k]
    if t.kind in ("str", "num", "param") or _is_word(t, "true", "false"):
        return t, k + 1
    if t.text == "-" and k + 1 < len(part) and part[k + 1].kind == "num":
        n = part[k + 1]
        return Tok("num", "-" + n.text, "-" + n.value), k + 2
    return None


def _conjunct(part: list[Tok], alias: Tok | None) -> tuple[Tok, list[Tok]] | None:
    col = _column(part, 0, alias)
    if col is not None:
        c, k = col
        if k < len(part) and part[k].text == "=":
            v = _value(part, k + 1)
            if v is not None and v[1] == len(part):
                return c, [v[0]]
        if k + 1 < len(part) and _is_word(part[k], "in") and part[k + 1].text == "(":
            values, k = [], k + 2
            while True:
                v = _value(part, k)
                if v is None:
                    return None
                values.append(v[0])
                k = v[1]
                if k < len(part) and part[k].text == ",":
                    k += 1
                    continue
                break
            if k < len(part) and part[k].text == ")" and k + 1 == len(part):
                return c, values
            return None
    v = _value(part, 0)
    if v is not None and v[1] < len(part) and part[v[1]].text == "=":
        col = _column(part, v[1] + 1, alias)
        if col is not None and col[1] == len(part):
            return col[0], [v[0]]
    return None


def _names(tok: Tok, candidates: list[str]) -> str | None:
    """Which column an identifier names: quoted ones exactly, bare ones lower-cased (DataFusion)."""
    for c in candidates:
        if (tok.kind == "qid" and tok.value == c) or (tok.kind == "id" and tok.value == c):
            return c
    return None


def _typed(tok: Tok, col_type: str, params: dict[str, pa.Scalar]) -> Any:
    """A literal or parameter as the Python value the column holds; _SKIP when unsure."""
    if tok.kind == "param":
        scalar = params.get(tok.value)
        if scalar is None or not scalar.is_valid:
            return _SKIP
        v = scalar.as_py()
    elif tok.kind == "str":
        v = tok.value
    elif tok.kind == "num":
        if not re.fullmatch(r"-?\d+", tok.value):
            return _SKIP
        v = int(tok.value)
    else:
        v = tok.value == "true"
    if col_type == "str":
        return v if isinstance(v, str) else _SKIP
    if col_type == "bool":
        return v if isinstance(v, bool) else _SKIP
    if isinstance(v, bool) or not isinstance(v, int):
        return _SKIP
    if col_type == "uint" and v < 0:
        return _SKIP
    return v


_SKIP = object()


def _col_type(tdef: TableDef, name: str) -> str | None:
    col = tdef.columns.get(name)
    if col is None:
        return None
    if col.kind == "tag" or col.field_type == FieldType.STRING:
        return "str"
    return {FieldType.INT: "int", FieldType.UINT: "uint", FieldType.BOOL: "bool"}.get(col.field_type)  # type: ignore[arg-type]


def predicates(shape: Shape, columns: list[str], tdef: TableDef, params: dict[str, pa.Scalar]) -> dict[str, set]:
    """Key column -> allowed values, from `col = v` and `col IN (...)` conjuncts (intersected)."""
    out: dict[str, set] = {}
    for tok, values in shape.conjuncts:
        col = _names(tok, columns)
        if col is None:
            continue
        typ = _col_type(tdef, col)
        if typ is None:
            continue
        vs = [_typed(v, typ, params) for v in values]
        if any(v is _SKIP for v in vs):
            continue
        out[col] = set(vs) if col not in out else out[col] & set(vs)
    return out


def depth(shape: Shape, columns: list[str]) -> int | None:
    """How many leading DVC columns the statement uses (None: all)."""
    if shape.star:
        return None
    used = [i for i, c in enumerate(columns) if (True, c) in shape.mentioned or (False, c) in shape.mentioned]
    return max(used) + 1 if used else None


def lookup_args(shape: Shape | None, filter_columns: list[str], hierarchy: list[str] | None, tdef: TableDef,
                params: dict[str, pa.Scalar]) -> tuple[dict[str, set] | None, int | None]:
    """(predicates, depth) for a cache read: nothing narrowed when the statement is not simple."""
    if shape is None:
        return None, None
    return predicates(shape, filter_columns, tdef, params), depth(shape, hierarchy) if hierarchy else None
