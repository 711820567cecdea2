"""`pe create database [--retention-period]`, `pe delete database`, `pe show databases [--show-retention]`."""
from __future__ import annotations

import argparse
import sys

from .common import FORMATS, client_from, confirm, emit
from .tree import CommandTree


def register(tree: CommandTree) -> None:
    p = tree.subcommand("create", "database", cmd_create_database, help="create a database")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--retention-period", metavar="DURATION",
                   help="hide and then delete rows older than this (e.g. 30d, 24h, 1w); default: keep forever")
    p = tree.subcommand("delete", "database", cmd_delete_database, help="delete a database and its data")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p = tree.subcommand("show", "databases", cmd_show_databases, help="list databases")
    p.add_argument("--format", choices=FORMATS, default="pretty")
    p.add_argument("-o", "--output", help="write the list to this file instead of stdout")
    p.add_argument("--show-retention", action="store_true", help="add each database's retention period")


def cmd_create_database(args: argparse.Namespace) -> int:
    client_from(args).create_database(args.name, args.retention_period)
    print(f'Database "{args.name}" created successfully')
    return 0


def cmd_delete_database(args: argparse.Namespace) -> int:
    if not args.yes and not confirm(f'Are you sure you want to delete database "{args.name}" and all its data?'):
        print("cancelled", file=sys.stderr)
        return 1
    client_from(args).delete_database(args.name)
    print(f'Database "{args.name}" deleted successfully')
    return 0


def cmd_show_databases(args: argparse.Namespace) -> int:
    emit(client_from(args).list_databases(args.format, args.show_retention), args.output, args.format)
    return 0
