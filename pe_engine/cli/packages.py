"""`pe install package`: pip on the server, its output streamed back line by line as it runs."""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

from ..http.client import PeClient
from .common import CliError, client_from
from .tree import CommandTree


def register(tree: CommandTree) -> None:
    p = tree.subcommand("install", "package", cmd_install, help="pip install packages into the plugin environment")
    p.add_argument("packages", nargs="*", metavar="PACKAGE")
    p.add_argument("-r", "--requirements",
                   help="requirements file ON THE SERVER, inside its plugin directory (relative: from there)")


def cmd_install(args: argparse.Namespace) -> int:
    if not args.packages and not args.requirements:
        raise CliError("name packages to install, or -r requirements.txt")
    client = client_from(args)
    if args.requirements:
        path, body = "/api/v3/configure/plugin_environment/install_requirements", {"requirements_location": args.requirements}
    else:
        path, body = "/api/v3/configure/plugin_environment/install_packages", {"packages": args.packages}
    last = ""
    for line in _stream_lines(client, path, body):  # pip's own progress, as it happens
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line.strip()
    return 1 if last.startswith("pe: pip failed") else 0


def _stream_lines(client: PeClient, path: str, body: dict) -> Iterator[str]:
    """POST and yield the response line by line while the server is still writing it."""
    req = urllib.request.Request(
        f"{client.host}{path}?stream=true", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {client.token}"} if client.token else {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=client.timeout) as resp:
            for raw in resp:
                yield raw.decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        raise CliError(f"{detail} (HTTP {e.code})") from None
    except urllib.error.URLError as e:
        raise CliError(f"cannot reach pe at {client.host}: is `pe serve` running? ({e.reason})") from None
