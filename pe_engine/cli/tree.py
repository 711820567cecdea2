"""CommandTree: the `pe` parser, built of top-level commands and verb/noun pairs.

Commands are "verb" or "verb noun" (`pe write`, `pe create database`), as in the
influxdb3 CLI. Each command module gets the tree and adds its commands with
`command()` / `subcommand()`; `client=True` gives a command the connection flags.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from .common import DEFAULT_HOST

Command = Callable[[argparse.Namespace], "int | None"]
Register = Callable[["CommandTree"], None]


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
    g.add_argument("--tls-ca", help="CA certificate (PEM) to verify an https:// server with (env PE_TLS_CA, "
                                    "INFLUXDB3_TLS_CA)")
    g.add_argument("--tls-no-verify", action="store_true",
                   help="do not verify the server's TLS certificate (self-signed test set-ups only)")
    return p
