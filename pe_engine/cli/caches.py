"""`pe create|delete last_cache` and `pe create|delete distinct_cache` (flags as influxdb3, §8)."""
from __future__ import annotations

import argparse
import json

from ..errors import BadRequest
from .common import client_from, database_from
from .tree import CommandTree


def _columns(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError("give column names separated by commas, e.g. host,region")
    return cols


def _duration(what: str):
    def parse(text: str) -> int:
        # Imported when a flag is parsed: the cache package loads DataFusion, which `pe write` never needs.
        from ..storage.caches.options import seconds

        try:
            return seconds(text, what, 0)
        except BadRequest as e:
            raise argparse.ArgumentTypeError(e.message) from None

    return parse


def _count(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid count '{text}': a whole number of at least 1")
    return int(text)


def register(tree: CommandTree) -> None:
    p = tree.subcommand("create", "last_cache", cmd_create_last_cache,
                        help="create a last values cache (newest rows per key, queried with last_cache())")
    p.add_argument("name", nargs="?", metavar="CACHE_NAME",
                   help="default: <table>_<key columns>_last_cache")
    p.add_argument("-t", "--table", required=True, help="the table to cache")
    p.add_argument("--key-columns", type=_columns, help="comma-separated key columns (default: the table's tags)")
    p.add_argument("--value-columns", type=_columns,
                   help="comma-separated value columns (default: all non-key columns, new ones too)")
    p.add_argument("--count", type=_count, help="rows kept per key (default 1)")
    p.add_argument("--ttl", type=_duration("ttl"),
                   help="how long a row stays after it arrived: '4 hours', 4h, or seconds (default 4h)")

    p = tree.subcommand("delete", "last_cache", cmd_delete_last_cache, help="delete a last values cache")
    p.add_argument("name", metavar="CACHE_NAME")
    p.add_argument("-t", "--table", required=True)

    p = tree.subcommand("create", "distinct_cache", cmd_create_distinct_cache,
                        help="create a distinct values cache (queried with distinct_cache())")
    p.add_argument("name", nargs="?", metavar="CACHE_NAME",
                   help="default: <table>_<columns>_distinct_cache")
    p.add_argument("-t", "--table", required=True, help="the table to cache")
    p.add_argument("--columns", type=_columns, required=True,
                   help="comma-separated tag or string field columns, top level first")
    p.add_argument("--max-cardinality", type=_count, help="most value combinations kept (default 100000)")
    p.add_argument("--max-age", type=_duration("max-age"),
                   help="drop combinations not seen (data time) for this long: 24h, '1 day', seconds (default 24h)")

    p = tree.subcommand("delete", "distinct_cache", cmd_delete_distinct_cache, help="delete a distinct values cache")
    p.add_argument("name", metavar="CACHE_NAME")
    p.add_argument("-t", "--table", required=True)


def _body(args: argparse.Namespace, **extra) -> dict:
    body = {"db": database_from(args), "table": args.table}
    if args.name:
        body["name"] = args.name
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def cmd_create_last_cache(args: argparse.Namespace) -> int:
    body = _body(args, key_columns=args.key_columns, value_columns=args.value_columns, count=args.count, ttl=args.ttl)
    resp = client_from(args).request("POST", "/api/v3/configure/last_cache", json_body=body)
    print("new cache created: " + json.dumps(resp.json(), indent=2))
    return 0


def cmd_create_distinct_cache(args: argparse.Namespace) -> int:
    body = _body(args, columns=args.columns, max_cardinality=args.max_cardinality, max_age=args.max_age)
    resp = client_from(args).request("POST", "/api/v3/configure/distinct_cache", json_body=body)
    print("new cache created: " + json.dumps(resp.json(), indent=2))
    return 0


def _delete(kind: str, args: argparse.Namespace) -> int:
    body = {"db": database_from(args), "table": args.table, "name": args.name}
    client_from(args).request("DELETE", f"/api/v3/configure/{kind}_cache", json_body=body)
    print(f"{kind} cache deleted successfully")
    return 0


def cmd_delete_last_cache(args: argparse.Namespace) -> int:
    return _delete("last", args)


def cmd_delete_distinct_cache(args: argparse.Namespace) -> int:
    return _delete("distinct", args)
