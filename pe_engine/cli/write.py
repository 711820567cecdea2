"""`pe write`: line protocol from arguments, a file or stdin, sent in pieces of about `chunk_bytes`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..http.client import ClientError
from .common import CliError, client_from, database_from
from .tree import CommandTree


def register(tree: CommandTree, *, chunk_bytes: int) -> None:
    p = tree.command("write", cmd_write, help="write line protocol")
    p.add_argument("lines", nargs="*", metavar="LINE", help="line protocol (default: --file or stdin)")
    p.add_argument("-f", "--file", help="read line protocol from this file ('-' for stdin)")
    p.add_argument("--precision", help="auto (default), ns, us, ms, s")
    p.add_argument("--accept-partial", action=argparse.BooleanOptionalAction, default=True,
                   help="write the good lines when some are bad (default: yes)")
    p.add_argument("--no-sync", action="store_true", help="answer before the WAL is on disk")
    p.set_defaults(chunk_bytes=chunk_bytes)


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


def split_lines(body: bytes, limit: int) -> list[tuple[int, bytes]]:
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
    pieces = split_lines(body, args.chunk_bytes) if args.accept_partial else [(0, body)]
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
