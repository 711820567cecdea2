"""Run a parsed InfluxQL query statement by statement, as 1.x does: each statement answers
its own result or error, and the first error ends the query."""
from __future__ import annotations

from . import ast
from .context import QueryContext
from .errors import InfluxQLError
from .results import StatementResult
from .select import run_select
from .show import show


def run_statement(stmt: ast.Statement, ctx: QueryContext) -> StatementResult:
    r = StatementResult(0)
    if isinstance(stmt, ast.SelectStatement):
        r.series = run_select(stmt, ctx)
    elif isinstance(stmt, (ast.CreateDatabase, ast.DropDatabase)):
        if ctx.admin is None:
            raise InfluxQLError("this endpoint cannot create or drop databases")
        if isinstance(stmt, ast.CreateDatabase):
            ctx.admin.create_database(stmt.name)
        else:
            ctx.admin.drop_database(stmt.name)
    elif isinstance(stmt, ast.Explain):
        raise InfluxQLError("EXPLAIN is not supported for InfluxQL: use EXPLAIN with SQL")
    else:
        r.series = show(stmt, ctx)
    return r


def run_query(query: ast.Query, ctx: QueryContext) -> list[StatementResult]:
    """Errors that mean the query itself could not run (the engine's governor refusing it, a
    timeout) propagate; statement errors become that statement's `error`."""
    out: list[StatementResult] = []
    for i, stmt in enumerate(query.statements):
        try:
            r = run_statement(stmt, ctx)
        except InfluxQLError as e:
            out.append(StatementResult(i, error=str(e)))
            break
        r.statement_id = i
        out.append(r)
    return out
