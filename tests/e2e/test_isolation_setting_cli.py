"""`pe create trigger --isolation process` on a server whose default is thread: that trigger's
plugin runs in a worker process, the others stay in the server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.http import Http
from support.servers import ROOT, start_plugin_server
from support.waiting import wait_until

PID_PLUGIN = (
    "import os\n"
    "def process_writes(influxdb3_local, table_batches, args=None):\n"
    "    if any(b['table_name'] == 'cpu' for b in table_batches):\n"
    "        influxdb3_local.write(LineBuilder('pids').tag('trigger', args['name']).int64_field('pid', os.getpid()))\n"
)


def run_pe(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PE_", "INFLUXDB3_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "pe_engine.cli", *args, "--host", url], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)


def test_isolation_flag_moves_one_trigger_into_a_worker(tmp_path: Path) -> None:
    srv = start_plugin_server(tmp_path, None, ["--without-auth"])
    try:
        (srv.plugin_dir / "pid_plugin.py").write_text(PID_PLUGIN)
        server_pid = srv.proc.pid
        for name, extra in (("inproc", []), ("isolated", ["--isolation", "process"])):
            p = run_pe(srv.url, "create", "trigger", "-d", "db", "--path", "pid_plugin.py", "--trigger-spec",
                       "table:cpu", "--trigger-arguments", f"name={name}", *extra, name)
            if p.returncode != 0 and "not found" in p.stderr:  # the database comes with the first write
                Http(srv.url, None).write("db", "seed v=0 0")
                p = run_pe(srv.url, "create", "trigger", "-d", "db", "--path", "pid_plugin.py", "--trigger-spec",
                           "table:cpu", "--trigger-arguments", f"name={name}", *extra, name)
            assert p.returncode == 0, p.stderr
        http = Http(srv.url, None)
        listing = {t["trigger_name"] if "trigger_name" in t else t["name"]: t
                   for t in http.request("GET", "/api/v3/configure/processing_engine_trigger",
                                         {"db": "db"}).json()}
        assert "process" in json.dumps(listing["isolated"]) and "process" not in json.dumps(listing["inproc"])
        assert http.write("db", "cpu v=1 1").status < 300

        def pids() -> dict[str, int]:
            r = http.query("db", "SELECT trigger, pid FROM pids")
            return {x["trigger"]: x["pid"] for x in r.json()} if r.status == 200 else {}

        got = wait_until(lambda: len(p := pids()) == 2 and p, "both triggers wrote their pid", 30)
        assert got["inproc"] == server_pid
        assert got["isolated"] != server_pid
        with open(f"/proc/{got['isolated']}/stat") as f:  # a child of the server, alive in the pool
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == server_pid
        bad = run_pe(srv.url, "create", "trigger", "-d", "db", "--path", "pid_plugin.py", "--trigger-spec",
                     "table:cpu", "--isolation", "vm", "bad")
        assert bad.returncode != 0 and "invalid choice" in bad.stderr
    finally:
        srv.stop()
