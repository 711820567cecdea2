"""InfluxQL expressions to DataFusion SQL text, against one measurement's schema.

Tags compare as InfluxDB compares them: a series without the tag has the empty string, so
`host != 'a'` matches it and `host = ''` finds it. A name the measurement lacks is NULL.
"""
from __future__ import annotations

import math

from . import ast
from .context import MeasurementSchema
from .errors import InfluxQLError


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def number(value: int | float) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InfluxQLError(f"invalid number {value}")
        return repr(float(value))
    return str(int(value))


_CASTS = {ast.DataType.FLOAT: "DOUBLE", ast.DataType.INTEGER: "BIGINT", ast.DataType.UNSIGNED: "BIGINT UNSIGNED",
          ast.DataType.STRING: "VARCHAR", ast.DataType.BOOLEAN: "BOOLEAN"}
_ARITH = {ast.BinaryOp.ADD: "+", ast.BinaryOp.SUB: "-", ast.BinaryOp.MUL: "*", ast.BinaryOp.MOD: "%",
          ast.BinaryOp.BITAND: "&", ast.BinaryOp.BITOR: "|", ast.BinaryOp.BITXOR: "#"}
_CMP = {ast.BinaryOp.EQ: "=", ast.BinaryOp.NEQ: "<>", ast.BinaryOp.LT: "<", ast.BinaryOp.LTE: "<=",
        ast.BinaryOp.GT: ">", ast.BinaryOp.GTE: ">="}


class ExprWriter:
    """One measurement's expressions. `params` fill `$name` bound parameters."""

    def __init__(self, schema: MeasurementSchema, params: dict[str, object] | None = None) -> None:
        self.schema = schema
        self.params = params or {}

    def var(self, v: ast.VarRef, *, compare: bool = False) -> str:
        kind = self.schema.kind(v.name)
        if v.cast is ast.DataType.TAG and kind != "tag" or v.cast is ast.DataType.FIELD and kind != "field":
            kind = None
        if kind is None:
            return "NULL"
        col = ident(v.name)
        if kind == "tag":
            return f"coalesce({col}, '')" if compare else col
        if v.cast in _CASTS:
            return f"CAST({col} AS {_CASTS[v.cast]})"
        return col

    def literal(self, e: ast.Expr) -> str | None:
        if isinstance(e, ast.IntegerLiteral):
            return number(e.value)
        if isinstance(e, ast.NumberLiteral):
            return number(e.value)
        if isinstance(e, ast.StringLiteral):
            return string(e.value)
        if isinstance(e, ast.BooleanLiteral):
            return "TRUE" if e.value else "FALSE"
        if isinstance(e, ast.DurationLiteral):
            return number(e.nanoseconds)
        if isinstance(e, ast.BoundParameter):
            if e.name not in self.params:
                raise InfluxQLError(f"missing parameter: {e.name}")
            v = self.params[e.name]
            if isinstance(v, bool):
                return "TRUE" if v else "FALSE"
            if isinstance(v, (int, float)):
                return number(v)
            if isinstance(v, str):
                return string(v)
            raise InfluxQLError(f"unsupported parameter type for {e.name}: {type(v).__name__}")
        return None

    def value(self, e: ast.Expr) -> str:
        """A row-level value expression (no aggregates)."""
        lit = self.literal(e)
        if lit is not None:
            return lit
        if isinstance(e, ast.VarRef):
            return self.var(e)
        if isinstance(e, ast.UnaryMinus):
            return f"(- {self.value(e.expr)})"
        if isinstance(e, ast.BinaryExpr):
            return self.binary(e, self.value)
        if isinstance(e, ast.Call):
            raise InfluxQLError(f"undefined function {e.name}()")
        raise InfluxQLError(f"unsupported expression: {type(e).__name__}")

    def binary(self, e: ast.BinaryExpr, operand: object) -> str:
        f = operand  # a callable Expr -> str
        assert callable(f)
        if e.op is ast.BinaryOp.DIV:  # InfluxQL divides as floats, and x / 0 is 0
            lhs, rhs = f(e.lhs), f(e.rhs)
            return f"(CASE WHEN CAST({rhs} AS DOUBLE) = 0 THEN 0.0 ELSE CAST({lhs} AS DOUBLE) / CAST({rhs} AS DOUBLE) END)"
        if e.op in _ARITH:
            return f"({f(e.lhs)} {_ARITH[e.op]} {f(e.rhs)})"
        raise InfluxQLError(f"invalid operator {e.op.value} in a selected expression")

    def condition(self, e: ast.Expr) -> str:
        """A WHERE clause (time comparisons already split off)."""
        if isinstance(e, ast.BinaryExpr):
            if e.op.is_logical:
                return f"({self.condition(e.lhs)} {e.op.value} {self.condition(e.rhs)})"
            if e.op in (ast.BinaryOp.EQ_REGEX, ast.BinaryOp.NEQ_REGEX):
                if not isinstance(e.rhs, ast.RegexLiteral):
                    raise InfluxQLError(f"invalid operation: {e.op.value} needs a regular expression on its right")
                lhs = self.operand(e.lhs, ast.StringLiteral(""))
                op = "~" if e.op is ast.BinaryOp.EQ_REGEX else "!~"
                return f"coalesce({lhs} {op} {string(e.rhs.pattern)}, FALSE)"
            if e.op in _CMP:
                lhs, rhs = self.operand(e.lhs, e.rhs), self.operand(e.rhs, e.lhs)
                return f"coalesce({lhs} {_CMP[e.op]} {rhs}, FALSE)"
            return f"coalesce(({self.value(e)}) <> 0, FALSE)"
        if isinstance(e, ast.BooleanLiteral):
            return "TRUE" if e.value else "FALSE"
        if isinstance(e, ast.VarRef):
            v = self.var(e)
            return "FALSE" if v == "NULL" else f"coalesce(CAST({v} AS BOOLEAN), FALSE)"
        raise InfluxQLError(f"invalid condition: {type(e).__name__}")

    def operand(self, e: ast.Expr, other: ast.Expr) -> str:
        """One side of a comparison: tags as '' when missing; a name the measurement lacks is
        '' against a string (1.x: a missing tag), else NULL (never true)."""
        if isinstance(e, ast.VarRef):
            if self.schema.kind(e.name) is None and e.cast is None:
                return "''" if isinstance(other, ast.StringLiteral) else "NULL"
            return self.var(e, compare=True)
        return self.value(e)
