"""The `pe` command: `pe serve`, and admin commands that talk to a running server over HTTP.

Commands are "verb" or "verb noun" (`pe write`, `pe create database`), as in
the influxdb3 CLI. Other modules add theirs through `CommandTree`: list a
module in EXTENSION_MODULES that defines `register(tree)`, or append a
function to EXTENSIONS before calling `main`.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from .durations import parse_duration
from .errors import InvalidSpec
from .http.client import ClientError, PeClient

DEFAULT_HOST = "http://127.0.0.1:8181"
FORMATS = ("pretty", "json", "jsonl", "csv", "parquet")
WRITE_CHUNK = 8 * 1024 * 1024  # line protocol is sent in pieces of about this size

Command = Callable[[argparse.Namespace], "int | None"]

# Modules that may define `register(tree: CommandTree)`; skipped when they don't exist.
EXTENSION_MODULES: list[str] = ["pe_engine.processing.cli", "pe_engine.storage.caches_cli", "pe_engine.flight"]
EXTENSIONS: list[Callable[["CommandTree"], None]] = []


class CliError(Exception):
    """A failure to report as `error: ...` with exit code 1."""


# --------------------------------------------------------------------- parser tree
class CommandTree:
    """The `pe` parser, open for extension: top-level commands and verb/noun pairs."""

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser(
            prog="pe",
            description="pe: an embedded time-series engine compatible with InfluxDB 3.",
        )
        self._top = self.parser.add_subparsers(dest="command", metavar="COMMAND")
        self._verbs: dict[str, argparse._SubParsersAction] = {}
        self._parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {}
        self.client_options = _client_options()

    def command(self, name: str, func: Command, *, help: str, client: bool = True) -> argparse.ArgumentParser:
        """A top-level command, e.g. `pe write`. `client=True` adds --host/--token/--database."""
        parents = [self.client_options] if client else []
        p = self._top.add_parser(name, help=help, description=help, parents=parents)
        p.set_defaults(func=func)
        self._parsers[(name,)] = p
        return p

    def subcommand(
        self, verb: str, noun: str, func: Command, *, help: str, client: bool = True
    ) -> argparse.ArgumentParser:
        """A verb-noun command, e.g. `pe create database`; the verb is created on first use."""
        nouns = self._verbs.get(verb)
        if nouns is None:
            vp = self._top.add_parser(verb, help=f"{verb} ...", description=f"pe {verb} <what>")
            nouns = vp.add_subparsers(dest="noun", metavar="WHAT", required=True)
            self._verbs[verb] = nouns
            self._parsers[(verb,)] = vp
        parents = [self.client_options] if client else []
        p = nouns.add_parser(noun, help=help, description=help, parents=parents)
        p.set_defaults(func=func)
        self._parsers[(verb, noun)] = p
        return p

    def get(self, *path: str) -> argparse.ArgumentParser:
        """An existing (sub)command parser, to add options to, e.g. `tree.get("serve")`."""
        return self._parsers[path]


def _client_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection")
    g.add_argument("-H", "--host", help=f"server URL (env PE_HOST, INFLUXDB3_HOST_URL; default {DEFAULT_HOST})")
    g.add_argument("--token", help="auth token (env PE_TOKEN, INFLUXDB3_AUTH_TOKEN)")
    g.add_argument("-d", "--database", help="database (env PE_DATABASE, INFLUXDB3_DATABASE_NAME)")
    return p


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def client_from(args: argparse.Namespace) -> PeClient:
    host = args.host or _env("PE_HOST", "INFLUXDB3_HOST_URL") or DEFAULT_HOST
    token = args.token or _env("PE_TOKEN", "INFLUXDB3_AUTH_TOKEN")
    return PeClient(host, token)


def database_from(args: argparse.Namespace) -> str:
    db = args.database or _env("PE_DATABASE", "INFLUXDB3_DATABASE_NAME")
    if not db:
        raise CliError("no database: pass -d/--database or set PE_DATABASE")
    return db


# --------------------------------------------------------------------- value types
def duration(text: str) -> float:
    """Seconds from `1s`, `100ms`, `1m`, `1h 30m`, `0.5` (plain numbers are seconds)."""
    try:
        return parse_duration(text, lenient=True)
    except InvalidSpec:
        raise argparse.ArgumentTypeError(f"invalid duration '{text}': use e.g. 1s, 100ms, 1m or 0.5") from None


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.I)


def size(text: str) -> int:
    """Bytes from `1048576`, `64MiB`, `10MB`, `512k` (powers of 1024 throughout)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size '{text}': use e.g. 1048576, 512KiB or 64MiB")
    unit = (m.group(2) or "b")[0].lower()
    return int(m.group(1)) * 1024 ** "bkmgt".index(unit)


