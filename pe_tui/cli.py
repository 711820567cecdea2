"""`pe tui` and `pe-tui`: the engine's option table plus the console's own options.

`register` is the `pe.commands` entry point the `pe` CLI discovers (pe_engine never
names pe_tui); `main` is the `pe-tui` console script. The console itself
(`pe_tui.app`, Textual) is imported only when the command runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from pe_engine.cli import build_parser as engine_parser
from pe_engine.cli.tree import CommandTree
from pe_engine.options import ENGINE_OPTIONS, Option, add_arguments, duration, option

HELP = "run the engine with the live operations console"


def console_options() -> tuple[Option, ...]:
    """The engine's options, except that --demo uses a temporary data directory unless one is given."""
    data_dir = dataclasses.replace(
        option("data_dir"),
        default=None,
        help="where WAL, Parquet and the catalog live (env PE_DATA_DIR; default ./pe-data, "
             "a temporary directory with --demo)",
    )
    return tuple(data_dir if o.dest == "data_dir" else o for o in ENGINE_OPTIONS)


def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, console_options())
    g = parser.add_argument_group("console")
    g.add_argument("--demo", action="store_true",
                   help="showcase: example plugins and triggers, and a load generator writing host metrics")
    g.add_argument("--read-only", action="store_true", help="hide every action that changes the engine")
    g.add_argument("--refresh", type=duration, default=0.25, metavar="DURATION",
                   help="console refresh interval (default 250ms = 4 Hz; +/- change it live)")
    g.add_argument("--load-rate", type=int, default=None, metavar="LINES_PER_S",
                   help="--demo: lines per second the load generator writes (default 600; [ and ] change it)")
    g.add_argument("--record", type=Path, metavar="FILE",
                   help="also write every console tick as JSON lines to FILE (replay with pe_tui.replay.recorded)")
    g.add_argument("--keymap", type=Path, metavar="FILE",
                   help="remap keys by binding id from a TOML file (default $PE_TUI_KEYMAP, "
                        "else $XDG_CONFIG_HOME/pe/keymap.toml when it exists)")


def run(args: argparse.Namespace) -> int:
    from .app import run_console  # lazy: `pe write` and friends never load Textual

    return run_console(args)


def register(tree: CommandTree) -> None:
    """`pe tui` (the `pe.commands` entry point)."""
    p = tree.command("tui", run, help=HELP, client=False)
    add_console_arguments(p)


def build_parser() -> CommandTree:
    """The `pe` tree with `pe tui` in it, whether or not the entry points are installed."""
    return engine_parser([register])


def main(argv: Sequence[str] | None = None) -> int:
    """`pe-tui`: the same options as `pe tui` (which are `pe serve`'s plus the console's)."""
    parser = argparse.ArgumentParser(prog="pe-tui", description=HELP)
    add_console_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
