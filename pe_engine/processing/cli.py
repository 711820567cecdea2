"""`pe` subcommands of the processing engine: triggers, plugins, plugin tests, packages.

Same names and flags as the influxdb3 CLI (reference §6.2), plus our settings
(deadline, limits, retries, catch-up).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli import FORMATS, CliError, CommandTree, client_from, database_from, emit, size
from .triggers import CRON_HELP, DURATION_HELP, SPEC_FORMS_HELP, parse_duration, parse_trigger_arguments


def _args_type(text: str) -> dict[str, str] | None:
    try:
        return parse_trigger_arguments(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _trigger_types(text: str) -> tuple[str, ...]:
    out = []
    for part in text.split(","):
        p = part.strip().lower()
        p = {"wal_flush": "wal"}.get(p, p)
        if p not in ("wal", "schedule", "request"):
            raise argparse.ArgumentTypeError(f"unknown trigger type '{part}': use wal, schedule, request")
        out.append(p)
    return tuple(out)


def register(tree: CommandTree) -> None:
    serve = tree.get("serve")
    g = serve.add_argument_group("processing engine")
    g.add_argument("--plugin-repo", help="base URL or git repository for gh: plugins (env INFLUXDB3_PLUGIN_REPO)")
    g.add_argument("--plugin-threads", type=int, help="worker threads running plugins (default 8)")
    g.add_argument("--restrict-plugin-triggers-to", dest="restrict_trigger_types", type=_trigger_types,
                   help="only allow these trigger types: wal,schedule,request")
    g.add_argument("--disable-package-management", dest="package_install_disabled", action="store_true",
                   default=None, help="refuse package installs (HTTP 403)")
    g.add_argument("--virtual-env-location", dest="virtual_env", type=Path,
                   help="install plugin packages into this virtualenv (default: the one pe runs in)")
    g.add_argument("--no-watch-plugins", dest="watch_plugins", action="store_false", default=None,
                   help="do not reload plugins when their files change")

    p = tree.subcommand("create", "trigger", cmd_create_trigger, help="create a processing-engine trigger")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = f"{SPEC_FORMS_HELP}\n\n{CRON_HELP}\n\n{DURATION_HELP}"
    p.add_argument("name", metavar="TRIGGER_NAME")
    p.add_argument("-p", "--path", "--plugin-filename", dest="path", required=True,
                   help="plugin file or directory, relative to the server's plugin dir, or gh:<path>")
    p.add_argument("--trigger-spec", required=True, help="table:<t>, all_tables, every:<d>, cron:<expr>, request:<path>")
    p.add_argument("--trigger-arguments", type=_args_type, help="k1=v1,k2=v2")
    p.add_argument("--disabled", action="store_true", help="create without starting")
    p.add_argument("--run-asynchronous", action="store_true", help="let activations of this trigger overlap")
    p.add_argument("--error-behavior", default="log", type=str.lower, choices=["log", "retry", "disable"])
    p.add_argument("--deadline", type=_seconds, help="per-activation time limit (default 30s)")
    p.add_argument("--concurrency", type=int, help="with --run-asynchronous: at most this many at once (default 4)")
    p.add_argument("--max-retries", type=int, help="with --error-behavior retry (default 5)")
    p.add_argument("--memory-limit", type=size, help="fail an activation that grows memory past this, e.g. 512MiB")
    p.add_argument("--cpu-limit", type=_seconds, help="fail an activation that uses more CPU time, e.g. 10s")
    p.add_argument("--catch-up", choices=["skip", "once", "all"], help="schedules missed while down (default skip)")
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
    p = tree.subcommand("show", "plugins", cmd_show_plugins, help="list plugin files, versions and users")
    p.add_argument("--format", default="pretty", choices=FORMATS)
    p.add_argument("--output", help="write to this file")

    p = tree.subcommand("test", "wal_plugin", cmd_test_wal, help="dry-run a WAL plugin on line protocol")
    p.add_argument("filename", metavar="FILENAME")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--lp", help="line protocol text")
    src.add_argument("--file", help="local file of line protocol")
    p.add_argument("--input-arguments", type=_args_type)
    p.add_argument("--cache-name")
    p = tree.subcommand("test", "schedule_plugin", cmd_test_schedule, help="dry-run a schedule plugin")
    p.add_argument("filename", metavar="FILENAME")
    p.add_argument("--schedule", help="cron expression (6 fields; default '* * * * * *')")
    p.add_argument("--input-arguments", type=_args_type)
    p.add_argument("--cache-name")

    p = tree.subcommand("install", "package", cmd_install, help="pip install packages into the plugin environment")
    p.add_argument("packages", nargs="*", metavar="PACKAGE")
    p.add_argument("-r", "--requirements", help="requirements file path ON THE SERVER")


def _q(args: argparse.Namespace) -> dict[str, str]:
    return {"db": database_from(args), "trigger_name": args.name}


def _upload(client, local: Path, remote: str) -> str:
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


def _ms(v) -> str:
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
    _print_table(["database", "trigger", "spec", "plugin", "state", "runs", "errors", "p50", "p99"], table)
    return 0


def cmd_show_plugins(args: argparse.Namespace) -> int:
    client = client_from(args)
    rows = client.request("GET", "/api/v3/plugins").json()
    if args.format == "pretty":
        _print_table(
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


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print(line)
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print(line)


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


def _stream_lines(client, path: str, body: dict):
    """POST and yield the response line by line while the server is still writing it."""
    import urllib.error
    import urllib.request

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
