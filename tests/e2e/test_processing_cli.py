"""The processing-engine `pe` commands, run as subprocesses against a real `pe serve --plugin-dir`."""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from support.http import Http
from support.servers import build_wheel
from support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# The CLI is an HTTP client: what it shows and sends is the same wherever plugins run (both modes
# are covered by the HTTP and engine tests), so one mode here halves the file's time.
pytestmark = pytest.mark.thread_only("the CLI talks HTTP; plugin isolation is covered by the HTTP and engine tests")


def uid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def run_pe(srv, *args: str, auth: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """`pe ARGS --host <srv> [--token <admin>]` in a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PE_", "INFLUXDB3_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "pe_engine.cli", *args]
    if srv is not None:
        argv += ["--host", srv.url]
        if auth:
            argv += ["--token", srv.token]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def report_counts(http: Http, db: str) -> dict[str, int]:
    r = http.query(db, "SELECT table_name, SUM(row_count) AS n FROM write_reports GROUP BY table_name")
    return {x["table_name"]: x["n"] for x in r.json()} if r.status == 200 else {}


@pytest.fixture
def db(plugin_server) -> str:
    name = uid("cli")
    ok(run_pe(plugin_server, "create", "database", name))
    return name


@pytest.fixture
def http(plugin_server) -> Http:
    return Http(plugin_server.url, plugin_server.token)


REQUEST_PLUGIN = ("def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):\n"
                  "    return {{'answer': {answer!r}, 'args': args}}\n")


# --------------------------------------------------------------------- create / show / enable / disable / delete
def test_create_trigger_with_arguments_runs_the_plugin(plugin_server, http: Http, db: str):
    out = ok(run_pe(plugin_server, "create", "trigger", "-d", db, "--path", "wal_plugin.py",
                    "--trigger-spec", "all_tables",
                    "--trigger-arguments", "double_count_table=cpu,note=x=y", "reports"))
    assert out.strip() == "Trigger reports created successfully"
    out = ok(run_pe(plugin_server, "query", "-d", db, "--format", "json",
                    "SELECT argument_key, argument_value FROM system.processing_engine_trigger_arguments "
                    "WHERE trigger_name = 'reports' ORDER BY argument_key"))
    assert json.loads(out) == [{"argument_key": "double_count_table", "argument_value": "cpu"},
                               {"argument_key": "note", "argument_value": "x=y"}]  # split on the first '='
    ok(run_pe(plugin_server, "write", "-d", db, "cpu,host=a v=1", "cpu,host=b v=2", "mem,host=a used=1i"))
    counts = wait_until(lambda: (c := report_counts(http, db)) and c.get("cpu") == 4 and c.get("mem") == 1 and c,
                      what="reports written by the plugin")
    assert counts == {"cpu": 4, "mem": 1}

    # errors come back with the server's message and a nonzero exit
    p = run_pe(plugin_server, "create", "trigger", "-d", db, "--path", "wal_plugin.py", "--trigger-spec",
               "all_tables", "reports")
    assert p.returncode == 1 and "already exists" in p.stderr, p
    p = run_pe(plugin_server, "create", "trigger", "-d", db, "--path", "wal_plugin.py", "--trigger-spec",
               "whenever", "bad")
    assert p.returncode == 1 and "failed to parse trigger from whenever" in p.stderr, p
    p = run_pe(plugin_server, "create", "trigger", "-d", db, "--path", "wal_plugin.py", "--trigger-spec",
               "all_tables", "noauth", auth=False)
    assert p.returncode == 1 and "missing token" in p.stderr, p
    p = run_pe(plugin_server, "create", "trigger", "-d", db, "--path", "wal_plugin.py", "--trigger-spec",
               "all_tables", "--trigger-arguments", "novalue", "badargs")
    assert p.returncode != 0 and "novalue" in p.stderr, p


def test_show_disable_enable_delete(plugin_server, db: str):
    ok(run_pe(plugin_server, "create", "trigger", "-d", db, "--path", "wal_plugin.py", "--trigger-spec",
              "table:cpu", "--error-behavior", "Retry", "life"))

    def state() -> dict:
        out = ok(run_pe(plugin_server, "show", "triggers", "-d", db, "--format", "json"))
        return {t["trigger_name"]: t for t in json.loads(out)}

    pretty = ok(run_pe(plugin_server, "show", "triggers", "-d", db))
    line = next(row for row in pretty.splitlines() if " life " in row)
    assert "table:cpu" in line and "wal_plugin.py" in line and "enabled" in line
    t = state()["life"]
    assert t["state"] == "enabled" and t["trigger_settings"]["error_behavior"] == "retry"

    assert ok(run_pe(plugin_server, "disable", "trigger", "-d", db, "life")).strip() == \
        "Trigger life disabled successfully"
    assert state()["life"]["state"] == "disabled"
    ok(run_pe(plugin_server, "disable", "trigger", "-d", db, "life"))  # idempotent
    assert ok(run_pe(plugin_server, "enable", "trigger", "-d", db, "life")).strip() == \
        "Trigger life enabled successfully"
    assert state()["life"]["state"] == "enabled"

    p = run_pe(plugin_server, "delete", "trigger", "-d", db, "life")
    assert p.returncode == 1 and "force" in p.stderr, p
    assert "life" in state()
    assert ok(run_pe(plugin_server, "delete", "trigger", "-d", db, "--force", "life")).strip() == \
        "Trigger life deleted successfully"
    assert "life" not in state()
    p = run_pe(plugin_server, "enable", "trigger", "-d", db, "life")
    assert p.returncode == 1 and "not found" in p.stderr, p


# --------------------------------------------------------------------- upload / update / show plugins
def test_create_with_upload_then_update(plugin_server, http: Http, db: str, tmp_path: Path):
    path = uid("cliup")
    local = tmp_path / f"{path}.py"  # outside the server's plugin directory
    local.write_text(REQUEST_PLUGIN.format(answer="uploaded"))
    out = ok(run_pe(plugin_server, "create", "trigger", "-d", db, "--upload", "--path", str(local),
                    "--trigger-spec", f"request:{path}", "--trigger-arguments", "who=cli", "up"))
    assert out.strip() == "Trigger up created successfully"
    assert (Path(plugin_server.plugin_dir) / local.name).read_text() == local.read_text()
    assert http.request("GET", f"/api/v3/engine/{path}").json() == {"answer": "uploaded", "args": {"who": "cli"}}

    newer = tmp_path / "newer.py"
    newer.write_text(REQUEST_PLUGIN.format(answer="updated"))
    out = ok(run_pe(plugin_server, "update", "trigger", "-d", db, "--trigger-name", "up", "--path", str(newer)))
    assert out.strip() == "Trigger up updated successfully"
    assert http.request("GET", f"/api/v3/engine/{path}").json() == {"answer": "updated", "args": {"who": "cli"}}

    # a directory plugin: uploaded with --upload, replaced with update -p <dir>
    pkg = tmp_path / f"pkg_{path}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from .helper import answer\n\n"
        "def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):\n"
        "    return {'answer': answer()}\n")
    (pkg / "helper.py").write_text("def answer():\n    return 'package v1'\n")
    ok(run_pe(plugin_server, "create", "trigger", "-d", db, "--upload", "-p", str(pkg),
              "--trigger-spec", f"request:{path}_pkg", "pkg"))
    assert http.request("GET", f"/api/v3/engine/{path}_pkg").json() == {"answer": "package v1"}
    (pkg / "helper.py").write_text("def answer():\n    return 'package v2'\n")
    ok(run_pe(plugin_server, "update", "trigger", "-d", db, "-t", "pkg", "-p", str(pkg)))
    wait_until(lambda: http.request("GET", f"/api/v3/engine/{path}_pkg").json() == {"answer": "package v2"},
             timeout=10, what="the updated directory plugin")

    p = run_pe(plugin_server, "update", "trigger", "-d", db, "-t", "up", "-p", str(tmp_path / "missing.py"))
    assert p.returncode == 1 and "missing.py" in p.stderr, p

    # show plugins: pretty lists the files and who uses them; json is system.plugin_files
    pretty = ok(run_pe(plugin_server, "show", "plugins"))
    assert local.name in pretty and f"{db}/up" in pretty
    rows = json.loads(ok(run_pe(plugin_server, "show", "plugins", "--format", "json")))
    mine = sorted((r["plugin_name"], r["file_name"]) for r in rows if r["plugin_name"] in ("up", "pkg")
                  and path in r["file_name"])
    assert mine == [("pkg", f"pkg_{path}/__init__.py"), ("pkg", f"pkg_{path}/helper.py"), ("up", local.name)]
    assert {"plugin_name", "file_name", "file_path", "size_bytes", "last_modified"} <= set(rows[0])


# --------------------------------------------------------------------- plugin tests
def test_test_wal_plugin(plugin_server, db: str, tmp_path: Path):
    p = run_pe(plugin_server, "test", "wal_plugin", "-d", db, "--lp", "cpu,host=a v=1\ncpu,host=b v=2\nmem v=3",
               "--input-arguments", "double_count_table=mem", "wal_plugin.py")
    out = json.loads(ok(p))
    assert out["errors"] == []
    assert out["database_writes"] == {db: ["write_reports,table_name=cpu row_count=2i",
                                           "write_reports,table_name=mem row_count=2i"]}
    assert "INFO: wal_plugin.py done" in out["log_lines"]

    lp = tmp_path / "input.lp"
    lp.write_text("disk,dev=sda used=1i 1\n")
    out = json.loads(ok(run_pe(plugin_server, "test", "wal_plugin", "-d", db, "--file", str(lp), "wal_plugin.py")))
    assert out["database_writes"] == {db: ["write_reports,table_name=disk row_count=1i"]}

    p = run_pe(plugin_server, "test", "wal_plugin", "-d", db, "--lp", "cpu v=1", "raises.py")
    assert p.returncode == 1 and any("boom" in e for e in json.loads(p.stdout)["errors"]), p


def test_test_schedule_plugin(plugin_server, db: str):
    out = json.loads(ok(run_pe(plugin_server, "test", "schedule_plugin", "-d", db, "--schedule", "*/2 * * * * *",
                               "--input-arguments", "name=cli", "schedule_write.py")))
    assert out["errors"] == [] and out["database_writes"] == {db: ["ticks,trigger=cli n=1i"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d[02468]Z", out["trigger_time"]), out
    # default schedule (every second), and the 5-field crontab extension (seconds = 0)
    out = json.loads(ok(run_pe(plugin_server, "test", "schedule_plugin", "-d", db, "schedule_log.py")))
    assert out["errors"] == [] and out["trigger_time"].endswith("Z")
    out = json.loads(ok(run_pe(plugin_server, "test", "schedule_plugin", "-d", db, "--schedule", "* * * * *",
                               "schedule_log.py")))
    assert out["errors"] == [] and out["trigger_time"].endswith(":00Z"), out
    p = run_pe(plugin_server, "test", "schedule_plugin", "-d", db, "--schedule", "not a cron", "schedule_log.py")
    assert p.returncode == 1 and json.loads(p.stdout)["errors"], p


def test_create_trigger_help_mentions_5_field_cron():
    out = ok(run_pe(None, "create", "trigger", "--help"))
    assert "5 fields" in out and "classic crontab" in out
    assert "The 5-field form is a pe extension" in out
    assert "--trigger-arguments" in out and "--upload" in out


# --------------------------------------------------------------------- packages
def test_install_package(venv_plugin_server):
    srv = venv_plugin_server
    p = run_pe(srv, "install", "package", "pe-e2e-no-such-pkg")
    assert p.returncode != 0, p
    assert "No matching distribution found for pe-e2e-no-such-pkg" in p.stdout, p  # pip's own words
    assert p.stdout.rstrip().splitlines()[-1].startswith("pe: pip failed"), p.stdout

    # by name from the server's (offline) find-links directory into its --virtual-env-location venv
    build_wheel(Path(srv.dist), "pe_e2e_cli", "1.0", "installed by the cli")
    p = run_pe(srv, "install", "package", "pe_e2e_cli==1.0")
    out = ok(p)
    assert "Successfully installed pe_e2e_cli-1.0" in out.replace("pe-e2e-cli", "pe_e2e_cli") and \
        out.rstrip().endswith("pe: ok"), out
    db = uid("clipkg")
    ok(run_pe(srv, "create", "database", db))
    ok(run_pe(srv, "create", "trigger", "-d", db, "-p", "import_package.py", "--trigger-spec", "request:cli_pkg", "imp"))
    http = Http(srv.url, srv.token)
    r = http.request("GET", "/api/v3/engine/cli_pkg", {"module": "pe_e2e_cli"})
    assert r.status == 200 and r.json()["value"] == "installed by the cli", r.text

    p = run_pe(srv, "install", "package")
    assert p.returncode == 1 and "name packages" in p.stderr
