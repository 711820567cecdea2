"""`pe serve`: the engine and its HTTP API in the foreground, options from the shared table."""
from __future__ import annotations

import argparse

from ..options import add_arguments, config_from
from .tree import CommandTree


def register(tree: CommandTree) -> None:
    p = tree.command("serve", cmd_serve, help="run the engine and its HTTP API", client=False)
    add_arguments(p)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..http.server import serve  # lazy: the client commands start without aiohttp and DataFusion

    return serve(config_from(args), log_level=args.log_level, access_log=args.access_log)
