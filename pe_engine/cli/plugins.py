"""`pe show plugins` and the dry runs `pe test wal_plugin` / `pe test schedule_plugin`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import FORMATS, client_from, database_from, emit, print_table
from .tree import CommandTree
from .triggers import trigger_arguments


def register(tree: CommandTree) -> None:
    p = tree.subcommand("show", "plugins", cmd_show_plugins, help="list plugin files, versions and users")
    p.add_argument("--format", default="pretty", choices=FORMATS)
    p.add_argument("--output", help="write to this file")

    p = tree.subcommand("test", "wal_plugin", cmd_test_wal, help="dry-run a WAL plugin on line protocol")
    p.add_argument("filename", metavar="FILENAME")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--lp", help="line protocol text")
    src.add_argument("--file", help="local file of line protocol")
    p.add_argument("--input-arguments", type=trigger_arguments)
    p.add_argument("--cache-name")
    p = tree.subcommand("test", "schedule_plugin", cmd_test_schedule, help="dry-run a schedule plugin")
    p.add_argument("filename", metavar="FILENAME")
    p.add_argument("--schedule", help="cron expression (6 fields; default '* * * * * *')")
    p.add_argument("--input-arguments", type=trigger_arguments)
    p.add_argument("--cache-name")


def cmd_show_plugins(args: argparse.Namespace) -> int:
    client = client_from(args)
    rows = client.request("GET", "/api/v3/plugins").json()
    if args.format == "pretty":
        print_table(
            ["plugin", "hash", "versions", "size", "used by", "last error"],
            [[r.get("filename", ""), (r.get("content_hash") or "")[:12], str(r.get("versions", "")),
              str(r.get("size_bytes", "")), ", ".join(r.get("users") or []), (r.get("last_error") or "")[:60]]
             for r in rows],
        )
        return 0
    body = client.request("GET", "/api/v3/query_sql",
                          query={"db": "_internal", "q": "SELECT * FROM system.plugin_files", "format": args.format}).body
    emit(body, args.output, args.format)
    return 0


def cmd_test_wal(args: argparse.Namespace) -> int:
    lp = args.lp if args.lp is not None else Path(args.file).read_text()
    out = client_from(args).request("POST", "/api/v3/plugin_test/wal", json_body={
        "filename": args.filename, "database": database_from(args), "input_lp": lp,
        "cache_name": args.cache_name, "input_arguments": args.input_arguments,
    }).json()
    print(json.dumps(out, indent=2))
    return 1 if out.get("errors") else 0


def cmd_test_schedule(args: argparse.Namespace) -> int:
    out = client_from(args).request("POST", "/api/v3/plugin_test/schedule", json_body={
        "filename": args.filename, "database": database_from(args), "schedule": args.schedule,
        "cache_name": args.cache_name, "input_arguments": args.input_arguments,
    }).json()
    print(json.dumps(out, indent=2))
    return 1 if out.get("errors") else 0