# --------------------------------------------------------------------- serve
def add_serve(tree: CommandTree) -> None:
    p = tree.command("serve", cmd_serve, help="run the engine and its HTTP API", client=False)
    env = os.environ.get
    p.add_argument("--data-dir", type=Path, default=env("PE_DATA_DIR", "./pe-data"),
                   help="where WAL, Parquet and the catalog live (env PE_DATA_DIR; default ./pe-data)")
    p.add_argument("--plugin-dir", type=Path, default=env("PE_PLUGIN_DIR"),
                   help="directory of processing-engine plugins (env PE_PLUGIN_DIR)")
    p.add_argument("--http-bind", default=env("PE_HTTP_BIND", "127.0.0.1:8181"),
                   help="HOST:PORT to listen on (env PE_HTTP_BIND; default 127.0.0.1:8181)")
    p.add_argument("--wal-flush-interval", type=duration, help="e.g. 1s (default), 100ms, 10ms")
    p.add_argument("--without-auth", action="store_true", default=None, help="accept requests without a token")
    p.add_argument("--admin-token", default=env("PE_ADMIN_TOKEN"),
                   help="use this admin token instead of generating one (env PE_ADMIN_TOKEN)")
    p.add_argument("--max-request-bytes", type=size, help="largest request body, e.g. 64MiB (default)")
    p.add_argument("--wal-segment-bytes", type=size, help="WAL segment size before rotation")
    p.add_argument("--snapshot-every-flushes", type=int, help="WAL flushes between Parquet snapshots")
    p.add_argument("--snapshot-max-buffer-rows", type=int, help="snapshot sooner when memory holds this many rows")
    p.add_argument("--max-databases", type=int)
    p.add_argument("--max-tables-per-database", type=int)
    p.add_argument("--max-columns-per-table", type=int)
    p.add_argument("--query-timeout", type=duration, help="e.g. 300s (default)")
    p.add_argument("--parse-workers", type=int, help="threads parsing line protocol")
    p.add_argument("--log-level", default=env("PE_LOG_LEVEL", "INFO"), help="DEBUG, INFO, WARNING, ERROR")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request")


def config_from(args: argparse.Namespace):
    """EngineConfig from every option whose dest names a config field (so extensions' options flow too)."""
    from .config import EngineConfig

    values: dict[str, Any] = {}
    for f in dataclasses.fields(EngineConfig):
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = v
    if os.environ.get("PE_WITHOUT_AUTH", "").lower() in ("1", "true", "yes") and "without_auth" not in values:
        values["without_auth"] = True
    try:
        config = EngineConfig(**values)
        config.http_host_port  # noqa: B018 -- validates HOST:PORT now, not at bind time
    except ValueError as e:
        raise CliError(f"invalid configuration: {e}") from None
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    from .http.server import serve

    return serve(config_from(args), log_level=args.log_level, access_log=args.access_log)


# --------------------------------------------------------------------- write
def add_write(tree: CommandTree) -> None:
    p = tree.command("write", cmd_write, help="write line protocol")
    p.add_argument("lines", nargs="*", metavar="LINE", help="line protocol (default: --file or stdin)")
    p.add_argument("-f", "--file", help="read line protocol from this file ('-' for stdin)")
    p.add_argument("--precision", help="auto (default), ns, us, ms, s")
    p.add_argument("--accept-partial", action=argparse.BooleanOptionalAction, default=True,
                   help="write the good lines when some are bad (default: yes)")
    p.add_argument("--no-sync", action="store_true", help="answer before the WAL is on disk")


