"""`pe query`: SQL or InfluxQL from an argument, a file or stdin; the result in the format asked for."""
from __future__ import annotations

import argparse
import enum
import json
import sys
from pathlib import Path
from typing import Any

from .common import FORMATS, CliError, client_from, database_from, emit
from .tree import CommandTree


class Language(enum.Enum):
    SQL = "sql"
    INFLUXQL = "influxql"


def register(tree: CommandTree) -> None:
    p = tree.command("query", cmd_query, help="run SQL or InfluxQL and print the result")
    p.add_argument("sql", nargs="?", metavar="QUERY", help="the query (default: --file or stdin)")
    p.add_argument("-l", "--language", choices=[m.value for m in Language], default=Language.SQL.value,
                   help="the query language (default: sql), as influxdb3 query --language")
    p.add_argument("--file", help="read the query from this file")
    p.add_argument("--format", choices=FORMATS, default="pretty")
    p.add_argument("-o", "--output", help="write the result to this file instead of stdout")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="bind $NAME; VALUE is read as JSON when it parses (42, true), else as text")


def _params(pairs: list[str]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CliError(f"invalid --param '{pair}': use NAME=VALUE")
        try:
            out[name.lstrip("$")] = json.loads(raw)
        except ValueError:
            out[name.lstrip("$")] = raw
    return out or None


def _sql_input(args: argparse.Namespace) -> str:
    if args.sql and args.file:
        raise CliError("give the query either as an argument or with --file, not both")
    if args.sql:
        return args.sql
    if args.file:
        try:
            return Path(args.file).read_text("utf-8")
        except OSError as e:
            raise CliError(f"cannot read {args.file}: {e.strerror}") from None
    if sys.stdin.isatty():
        raise CliError("no query: pass it as an argument, use --file, or pipe it in")
    return sys.stdin.read()


def cmd_query(args: argparse.Namespace) -> int:
    db = database_from(args)
    client = client_from(args)
    run = client.query_influxql if Language(args.language) is Language.INFLUXQL else client.query_sql
    data = run(db, _sql_input(args), args.format, _params(args.param))
    emit(data, args.output, args.format)
    return 0
