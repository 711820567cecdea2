"""The `pe` command: `pe serve`, and admin commands that talk to a running server over HTTP.

This module assembles the tree: the built-in command groups (one module each),
then `EXTENSIONS`, then, in `main`, the commands other installed packages
declare in the `pe.commands` entry-point group (the console's `pe tui`). An
entry point names a `register(tree: CommandTree)` function; pe_engine never
imports those packages by name.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from functools import partial
from importlib.metadata import entry_points

from ..http.client import ClientError
from ..options import ConfigError, config_from, duration, size  # the last three re-exported for callers
from . import caches, databases, packages, plugins, query, serve, tables, tokens, triggers, write
from .common import CliError
from .tree import Command, CommandTree, Register

__all__ = [
    "COMMAND_GROUP", "EXTENSIONS", "WRITE_CHUNK", "CliError", "CommandTree", "Register",
    "build_parser", "built_in", "config_from", "discover_commands", "duration", "main", "size",
]

COMMAND_GROUP = "pe.commands"  # entry-point group of commands from other packages
WRITE_CHUNK = 8 * 1024 * 1024  # line protocol is sent in pieces of about this size

# Registration functions added after the built-in commands (tests, embedding programs).
EXTENSIONS: tuple[Register, ...] = ()


def built_in() -> tuple[Register, ...]:
    """The command groups of pe itself, in the order `pe --help` lists them."""
    return (
        serve.register,
        partial(write.register, chunk_bytes=WRITE_CHUNK),
        query.register,
        databases.register,
        tables.register,
        triggers.register,
        plugins.register,
        packages.register,
        caches.register,
        tokens.register,
    )


def build_parser(commands: Iterable[Register] = ()) -> CommandTree:
    """The tree of built-in commands, then EXTENSIONS, then `commands` (e.g. discovered ones)."""
    tree = CommandTree()
    for register in (*built_in(), *EXTENSIONS, *commands):
        register(tree)
    return tree


def discover_commands() -> list[Register]:
    """`register` functions of the installed `pe.commands` entry points; a broken one is skipped."""
    found: list[Register] = []
    for ep in entry_points(group=COMMAND_GROUP):
        try:
            found.append(ep.load())
        except Exception as e:  # a broken extension must not take the whole CLI down
            print(f"warning: cannot load CLI extension {ep.name} ({ep.value}): {e}", file=sys.stderr)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    tree = build_parser(discover_commands())
    args = tree.parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        tree.parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except (CliError, ClientError, ConfigError) as e:
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