def _write_input(args: argparse.Namespace) -> bytes:
    if args.lines and args.file:
        raise CliError("give line protocol either as arguments or with --file, not both")
    if args.lines:
        return "\n".join(args.lines).encode("utf-8")
    if args.file and args.file != "-":
        try:
            return Path(args.file).read_bytes()
        except OSError as e:
            raise CliError(f"cannot read {args.file}: {e.strerror}") from None
    if args.file is None and sys.stdin.isatty():
        raise CliError("no line protocol: pass lines as arguments, use --file, or pipe it in")
    return sys.stdin.buffer.read()


def split_lines(body: bytes, limit: int = WRITE_CHUNK) -> list[tuple[int, bytes]]:
    """Cut a body at line ends into pieces of about `limit` bytes: (lines before the piece, piece)."""
    pieces: list[tuple[int, bytes]] = []
    start = 0
    lines_before = 0
    while start < len(body):
        end = len(body) if len(body) - start <= limit else body.rfind(b"\n", start, start + limit)
        if end < 0:  # one line longer than the limit: send it whole
            nl = body.find(b"\n", start + limit)
            end = len(body) if nl < 0 else nl
        piece = body[start:end]
        if piece.strip():
            pieces.append((lines_before, piece))
        lines_before += piece.count(b"\n") + 1
        start = end + 1
    return pieces


def cmd_write(args: argparse.Namespace) -> int:
    db = database_from(args)
    client = client_from(args)
    body = _write_input(args)
    pieces = split_lines(body, WRITE_CHUNK) if args.accept_partial else [(0, body)]
    rejected: list[dict] = []
    message = ""
    for offset, piece in pieces:
        try:
            client.write_lp(db, piece, precision=args.precision,
                            accept_partial=args.accept_partial, no_sync=args.no_sync)
        except ClientError as e:
            if e.status != 400 or e.data is None:
                raise
            message = e.message
            for item in e.data if isinstance(e.data, list) else [e.data]:
                if isinstance(item, dict) and "line_number" in item:
                    item = {**item, "line_number": item["line_number"] + offset}
                rejected.append(item)
    if rejected:
        print(f"error: {message}", file=sys.stderr)
        for item in rejected:
            print(f"  line {item.get('line_number')}: {item.get('error_message')}\n"
                  f"    {item.get('original_line')}", file=sys.stderr)
        if args.accept_partial:
            print("the other lines were written", file=sys.stderr)
        return 1
    print("success", file=sys.stderr)
    return 0


# --------------------------------------------------------------------- query
def add_query(tree: CommandTree) -> None:
    p = tree.command("query", cmd_query, help="run SQL and print the result")
    p.add_argument("sql", nargs="?", metavar="SQL", help="the query (default: --file or stdin)")
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
        raise CliError("no query: pass SQL as an argument, use --file, or pipe it in")
    return sys.stdin.read()


def emit(data: bytes, output: str | None, fmt: str, out: TextIO | None = None) -> None:
    """Write a result to a file or stdout; binary formats never go to a terminal."""
    out = out or sys.stdout
    if output:
        Path(output).write_bytes(data)
        return
    if fmt == "parquet" and out.isatty():
        raise CliError("parquet output is binary: use --output FILE")
    out.flush()
    if hasattr(out, "buffer"):
        out.buffer.write(data)
        out.buffer.flush()
    else:  # a StringIO in tests
        out.write(data.decode("utf-8", "replace"))
    if data and not data.endswith(b"\n") and fmt != "parquet":
        out.write("\n")
    out.flush()


def cmd_query(args: argparse.Namespace) -> int:
    db = database_from(args)
    data = client_from(args).query_sql(db, _sql_input(args), args.format, _params(args.param))
    emit(data, args.output, args.format)
    return 0


