"""What the client commands share: the connection from flags/env, output, prompts, tables."""
from __future__ import annotations

import argparse
import os
import ssl
import sys
from pathlib import Path
from typing import TextIO

from ..http.client import PeClient

DEFAULT_HOST = "http://127.0.0.1:8181"
FORMATS = ("pretty", "json", "jsonl", "csv", "parquet")


class CliError(Exception):
    """A failure to report as `error: ...` with exit code 1."""


def env(*names: str) -> str | None:
    """The first of these environment variables that is set and not empty."""
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def client_from(args: argparse.Namespace) -> PeClient:
    host = args.host or env("PE_HOST", "INFLUXDB3_HOST_URL") or DEFAULT_HOST
    token = args.token or env("PE_TOKEN", "INFLUXDB3_AUTH_TOKEN")
    ca = getattr(args, "tls_ca", None) or env("PE_TLS_CA", "INFLUXDB3_TLS_CA")
    try:
        tls = client_tls(ca, no_verify=bool(getattr(args, "tls_no_verify", False)))
    except (OSError, ssl.SSLError) as e:
        raise CliError(f"cannot use the CA certificate {ca}: {e}") from None
    return PeClient(host, token, tls=tls)


def client_tls(ca: str | None, *, no_verify: bool = False) -> ssl.SSLContext | None:
    """The client's TLS context for https:// hosts: the system's CAs unless a CA file is given."""
    if no_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=ca) if ca else None


def database_from(args: argparse.Namespace) -> str:
    db = args.database or env("PE_DATABASE", "INFLUXDB3_DATABASE_NAME")
    if not db:
        raise CliError("no database: pass -d/--database or set PE_DATABASE")
    return db


def emit(data: bytes, output: str | None, fmt: str, out: TextIO | None = None) -> None:
    """Write a result to a file or stdout; binary formats never go to a terminal."""
    out = out or sys.stdout
    if output:
        Path(output).write_bytes(data)
        return
    if fmt == "parquet" and out.isatty():
        raise CliError("parquet output is binary: use --output FILE")
    out.flush()
    if hasattr(out, "buffer"):
        out.buffer.write(data)
        out.buffer.flush()
    else:  # a StringIO in tests
        out.write(data.decode("utf-8", "replace"))
    if data and not data.endswith(b"\n") and fmt != "parquet":
        out.write("\n")
    out.flush()


def confirm(question: str) -> bool:
    """Ask on a terminal; never block a script (no terminal means yes, as with -y)."""
    if not sys.stdin.isatty():
        return True
    try:
        answer = input(f"{question} Enter 'yes' to confirm: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A boxed text table, as `pe show triggers` and `pe show plugins` print."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print(line)
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print(line)
