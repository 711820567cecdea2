"""`pe create|delete|enable|disable|update trigger` and `pe show triggers` (influxdb3 names and flags,
reference §6.2, plus our settings: deadline, limits, retries, catch-up)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..http.client import PeClient
from ..options import size
from ..processing.triggers import CRON_HELP, DURATION_HELP, SPEC_FORMS_HELP, parse_duration, parse_trigger_arguments
from .common import CliError, client_from, database_from, print_table
from .tree import CommandTree


def trigger_arguments(text: str) -> dict[str, str] | None:
    """`k1=v1,k2=v2` as a dict (argparse type)."""
    try:
        return parse_trigger_arguments(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(tree: CommandTree) -> None:
    p = tree.subcommand("create", "trigger", cmd_create_trigger, help="create a processing-engine trigger")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = f"{SPEC_FORMS_HELP}\n\n{CRON_HELP}\n\n{DURATION_HELP}"
    p.add_argument("name", metavar="TRIGGER_NAME")
    p.add_argument("-p", "--path", "--plugin-filename", dest="path", required=True,
                   help="plugin file or directory, relative to the server's plugin dir, or gh:<path>")
    p.add_argument("--trigger-spec", required=True, help="table:<t>, all_tables, every:<d>, cron:<expr>, request:<path>")
    p.add_argument("--trigger-arguments", type=trigger_arguments, help="k1=v1,k2=v2")
    p.add_argument("--disabled", action="store_true", help="create without starting")
    p.add_argument("--run-asynchronous", action="store_true", help="let activations of this trigger overlap")
    p.add_argument("--error-behavior", default="log", type=str.lower, choices=["log", "retry", "disable"])
    p.add_argument("--deadline", type=_seconds, help="per-activation time limit (default 30s)")
    p.add_argument("--concurrency", type=int, help="with --run-asynchronous: at most this many at once (default 4)")
    p.add_argument("--max-retries", type=int, help="with --error-behavior retry (default 5)")
    p.add_argument("--memory-limit", type=size, help="fail an activation that grows memory past this, e.g. 512MiB")
    p.add_argument("--cpu-limit", type=_seconds, help="fail an activation that uses more CPU time, e.g. 10s")
    p.add_argument("--catch-up", choices=["skip", "once", "all"], help="schedules missed while down (default skip)")
    p.add_argument("--isolation", choices=["thread", "process"],
                   help="run this trigger's plugin in the server (thread) or in a worker process (process); "
                        "default: the server's --plugin-isolation")
    p.add_argument("--upload", action="store_true", help="upload the local file/directory given by --path first")

    for verb, func, help_ in (
        ("delete", cmd_delete_trigger, "delete a trigger"),
        ("enable", cmd_enable_trigger, "enable a trigger"),
        ("disable", cmd_disable_trigger, "disable a trigger"),
    ):
        p = tree.subcommand(verb, "trigger", func, help=help_)
        p.add_argument("name", metavar="TRIGGER_NAME")
        if verb == "delete":
            p.add_argument("--force", action="store_true", help="delete even if enabled")

    p = tree.subcommand("update", "trigger", cmd_update_trigger, help="replace a trigger's plugin code")
    p.add_argument("-t", "--trigger-name", required=True)
    p.add_argument("-p", "--path", required=True, help="local plugin file or directory to upload")

    p = tree.subcommand("show", "triggers", cmd_show_triggers, help="list triggers with their state and statistics")
    p.add_argument("--format", default="pretty", choices=["pretty", "json"])


def _q(args: argparse.Namespace) -> dict[str, str]:
    return {"db": database_from(args), "trigger_name": args.name}


def _upload(client: PeClient, local: Path, remote: str) -> str:
    if local.is_dir():
        files = sorted(p for p in local.rglob("*.py") if "__pycache__" not in p.parts)
        if not (local / "__init__.py").exists():
            raise CliError(f"Multi-file plugin directory must contain __init__.py: {local}")
        for f in files:
            client.request("POST", "/api/v3/plugins/files", json_body={
                "plugin_name": f"{remote}/{f.relative_to(local).as_posix()}", "content": f.read_text()})
        return remote + "/"
    if not local.is_file():
        raise CliError(f"no such file: {local}")
    client.request("POST", "/api/v3/plugins/files", json_body={"plugin_name": remote, "content": local.read_text()})
    return remote


def cmd_create_trigger(args: argparse.Namespace) -> int:
    client = client_from(args)
    db = database_from(args)
    path = args.path
    if args.upload:
        path = _upload(client, Path(path), Path(path).name)
    settings: dict = {"run_async": args.run_asynchronous, "error_behavior": args.error_behavior}
    for key, val in (
        ("deadline_seconds", args.deadline), ("concurrency", args.concurrency), ("max_retries", args.max_retries),
        ("memory_limit_bytes", args.memory_limit), ("cpu_limit_seconds", args.cpu_limit), ("catch_up", args.catch_up),
        ("isolation", args.isolation),
    ):
        if val is not None:
            settings[key] = val
    client.request("POST", "/api/v3/configure/processing_engine_trigger", json_body={
        "db": db, "plugin_filename": path, "trigger_name": args.name,
        "trigger_specification": args.trigger_spec, "trigger_settings": settings,
        "trigger_arguments": args.trigger_arguments, "disabled": args.disabled,
    })
    print(f"Trigger {args.name} created successfully")
    return 0


def cmd_delete_trigger(args: argparse.Namespace) -> int:
    client_from(args).request("DELETE", "/api/v3/configure/processing_engine_trigger",
                              query={**_q(args), "force": "true" if args.force else "false"})
    print(f"Trigger {args.name} deleted successfully")
    return 0


def cmd_enable_trigger(args: argparse.Namespace) -> int:
    client_from(args).request("POST", "/api/v3/configure/processing_engine_trigger/enable", query=_q(args))
    print(f"Trigger {args.name} enabled successfully")
    return 0


def cmd_disable_trigger(args: argparse.Namespace) -> int:
    client_from(args).request("POST", "/api/v3/configure/processing_engine_trigger/disable", query=_q(args))
    print(f"Trigger {args.name} disabled successfully")
    return 0


def cmd_update_trigger(args: argparse.Namespace) -> int:
    client = client_from(args)
    db = database_from(args)
    local = Path(args.path)
    if local.is_dir():
        files = [
            {"relative_path": p.relative_to(local).as_posix(), "content": p.read_text()}
            for p in sorted(local.rglob("*.py")) if "__pycache__" not in p.parts
        ]
        client.request("PUT", "/api/v3/plugins/directory",
                       json_body={"plugin_name": args.trigger_name, "db": db, "files": files})
    elif local.is_file():
        client.request("PUT", "/api/v3/plugins/files",
                       json_body={"plugin_name": args.trigger_name, "db": db, "content": local.read_text()})
    else:
        raise CliError(f"no such file or directory: {local}")
    print(f"Trigger {args.trigger_name} updated successfully")
    return 0


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:.2f}ms"


def cmd_show_triggers(args: argparse.Namespace) -> int:
    client = client_from(args)
    db = args.database or None
    rows = client.request("GET", "/api/v3/configure/processing_engine_trigger", query={"db": db}).json()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    table = []
    for r in rows:
        st = r.get("stats") or {}
        table.append([
            r["database"], r["trigger_name"], r["trigger_specification"], r["plugin_filename"], r["state"],
            str(st.get("runs", 0)), str(st.get("errors", 0)),
            _ms(st.get("run_time_p50")), _ms(st.get("run_time_p99")),
        ])
    print_table(["database", "trigger", "spec", "plugin", "state", "runs", "errors", "p50", "p99"], table)
    return 0