# --------------------------------------------------------------------- databases
def add_databases(tree: CommandTree) -> None:
    p = tree.subcommand("create", "database", cmd_create_database, help="create a database")
    p.add_argument("name", metavar="NAME")
    p = tree.subcommand("delete", "database", cmd_delete_database, help="delete a database and its data")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p = tree.subcommand("show", "databases", cmd_show_databases, help="list databases")
    p.add_argument("--format", choices=FORMATS, default="pretty")
    p.add_argument("-o", "--output", help="write the list to this file instead of stdout")


def cmd_create_database(args: argparse.Namespace) -> int:
    client_from(args).create_database(args.name)
    print(f'Database "{args.name}" created successfully')
    return 0


def confirm(question: str) -> bool:
    """Ask on a terminal; never block a script (no terminal means yes, as with -y)."""
    if not sys.stdin.isatty():
        return True
    try:
        answer = input(f"{question} Enter 'yes' to confirm: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y")


def cmd_delete_database(args: argparse.Namespace) -> int:
    if not args.yes and not confirm(f'Are you sure you want to delete database "{args.name}" and all its data?'):
        print("cancelled", file=sys.stderr)
        return 1
    client_from(args).delete_database(args.name)
    print(f'Database "{args.name}" deleted successfully')
    return 0


def cmd_show_databases(args: argparse.Namespace) -> int:
    emit(client_from(args).list_databases(args.format), args.output, args.format)
    return 0


# --------------------------------------------------------------------- tui
def add_tui(tree: CommandTree) -> None:
    """`pe tui`: every `pe serve` option (extensions' too, so call this last) plus the console's.

    pe_tui (and Textual) are imported only when the command runs.
    """
    import copy

    serve = tree.get("serve")
    p = tree.command("tui", cmd_tui, help="run the engine with the live operations console", client=False)
    for group in serve._action_groups:  # copies, so changing a default here never touches `serve`
        actions = [a for a in group._group_actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        target = p._optionals if group is serve._optionals else p.add_argument_group(group.title)
        for action in actions:
            clone = copy.copy(action)
            if clone.dest == "data_dir":  # --demo uses a temporary directory unless one is given
                clone.default = os.environ.get("PE_DATA_DIR")
                clone.help = "where WAL, Parquet and the catalog live (env PE_DATA_DIR; default ./pe-data, " \
                             "a temporary directory with --demo)"
            target._add_action(clone)
    g = p.add_argument_group("console")
    g.add_argument("--demo", action="store_true",
                   help="showcase: example plugins and triggers, and a load generator writing host metrics")
    g.add_argument("--read-only", action="store_true", help="hide every action that changes the engine")
    g.add_argument("--refresh", type=duration, default=0.25, metavar="DURATION",
                   help="console refresh interval (default 250ms = 4 Hz; +/- change it live)")
    g.add_argument("--load-rate", type=int, default=None, metavar="LINES_PER_S",
                   help="--demo: lines per second the load generator writes (default 600; [ and ] change it)")
    g.add_argument("--record", type=Path, metavar="FILE",
                   help="also write every console tick as JSON lines to FILE (replay with pe_tui.recorded)")


def cmd_tui(args: argparse.Namespace) -> int:
    from pe_tui.app import run_console  # lazy: pe_engine never imports textual at import time

    return run_console(args)


# --------------------------------------------------------------------- main
def build_parser() -> CommandTree:
    tree = CommandTree()
    add_serve(tree)
    add_write(tree)
    add_query(tree)
    add_databases(tree)
    for name in EXTENSION_MODULES:
        _load_extension(tree, name)
    for extend in EXTENSIONS:
        extend(tree)
    add_tui(tree)  # last: it copies the serve options the extensions added
    return tree


def _load_extension(tree: CommandTree, name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            return
        print(f"warning: cannot load CLI extension {name}: {e}", file=sys.stderr)
        return
    except Exception as e:  # a broken extension must not take the whole CLI down
        print(f"warning: cannot load CLI extension {name}: {e}", file=sys.stderr)
        return
    register = getattr(module, "register", None)
    if register is not None:
        register(tree)


def main(argv: Sequence[str] | None = None) -> int:
    tree = build_parser()
    args = tree.parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        tree.parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except (CliError, ClientError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `pe query ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- silence the flush at exit
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
