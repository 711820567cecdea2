"""The `pe` CLI against a real `pe serve` subprocess.

Most tests call `main(argv)` in-process (fast, output captured); a few run the
command as a subprocess where stdin, exit codes or the environment matter.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pe_engine import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pe(server, capsys, monkeypatch):
    """Run `pe ARGS` in-process against the shared server; returns (exit code, stdout, stderr)."""
    for name in ("PE_HOST", "PE_TOKEN", "PE_DATABASE", "INFLUXDB3_HOST_URL", "INFLUXDB3_AUTH_TOKEN",
                 "INFLUXDB3_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, auth: bool = True) -> tuple[int, str, str]:
        argv = list(args)
        if argv and argv[0] != "serve":
            argv += ["--host", server.url]
            if auth:
                argv += ["--token", server.token]
        code = cli.main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def run_pe(args: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PE_", "INFLUXDB3_"))}
    full_env.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "pe_engine.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=full_env)


# --------------------------------------------------------------------- write + query
def test_write_lines_then_query_every_format(pe, unique_db, tmp_path):
    code, _, err = pe("write", "-d", unique_db, "cpu,host=a v=1.5 1", "cpu,host=b v=2.5 2")
    assert code == 0 and "success" in err
    sql = "SELECT host, v FROM cpu ORDER BY host"

    code, out, _ = pe("query", "-d", unique_db, sql)
    assert code == 0 and "| host | v   |" in out and "| b    | 2.5 |" in out
    code, out, _ = pe("query", "-d", unique_db, "--format", "json", sql)
    assert json.loads(out) == [{"host": "a", "v": 1.5}, {"host": "b", "v": 2.5}]
    code, out, _ = pe("query", "-d", unique_db, "--format", "jsonl", sql)
    assert [json.loads(line) for line in out.splitlines()] == [{"host": "a", "v": 1.5}, {"host": "b", "v": 2.5}]
    code, out, _ = pe("query", "-d", unique_db, "--format", "csv", sql)
    assert out.splitlines() == ["host,v", "a,1.5", "b,2.5"]
    target = tmp_path / "out.parquet"
    code, out, _ = pe("query", "-d", unique_db, "--format", "parquet", "--output", str(target), sql)
    assert code == 0 and out == ""
    assert pq.read_table(target).column("v").to_pylist() == [1.5, 2.5]


def test_query_params(pe, unique_db):
    pe("write", "-d", unique_db, "cpu,host=a v=1 1", "cpu,host=b v=2 2")
    code, out, _ = pe("query", "-d", unique_db, "--format", "json", "--param", "h=b", "--param", "min=1",
                      "SELECT host FROM cpu WHERE host = $h AND v > $min")
    assert code == 0 and json.loads(out) == [{"host": "b"}]


def test_write_file(pe, unique_db, tmp_path):
    f = tmp_path / "data.lp"
    f.write_text("".join(f"mem,host=h{i % 4} used={i}i {i}\n" for i in range(1000)))
    code, _, err = pe("write", "-d", unique_db, "--precision", "ns", "--file", str(f))
    assert code == 0, err
    code, out, _ = pe("query", "-d", unique_db, "--format", "json", "SELECT count(*) AS n FROM mem")
    assert json.loads(out) == [{"n": 1000}]


def test_partial_write_reports_line_numbers_across_chunks(pe, unique_db, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "WRITE_CHUNK", 64)  # force several requests for one file
    lines = [f"cpu,host=h{i} v={i} {i}" for i in range(1, 21)]
    lines[6] = "cpu,host=bad v="  # line 7
    lines[16] = "garbage"  # line 17
    f = tmp_path / "bad.lp"
    f.write_text("\n".join(lines) + "\n")
    code, _, err = pe("write", "-d", unique_db, "--file", str(f))
    assert code == 1
    assert "partial write" in err and "line 7:" in err and "line 17:" in err and "garbage" in err
    code, out, _ = pe("query", "-d", unique_db, "--format", "json", "SELECT count(*) AS n FROM cpu")
    assert json.loads(out) == [{"n": 18}]


def test_no_accept_partial_writes_nothing(pe, unique_db):
    pe("write", "-d", unique_db, "cpu v=0 1")
    code, _, err = pe("write", "-d", unique_db, "--no-accept-partial", "cpu v=1 2", "cpu v=", "cpu v=3 3")
    assert code == 1 and "parsing failed" in err and "line 2:" in err
    code, out, _ = pe("query", "-d", unique_db, "--format", "json", "SELECT count(*) AS n FROM cpu")
    assert json.loads(out) == [{"n": 1}]


def test_write_from_stdin_with_env_settings(server, unique_db):
    env = {"PE_HOST": server.url, "PE_TOKEN": server.token, "PE_DATABASE": unique_db}
    r = run_pe(["write"], env=env, stdin="cpu,host=stdin v=9 1\n")
    assert r.returncode == 0, r.stderr
    env3 = {"INFLUXDB3_HOST_URL": server.url, "INFLUXDB3_AUTH_TOKEN": server.token,
            "INFLUXDB3_DATABASE_NAME": unique_db}
    r = run_pe(["query", "--format", "jsonl"], env=env3, stdin="SELECT host, v FROM cpu")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"host": "stdin", "v": 9.0}


# --------------------------------------------------------------------- databases
def test_database_commands(pe, unique_db):
    code, out, _ = pe("create", "database", unique_db)
    assert code == 0 and f'Database "{unique_db}" created successfully' in out
    code, _, err = pe("create", "database", unique_db)
    assert code == 1 and "already exists" in err
    code, out, _ = pe("show", "databases", "--format", "json")
    assert {"iox::database": unique_db} in json.loads(out)
    code, out, _ = pe("show", "databases")
    assert code == 0 and "iox::database" in out and unique_db in out
    code, out, _ = pe("delete", "database", unique_db, "-y")
    assert code == 0 and "deleted" in out
    code, _, err = pe("delete", "database", unique_db, "-y")
    assert code == 1 and f"database not found: {unique_db}" in err
    code, _, err = pe("create", "database", "bad name")
    assert code == 1 and "invalid database name" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_delete_asks_for_confirmation_on_a_terminal(pe, unique_db, monkeypatch):
    pe("create", "database", unique_db)
    monkeypatch.setattr(sys, "stdin", _Terminal("no\n"))
    code, out, err = pe("delete", "database", unique_db)
    assert code == 1 and "cancelled" in err
    assert unique_db in pe("show", "databases", "--format", "csv")[1]
    monkeypatch.setattr(sys, "stdin", _Terminal("yes\n"))
    code, out, _ = pe("delete", "database", unique_db)
    assert code == 0
    assert unique_db not in pe("show", "databases", "--format", "csv")[1]


# --------------------------------------------------------------------- errors
def test_server_errors_are_printed(pe, unique_db):
    code, _, err = pe("query", "-d", "no_such_db", "SELECT 1")
    assert code == 1 and err.strip() == "error: database not found: no_such_db"
    pe("write", "-d", unique_db, "cpu v=1 1")
    code, _, err = pe("query", "-d", unique_db, "SELEC nonsense")
    assert code == 1 and err.startswith("error: ")
    code, _, err = pe("show", "databases", auth=False)
    assert code == 1 and "missing token" in err
    code, _, err = pe("query", "SELECT 1")
    assert code == 1 and "no database" in err


def test_cannot_reach_server(free_port):
    r = run_pe(["show", "databases", "--host", f"http://127.0.0.1:{free_port}"])
    assert r.returncode == 1
    assert f"cannot reach pe at http://127.0.0.1:{free_port}: is `pe serve` running?" in r.stderr


def test_usage_errors():
    r = run_pe([])
    assert r.returncode == 2 and "serve" in r.stderr
    r = run_pe(["serve", "--wal-flush-interval", "soon"])
    assert r.returncode == 2 and "invalid duration" in r.stderr


# --------------------------------------------------------------------- pieces
@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("100ms", 0.1), ("1m", 60.0), ("0.5", 0.5),
                                           ("10ms", 0.01), ("2h", 7200.0)])
def test_duration(text, seconds):
    assert cli.duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, size", [("1048576", 1048576), ("64MiB", 64 << 20), ("512k", 512 << 10),
                                        ("1G", 1 << 30)])
def test_size(text, size):
    assert cli.size(text) == size


def test_serve_options_map_onto_engine_config(tmp_path):
    tree = cli.build_parser()
    args = tree.parser.parse_args(["serve", "--data-dir", str(tmp_path), "--http-bind", "0.0.0.0:9999",
                                   "--wal-flush-interval", "250ms", "--max-request-bytes", "2MiB",
                                   "--admin-token", "t0k", "--without-auth"])
    config = cli.config_from(args)
    assert config.data_dir == tmp_path and config.http_host_port == ("0.0.0.0", 9999)
    assert config.wal_flush_interval == 0.25 and config.max_request_bytes == 2 << 20
    assert config.admin_token == "t0k" and config.without_auth is True
    defaults = cli.config_from(tree.parser.parse_args(["serve"]))
    assert defaults.http_bind == "127.0.0.1:8181" and defaults.without_auth is False


def test_extensions_can_add_commands(monkeypatch, capsys):
    calls = []

    def register(tree: cli.CommandTree) -> None:
        p = tree.subcommand("show", "widgets", lambda args: calls.append(args.format) or 0, help="list widgets")
        p.add_argument("--format", default="pretty")

    monkeypatch.setattr(cli, "EXTENSIONS", [register])
    assert cli.main(["show", "widgets", "--format", "json"]) == 0
    assert calls == ["json"]
    tree = cli.build_parser()
    assert tree.get("show", "widgets") and tree.get("show", "databases")  # both nouns under one verb


def test_every_engine_config_field_is_an_option():
    """`pe serve`, `pe tui` and `pe-tui` build from one table; a new EngineConfig field needs a row."""
    from pe_engine.options import missing_fields

    assert missing_fields() == set()


def test_pe_tui_is_found_through_its_entry_point():
    """pe_engine never names pe_tui: `pe tui` comes from the installed `pe.commands` entry point."""
    from importlib.metadata import entry_points

    assert "pe_tui.cli:register" in {ep.value for ep in entry_points(group=cli.COMMAND_GROUP)}


def test_cli_starts_without_the_server_stack():
    """`pe write` and friends load neither aiohttp, Arrow, DataFusion nor Textual (only `pe serve` does)."""
    code = ("import sys\nfrom pe_engine import cli\ncli.build_parser(cli.discover_commands())\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'pyarrow', 'datafusion', 'textual'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
