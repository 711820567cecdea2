"""`pe create table` and `pe delete table` (flags as influxdb3: -d, --tags, --fields name:type,...)."""
from __future__ import annotations

import argparse
import sys

from .common import client_from, confirm, database_from
from .tree import CommandTree

FIELD_TYPES = ("utf8", "int64", "uint64", "float64", "bool")


def _tags(text: str) -> list[str]:
    tags = [t.strip() for t in text.split(",") if t.strip()]
    if not tags:
        raise argparse.ArgumentTypeError("give tag column names separated by commas, e.g. host,region")
    return tags


def _fields(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, ftype = part.rpartition(":")
        if not sep or not name or ftype not in FIELD_TYPES:
            raise argparse.ArgumentTypeError(
                f"invalid field '{part}': use name:type with type one of {', '.join(FIELD_TYPES)}"
            )
        out.append((name, ftype))
    return out


def register(tree: CommandTree) -> None:
    p = tree.subcommand("create", "table", cmd_create_table,
                        help="create a table with its tag and field columns before writing to it")
    p.add_argument("name", metavar="TABLE_NAME")
    p.add_argument("--tags", type=_tags, required=True, help="comma-separated tag columns, e.g. host,region")
    p.add_argument("--fields", type=_fields, default=[],
                   help=f"comma-separated name:type field columns, type one of {', '.join(FIELD_TYPES)}")
    p = tree.subcommand("delete", "table", cmd_delete_table, help="delete a table and its data")
    p.add_argument("name", metavar="TABLE_NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def cmd_create_table(args: argparse.Namespace) -> int:
    client_from(args).create_table(database_from(args), args.name, args.tags, args.fields)
    print(f'Table "{args.name}" created successfully')
    return 0


def cmd_delete_table(args: argparse.Namespace) -> int:
    db = database_from(args)
    if not args.yes and not confirm(f'Are you sure you want to delete table "{args.name}" of "{db}" and all its data?'):
        print("cancelled", file=sys.stderr)
        return 1
    client_from(args).delete_table(db, args.name)
    print(f'Table "{args.name}" deleted successfully')
    return 0
