"""`pe create token --admin [--name N] [--regenerate]`, `pe create token --name N --permission
db:sensors:read,write [--expiry 30d]`, `pe delete token --token-name N`, `pe show tokens`."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from ..durations import DURATION_HELP, parse_duration
from ..errors import PeError
from ..http.token_store import Permission
from .common import FORMATS, CliError, client_from, confirm, emit
from .tree import CommandTree

TOKEN = "/api/v3/configure/token"


def register(tree: CommandTree) -> None:
    p = tree.subcommand("create", "token", cmd_create_token,
                        help="create an admin token (--admin) or a resource token (--permission)")
    p.add_argument("--admin", action="store_true",
                   help="an admin token: the operator token without --name, a named admin token with it")
    p.add_argument("--regenerate", action="store_true",
                   help="with --admin: replace the operator token (the old one stops working at once)")
    p.add_argument("--name", help="the token's name")
    p.add_argument("--permission", action="append", default=[], metavar="PERMISSION",
                   help="db:<database[,database]|*>:<read|write|read,write>; repeat for more")
    p.add_argument("--expiry", metavar="DURATION", help=f"expire after this long (e.g. 30d, 1y); {DURATION_HELP}")
    p.add_argument("--format", choices=("text", "json"), default="text", help="how to print the new token")

    p = tree.subcommand("delete", "token", cmd_delete_token, help="delete a named token")
    p.add_argument("--token-name", required=True, metavar="NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = tree.subcommand("show", "tokens", cmd_show_tokens, help="list tokens (never their secrets)")
    p.add_argument("--format", choices=FORMATS, default="pretty")
    p.add_argument("-o", "--output", help="write the list to this file instead of stdout")


def _expiry_secs(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return max(1, math.ceil(parse_duration(text)))
    except PeError as e:
        raise CliError(f"invalid --expiry: {e.message}") from None


def _permissions(texts: list[str]) -> list[dict[str, Any]]:
    try:
        return [Permission.parse(t).to_json() for t in texts]
    except PeError as e:
        raise CliError(e.message) from None


def cmd_create_token(args: argparse.Namespace) -> int:
    client = client_from(args)
    expiry = _expiry_secs(args.expiry)
    if args.admin:
        if args.permission:
            raise CliError("--admin and --permission do not go together: an admin token may do everything")
        if args.regenerate:
            if args.name or expiry is not None:
                raise CliError("--regenerate replaces the operator token: it takes no --name or --expiry")
            if not confirm("The current operator token will stop working."):
                print("cancelled", file=sys.stderr)
                return 1
            out = client.request("POST", TOKEN + "/admin/regenerate").json()
        elif args.name:
            out = client.request("POST", TOKEN + "/named_admin",
                                 json_body={"token_name": args.name, "expiry_secs": expiry}).json()
        else:
            if expiry is not None:
                raise CliError("the operator token never expires: give --name for a named admin token")
            out = client.request("POST", TOKEN + "/admin").json()
    else:
        if not args.permission:
            raise CliError("say what the token is for: --admin, or --name N --permission db:<names>:<actions>")
        if not args.name:
            raise CliError("a resource token needs --name")
        out = client.request("POST", TOKEN, json_body={
            "token_name": args.name, "permissions": _permissions(args.permission), "expiry_secs": expiry,
        }).json()
    _print_new_token(out, args.format)
    return 0


def _print_new_token(out: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(out, indent=2))
        return
    token = out.get("token", "")
    expiry = out.get("expiry") or "never"
    print(f"Created token '{out.get('name')}' (id {out.get('id')}, expires: {expiry}).\n")
    print(f"Token: {token}")
    print(f"HTTP header: Authorization: Bearer {token}\n")
    print("This is the only time the token is shown: keep it somewhere safe. pe stores only its hash.")


def cmd_delete_token(args: argparse.Namespace) -> int:
    if not args.yes and not confirm(f'Are you sure you want to delete token "{args.token_name}"?'):
        print("cancelled", file=sys.stderr)
        return 1
    client_from(args).request("DELETE", TOKEN, query={"token_name": args.token_name})
    print(f'Token "{args.token_name}" deleted successfully')
    return 0


def cmd_show_tokens(args: argparse.Namespace) -> int:
    sql = "SELECT * FROM system.tokens ORDER BY token_id"
    body = client_from(args).query_sql("_internal", sql, args.format)
    emit(body, args.output, args.format)
    return 0
