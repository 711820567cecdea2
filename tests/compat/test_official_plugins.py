"""The official plugin library (influxdata/influxdb3_plugins) run UNCHANGED against a real `pe serve`,
once per plugin isolation mode (thread: InfluxDB's model; process: worker processes).

Each test installs a plugin the way its README does (trigger spec and documented trigger
arguments), feeds it data and checks the documented effect: rows written, values computed, HTTP
answers, alerts delivered. Alerts go where the plugins send them in production, over HTTP to the
same server: the official notifier on `request:notify...`, and from there to a webhook of ours
(tests/compat/plugins/compat_capture.py) that turns each request into a `captured` row.

Where the library comes from: `PE_OFFICIAL_PLUGINS` (a directory holding the exported tree), else
the read-only mirror at MIRROR (exported to a session temp dir). With neither, every test skips:
CI has no copy of the library, and none of its code is kept in this repository.

Third-party packages the plugins need (pandas, scipy, requests, httpx, psutil, pint, twilio, adtk,
and `influxdata-plugin-utils` built from the library's own source) go into a plugin venv handed to
the server with `--virtual-env-location`, never into the environment running the tests. Building
it takes a minute or more, so it is kept between runs under the system temp dir, keyed by the
requirements and the Python version (`PE_COMPAT_VENV` names another directory). A plugin whose
packages cannot be installed skips with the pip error.

Where a plugin's README and its code disagree, the tests follow the code (that is what InfluxDB
runs too) and say so: basic_transformation's `names_transformations=.*:"..."` (README example 2)
matches no column, and without `target_database` it writes to a database named "default";
threshold_deadman_checks compares scheduled thresholds as floats (`>= 30.0`) but write-trigger
ones as written (`> 30`). Times come back from `/api/v3/query_sql` formatted, so the tests select
`CAST(time AS BIGINT)` to compare nanoseconds.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from pe_engine.processing.enums import ActivationStatus
from support.http import Http
from support.servers import ServerProc, start_plugin_server

MIRROR = Path("/work/.mirror/influxdata+influxdb3_plugins/repo")
HERE = Path(__file__).resolve().parent
OUR_PLUGINS = HERE / "plugins"
NS = 1_000_000_000

# The plugin environment: what the plugins under test import (requirements.txt of each), with
# influxdata-plugin-utils from the library itself (so it matches the plugins next to it).
REQUIREMENTS = ("pandas<3", "numpy>=2", "scipy", "requests", "httpx", "psutil", "pint", "twilio", "adtk")
UTILS_DIR = "influxdata-plugin-utils"
PIP_TIMEOUT = 900
# Process mode: an alert is a chain of synchronous HTTP hops through this server (checker ->
# notifier -> webhook), each hop holding a worker while it waits for the next. The default pool
# of 4 serves them: the pool lends a worker while every busy one is waiting (workers.py); before
# that a webhook waited 18 s for a worker and the suite needed a pool of 8.

# plugin file (relative to the library root) -> its name in the server's plugin directory
PLUGIN_FILES = {
    "examples/wal_plugin/wal_plugin.py": "wal_plugin.py",
    "influxdata/basic_transformation/basic_transformation.py": "basic_transformation.py",
    "influxdata/downsampler/downsampler.py": "downsampler.py",
    "influxdata/threshold_deadman_checks/threshold_deadman_checks_plugin.py": "threshold_deadman_checks_plugin.py",
    "influxdata/mad_check/mad_check_plugin.py": "mad_check_plugin.py",
    "influxdata/gapfill/gapfill.py": "gapfill.py",
    "influxdata/notifier/notifier_plugin.py": "notifier_plugin.py",
    "influxdata/system_metrics/system_metrics.py": "system_metrics.py",
    "influxdata/stateless_adtk_detector/adtk_anomaly_detection_plugin.py": "adtk_anomaly_detection_plugin.py",
    "influxdata/state_change/state_change_check_plugin.py": "state_change_check_plugin.py",
    "influxdata/valuecounter/valuecounter.py": "valuecounter.py",
    "influxdata/schema_validator/schema_validator.py": "schema_validator.py",
    "influxdata/signal_generator/signal_generator.py": "signal_generator.py",
}


# ----------------------------------------------------------------------------- the library
def _export_mirror(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(MIRROR), "archive", "HEAD"], check=True, capture_output=True,
                             timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, capture_output=True, timeout=120)
    return dest


@pytest.fixture(scope="session")
def official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of the official plugin library, or a skip saying why there is none."""
    given = os.environ.get("PE_OFFICIAL_PLUGINS")
    if given:
        root = Path(given)
        if not (root / "examples" / "wal_plugin" / "wal_plugin.py").is_file():
            pytest.skip(f"PE_OFFICIAL_PLUGINS={given} does not hold the official plugin library")
        return root
    if MIRROR.exists() and shutil.which("git"):
        return _export_mirror(tmp_path_factory.mktemp("official-plugins"))
    pytest.skip("the official plugin library is not here: set PE_OFFICIAL_PLUGINS to an exported "
                f"influxdata/influxdb3_plugins tree (no mirror at {MIRROR}); expected on CI")


@pytest.fixture(scope="session")
def plugin_venv(official: Path) -> Path | str:
    """A venv holding the plugins' packages (kept between runs), or the pip error as a string."""
    utils = official / UTILS_DIR
    utils_hash = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(utils.rglob("*.py")))).hexdigest()[:12]
    key = hashlib.sha256(repr((REQUIREMENTS, utils_hash, sys.version_info[:2], sys.prefix)).encode()).hexdigest()[:16]
    venv = Path(os.environ.get("PE_COMPAT_VENV") or Path(tempfile.gettempdir()) / f"pe-compat-venv-{key}")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.with_name(venv.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers: one builds, the others wait for it
        if (venv / ".complete").exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a build that was interrupted
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
            pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *REQUIREMENTS,
                                  str(utils)], capture_output=True, text=True, timeout=PIP_TIMEOUT)
        except (subprocess.SubprocessError, OSError) as e:
            return f"could not build the plugin venv: {e}"
        if pip.returncode != 0:
            return f"pip could not install the plugins' packages:\n{pip.stderr[-3000:]}"
        (venv / ".complete").write_text("ok\n")
        return venv


@pytest.fixture(scope="session")
def _compat_servers(admin_token: str) -> Iterator[dict[str, ServerProc]]:
    servers: dict[str, ServerProc] = {}
    yield servers
    for srv in servers.values():
        srv.stop()


@pytest.fixture
def srv(_compat_servers: dict[str, ServerProc], plugin_isolation: str, official: Path, plugin_venv: Path | str,
        tmp_path_factory: pytest.TempPathFactory, admin_token: str) -> ServerProc:
    """One `pe serve` per isolation mode (auth on) with the official plugins in its plugin dir."""
    if isinstance(plugin_venv, str):
        pytest.skip(plugin_venv)
    server = _compat_servers.get(plugin_isolation)
    if server is None or server.proc.poll() is not None:
        base = tmp_path_factory.mktemp(f"compat-{plugin_isolation}")
        pdir = base / "plugins"
        pdir.mkdir()
        for src, name in PLUGIN_FILES.items():
            shutil.copy(official / src, pdir / name)
        for f in OUR_PLUGINS.glob("*.py"):
            shutil.copy(f, pdir / f.name)
        server = start_plugin_server(base, admin_token, ["--virtual-env-location", str(plugin_venv)],
                                     env={"PLUGIN_DIR": str(pdir), "PIP_NO_INDEX": "1"}, isolation=plugin_isolation)
        _compat_servers[plugin_isolation] = server
    return server


@pytest.fixture
def api(srv: ServerProc) -> "Api":
    return Api(srv)


# ----------------------------------------------------------------------------- helpers
def uid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


class Api:
    """The few calls these tests make, over the real HTTP API with the admin token."""

    def __init__(self, srv: ServerProc):
        self.srv = srv
        self.http = Http(srv.url, srv.token)
        self.port = int(srv.url.rsplit(":", 1)[1].rstrip("/"))

    def post_json(self, path: str, obj: Any, query: dict | None = None):
        return self.http.request("POST", path, query, json.dumps(obj), {"Content-Type": "application/json"})

    def create_db(self, db: str) -> str:
        r = self.post_json("/api/v3/configure/database", {"db": db})
        assert r.status in (200, 201, 204), r.text
        return db

    def trigger(self, db: str, name: str, plugin: str, spec: str, args: dict[str, str] | None = None,
                run_async: bool = False) -> str:
        body = {"db": db, "plugin_filename": plugin, "trigger_name": name, "trigger_specification": spec,
                "trigger_settings": {"run_async": run_async, "error_behavior": "log"},
                "trigger_arguments": args, "disabled": False}
        r = self.post_json("/api/v3/configure/processing_engine_trigger", body)
        assert r.status == 200, (r.status, r.text)
        return name

    def disable(self, db: str, name: str) -> None:
        r = self.http.request("POST", "/api/v3/configure/processing_engine_trigger/disable",
                              {"db": db, "trigger_name": name})
        assert r.status == 200, r.text

    def write(self, db: str, lp: str, precision: str = "nanosecond") -> None:
        r = self.http.write(db, lp, precision=precision)
        assert r.status in (200, 204), r.text

    def engine(self, path: str, body: Any = None, method: str = "POST", raw: bytes | None = None,
               timeout: float = 60.0):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        return self.http.request(method, f"/api/v3/engine/{path}", body=data,
                                 headers={"Content-Type": "application/json"}, timeout=timeout)

    def rows(self, db: str, sql: str) -> list[dict]:
        r = self.http.query(db, sql)
        if r.status != 200:
            # only: the table (or a column a plugin writes later) does not exist yet
            assert "not found" in r.text or "No field named" in r.text, (r.status, r.text, sql)
            return []
        return r.json()

    def poll_rows(self, db: str, sql: str, n: int = 1, timeout: float = 20.0,
                  why: Callable[[], str] | None = None) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.rows(db, sql)
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                extra = why() if why else ""
                raise AssertionError(f"{len(got)} of {n} rows after {timeout}s: {sql}\n{got}\n{extra}")
            time.sleep(0.05)

    def logs(self, db: str, trigger: str) -> list[str]:
        return [f"{r['log_level']}: {r['log_text']}" for r in self.rows(
            db, "SELECT log_level, log_text FROM system.processing_engine_logs "
                f"WHERE trigger_name = '{trigger}' ORDER BY event_time")]

    def activations(self, db: str, trigger: str) -> list[dict]:
        return self.rows(db, "SELECT status, error, rows_in, lines_out FROM system.processing_engine_activations "
                             f"WHERE trigger_name = '{trigger}' ORDER BY id")

    def explain(self, db: str, *triggers: str) -> Callable[[], str]:
        """For failure messages: the triggers' logs and activations, every activation of the
        database with its dispatch latency (a hop waiting for a worker shows there), the server log."""
        def why() -> str:
            server_log = "".join(self.srv.stderr_lines[-40:])
            acts = self.rows(db, "SELECT trigger_name, status, dispatch_latency_ms, run_time_ms, started_at "
                                 "FROM system.processing_engine_activations ORDER BY started_at")
            return "\n".join([*(f"--- {t}\nlogs: {self.logs(db, t)}\nactivations: {self.activations(db, t)}"
                                 for t in triggers), f"--- all activations of {db}: {acts}",
                              f"--- server log:\n{server_log}"])
        return why

    def wait_activations(self, db: str, trigger: str, n: int, timeout: float = 20.0) -> list[dict]:
        """The trigger's first `n` (or more) activations, once they have finished (pe records an
        activation when it ends)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.activations(db, trigger)
            if len(got) >= n:
                return got
            assert time.monotonic() < deadline, f"{trigger}: {len(got)} of {n} activations\n{self.explain(db, trigger)()}"
            time.sleep(0.05)

    def capture_hook(self, db: str, hook: str) -> str:
        """Our webhook at /api/v3/engine/<hook>: each request becomes a `captured` row in `db`."""
        self.trigger(db, hook, "compat_capture.py", f"request:{hook}", {"hook": hook})
        return f"http://127.0.0.1:{self.port}/api/v3/engine/{hook}"

    def auth_headers_b64(self) -> str:
        return base64.b64encode(json.dumps({"Authorization": f"Bearer {self.srv.token}"}).encode()).decode()

    def captured(self, db: str, hook: str, n: int = 1, timeout: float = 60.0,
                 why: Callable[[], str] | None = None) -> list[dict]:
        return self.poll_rows(db, f"SELECT body, content_type FROM captured WHERE hook = '{hook}' ORDER BY time",
                              n, timeout, why)


def now_ns() -> int:
    return time.time_ns()


def iso(ns: int) -> str:
    """An RFC 3339 UTC time, as the plugins' HTTP bodies take them."""
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).isoformat()


def without_time(rows: list[dict]) -> list[dict]:
    """Rows without the formatted `time` column (tests select `CAST(time AS BIGINT) AS time_ns`)."""
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def ok_activations(acts: list[dict]) -> None:
    """Every finished activation ended well (pe's own activation history; InfluxDB has none)."""
    assert acts, "no activation recorded"
    bad = [a for a in acts if a["status"] != ActivationStatus.OK]
    assert not bad, bad


def message_of(captured: dict) -> str:
    """The text the notifier's http sender posted: its JSON body is {"message": <notification_text>}."""
    body = json.loads(captured["body"])
    assert list(body) == ["message"], body
    return body["message"]


# ============================================================================= the plugins
def test_wal_plugin_counts_rows_per_table(api: Api) -> None:
    """examples/wal_plugin (all_tables): one write_reports row per table in a flush, the count of
    the `double_count_table` doubled; `write_reports` itself is never counted."""
    db = api.create_db(uid("walp"))
    trig = api.trigger(db, uid("wal"), "wal_plugin.py", "all_tables", {"double_count_table": "mem"})
    t = now_ns()
    api.write(db, f"cpu,host=a usage=1 {t}\ncpu,host=b usage=2 {t}\nmem,host=a used=3i {t}")
    # two calls: the flush of our write, then the flush of the plugin's own report, which it skips
    acts = api.wait_activations(db, trig, 2)
    assert [(a["status"], a["rows_in"], a["lines_out"]) for a in acts] == [("ok", 3, 2), ("ok", 2, 0)], acts
    got = api.rows(db, "SELECT table_name, row_count FROM write_reports ORDER BY table_name")
    assert got == [{"table_name": "cpu", "row_count": 2}, {"table_name": "mem", "row_count": 2}]
    assert api.logs(db, trig).count("INFO: wal_plugin.py done") == 2, api.logs(db, trig)


def test_basic_transformation_cleans_field_names_on_write(api: Api) -> None:
    """basic_transformation, README example 2 (all_tables): `"Room Temperature"=20.1` and
    `"__Humidity_%"=45.2` land in clean_sensors as room_temperature and humidity.

    The README's `names_transformations=.*:"..."` cannot work on any server: the plugin splits the
    argument on `.`, so the rule is keyed `*` and matches no column, and the untouched key
    "Room Temperature" then fails in LineBuilder (InvalidKeyError). Every column is reached the
    way its troubleshooting section says, through a `custom_regex` pattern (`%` = anything).
    Without `target_database` the plugin writes to a database named "default" (write_to_db
    "default"; its README says "current database"), so that is where the result is read."""
    db = api.create_db(uid("bt"))
    target = uid("clean_sensors")
    trig = api.trigger(db, uid("clean"), "basic_transformation.py", "all_tables", {
        "measurement": "raw_sensors", "target_measurement": target, "custom_regex": 'any:"%"',
        "names_transformations": 'any:"remove_special_chars snake collapse_underscore trim_underscore"'})
    t = now_ns()
    api.write(db, f'raw_sensors,device=sensor1 Room\\ Temperature=20.1,__Humidity_%=45.2 {t}')
    got = api.poll_rows("default", f"SELECT *, CAST(time AS BIGINT) AS time_ns FROM {target}", 1,
                        why=api.explain(db, trig))
    assert without_time(got) == [{"device": "sensor1", "room_temperature": 20.1, "humidity": 45.2, "time_ns": t}]
    acts = api.wait_activations(db, trig, 1)
    assert [(a["status"], a["rows_in"], a["lines_out"]) for a in acts] == [("ok", 1, 1)], acts


def test_basic_transformation_scheduled_converts_values(api: Api) -> None:
    """basic_transformation, scheduled (README's temp_converter): Celsius values in the window are
    converted to Fahrenheit and the field renamed to snake case."""
    db = api.create_db(uid("bts"))
    t = now_ns() - 60 * NS
    api.write(db, f"raw_temps,room=a Temperature=20.0 {t}\nraw_temps,room=b Temperature=100.0 {t}")
    trig = api.trigger(db, uid("conv"), "basic_transformation.py", "every:1s", {
        "measurement": "raw_temps", "window": "1h", "target_measurement": "temps_fahrenheit",
        "target_database": db, "names_transformations": 'Temperature:"snake"',
        "values_transformations": 'Temperature:"convert_degC_to_degF"'})
    got = api.poll_rows(db, "SELECT *, CAST(time AS BIGINT) AS time_ns FROM temps_fahrenheit ORDER BY room", 2,
                        why=api.explain(db, trig))
    api.disable(db, trig)
    # values are converted under the source names, then the names change; each point keeps its time
    assert without_time(got) == [{"room": "a", "temperature": pytest.approx(68.0), "time_ns": t},
                                 {"room": "b", "temperature": pytest.approx(212.0), "time_ns": t}], got


def test_downsampler_scheduled(api: Api) -> None:
    """downsampler, scheduled (README: cpu -> cpu_hourly, calculations=avg, specific_fields): one
    averaged row per interval and tag set, with the count of the points it stands for."""
    db = api.create_db(uid("ds"))
    base = (now_ns() // (600 * NS) - 2) * 600 * NS  # the start of a 10-minute bucket 20-30 minutes ago
    lines = [f"cpu,host=h1 usage_user={u},usage_system={s},usage_idle=1 {base + i * 60 * NS}"
             for i, (u, s) in enumerate([(10.0, 1.0), (20.0, 3.0), (30.0, 5.0)])]
    api.write(db, "\n".join(lines))
    trig = api.trigger(db, uid("down"), "downsampler.py", "every:1s", {
        "source_measurement": "cpu", "target_measurement": "cpu_10m", "interval": "10min", "window": "1h",
        "calculations": "avg", "specific_fields": "usage_user.usage_system", "target_database": db})
    got = api.poll_rows(db, "SELECT *, CAST(time AS BIGINT) AS time_ns FROM cpu_10m", 1, why=api.explain(db, trig))
    api.disable(db, trig)
    # README: <field>_<agg> per chosen field, record_count, time_from/time_to (the first and last
    # source times, written as integer fields), at the start of the DATE_BIN bucket
    assert without_time(got) == [{"host": "h1", "usage_user_avg": 20.0, "usage_system_avg": 3.0, "record_count": 3,
                                  "time_from": base, "time_to": base + 120 * NS, "time_ns": base}]


def test_downsampler_http_backfill(api: Api) -> None:
    """downsampler, request trigger: a JSON body with field:aggregation pairs backfills the target."""
    db = api.create_db(uid("dsh"))
    base = (now_ns() // (3600 * NS) - 3) * 3600 * NS
    api.write(db, "\n".join(f"env,site=s temp={v},hum={v * 2} {base + i * 600 * NS}"
                            for i, v in enumerate([1.0, 2.0, 3.0, 6.0])))
    path = uid("downsample")
    trig = api.trigger(db, path, "downsampler.py", f"request:{path}")
    r = api.engine(path, {"source_measurement": "env", "target_measurement": "env_1h", "interval": "1h",
                          "calculations": [["temp", "max"], ["hum", "avg"]], "target_database": db,
                          "backfill_start": iso(base - 3600 * NS), "backfill_end": iso(base + 3 * 3600 * NS)})
    assert r.status == 200, (r.status, r.text, api.explain(db, trig)())
    assert re.fullmatch(r"\[[0-9a-f-]{36}\] Downsampling completed from 'env' to 'env_1h'", r.json()["message"]), r.text
    got = api.poll_rows(db, "SELECT *, CAST(time AS BIGINT) AS time_ns FROM env_1h", 1, why=api.explain(db, trig))
    # the four points fall in one 1h bucket: max(temp) = 6, avg(hum) = avg(2, 4, 6, 12) = 6
    assert without_time(got) == [{"site": "s", "temp_max": 6.0, "hum_avg": 6.0, "record_count": 4, "time_from": base,
                                  "time_to": base + 1800 * NS, "time_ns": base}], got


def test_notifier_answers_and_delivers_over_http(api: Api) -> None:
    """notifier (request:notify): bad JSON and missing fields get its documented answers; an
    `http` sender posts the text to the webhook (here ours, on the same server, with auth)."""
    db = api.create_db(uid("nt"))
    notify = uid("notify")
    api.trigger(db, notify, "notifier_plugin.py", f"request:{notify}")
    hook = uid("hook")
    url = api.capture_hook(db, hook)
    r = api.engine(notify, raw=b"{not json")
    assert r.status == 200 and r.json() == {"status": "failed", "message": "Invalid JSON in request body."}, r.text
    r = api.engine(notify, {"notification_text": "x"})
    assert r.status == 200 and r.json() == {
        "status": "failed", "message": "Missing required fields: 'senders_config' or 'notification_text'."}, r.text
    r = api.engine(notify, method="GET")  # no body
    assert r.status == 200 and r.json() == {"status": "failed", "message": "No request body provided."}, r.text
    r = api.engine(notify, {"notification_text": "disk almost full",
                            "senders_config": {"http": {"http_webhook_url": url,
                                                        "http_headers": api.auth_headers_b64()},
                                               "pager": {}}})
    assert r.status == 200, r.text
    assert r.json() == {"status": "success", "message": "Request processed",
                        "results": {"http": True, "pager": "Invalid sender"}}, (r.json(), api.explain(db, notify)())
    got = api.captured(db, hook)
    assert [message_of(g) for g in got] == ["disk almost full"]
    assert got[0]["content_type"] == "application/json"


def test_threshold_deadman_wal_alerts_through_notifier(api: Api) -> None:
    """threshold_deadman_checks (all_tables, field_conditions): a row past the threshold sends an
    alert to the notifier's request endpoint on this server (port_override, token), which sends it
    to the http webhook."""
    db = api.create_db(uid("thr"))
    notify = uid("notify")
    api.trigger(db, notify, "notifier_plugin.py", f"request:{notify}")
    hook = uid("hook")
    url = api.capture_hook(db, hook)
    trig = api.trigger(db, uid("thw"), "threshold_deadman_checks_plugin.py", "all_tables", {
        "measurement": "cpu", "field_conditions": "temp>30-WARN", "senders": "http", "trigger_count": "1",
        "http_webhook_url": url, "http_headers": api.auth_headers_b64(), "notification_path": notify,
        "port_override": str(api.port), "influxdb3_auth_token": api.srv.token,
        "notification_text": "[$level] $field $op_sym $compare_val matched $trigger_count times ($actual) in $row"})
    api.write(db, f"cpu,host=a temp=20 {now_ns()}")
    api.wait_activations(db, trig, 1)
    api.write(db, f"cpu,host=b temp=42.5 {now_ns()}")
    got = api.captured(db, hook, why=api.explain(db, trig, notify))
    # $row is measurement:field:level plus the row's tags; the alert goes out while the plugin
    # runs, so host=a (the first, quiet flush) would have been captured before it
    # at least once: a hop slower than the plugins' own timeouts (requests 5 s, httpx 10 s) is
    # retried, and the first try may still arrive (process mode: see the module docstring)
    assert {message_of(g) for g in got} == {"[WARN] temp > 30 matched 1 times (42.5) in cpu:temp:WARN:host=b"}, \
        api.explain(db, trig, notify, hook)()
    ok_activations(api.wait_activations(db, trig, 2, timeout=60))


def test_threshold_deadman_scheduled_deadman_and_threshold(api: Api) -> None:
    """threshold_deadman_checks, scheduled: an avg over a DATE_BIN bin past its threshold alerts
    with the default threshold text, and a measurement with no data in the window raises the
    deadman alert, whose text carries the window [call_time - window, call_time]."""
    db = api.create_db(uid("ths"))
    notify = uid("notify")
    api.trigger(db, notify, "notifier_plugin.py", f"request:{notify}")
    common = {"senders": "http", "http_headers": api.auth_headers_b64(), "notification_path": notify,
              "port_override": str(api.port), "influxdb3_auth_token": api.srv.token, "trigger_count": "1"}
    bin_start = (now_ns() // (300 * NS) - 1) * 300 * NS  # the previous 5-minute bin (interval's default)
    api.write(db, f"cpu,host=a temp=35 {bin_start + 60 * NS}\ncpu,host=a temp=45 {bin_start + 120 * NS}")
    hook = uid("hook")
    thr = api.trigger(db, uid("ths"), "threshold_deadman_checks_plugin.py", "every:1s", {
        **common, "http_webhook_url": api.capture_hook(db, hook), "measurement": "cpu", "window": "1h",
        "field_aggregation_values": "temp:avg@>=30-ERROR"})
    got = api.captured(db, hook, why=api.explain(db, thr, notify))
    api.disable(db, thr)
    # the scheduled conditions take the threshold as a float (the write conditions keep an int)
    assert message_of(got[0]) == ("[ERROR] Threshold Alert on table cpu: avg of temp >= 30.0 (actual: 40.0) "
                                  "\u2014 matched in row cpu:temp:avg:ERROR:host=a."), got

    api.write(db, f"heartbeat,host=a alive=1i {now_ns() - 3600 * NS}")
    hook = uid("hook")
    dead = api.trigger(db, uid("dead"), "threshold_deadman_checks_plugin.py", "every:1s", {
        **common, "http_webhook_url": api.capture_hook(db, hook), "measurement": "heartbeat",
        "deadman_check": "true", "window": "5min"})
    got = api.captured(db, hook, why=api.explain(db, dead, notify))
    api.disable(db, dead)
    m = re.fullmatch(r"Deadman Alert: No data received from heartbeat from (.+) to (.+)\.", message_of(got[0]))
    assert m, got
    time_from, time_to = (datetime.fromisoformat(x) for x in m.groups())
    # call_time is the scheduled second, read by the plugin as UTC
    assert time_to - time_from == timedelta(minutes=5) and time_to.microsecond == 0, m.groups()
    assert time_to.utcoffset() == timedelta(0)
    assert abs(time_to.timestamp() - time.time()) < 60, m.groups()


def test_mad_check_alerts_on_outlier(api: Api) -> None:
    """mad_check (all_tables, mad_thresholds=field:k:window_count:threshold_count): after a steady
    window, an outlier sends the count alert through the notifier. Its per-series windows live in
    the trigger cache across calls, so this also checks what process isolation keeps there."""
    db = api.create_db(uid("mad"))
    notify = uid("notify")
    api.trigger(db, notify, "notifier_plugin.py", f"request:{notify}")
    hook = uid("hook")
    url = api.capture_hook(db, hook)
    trig = api.trigger(db, uid("madc"), "mad_check_plugin.py", "all_tables", {
        "measurement": "environment", "mad_thresholds": "temperature:2.5:5:1", "senders": "http",
        "http_webhook_url": url, "http_headers": api.auth_headers_b64(), "notification_path": notify,
        "port_override": str(api.port), "influxdb3_auth_token": api.srv.token})
    t = now_ns()
    for i, v in enumerate([20.0, 20.5, 19.5, 20.2, 19.8, 20.1]):  # one point per flush: the windows fill in the cache
        api.write(db, f"environment,room=r1 temperature={v} {t + i * NS}")
        api.wait_activations(db, trig, i + 1)
    time.sleep(0.3)
    assert api.rows(db, f"SELECT body FROM captured WHERE hook = '{hook}'") == []
    api.write(db, f"environment,room=r1 temperature=95.0 {t + 10 * NS}")
    got = api.captured(db, hook, why=api.explain(db, trig, notify))
    # the window is then [19.5, 20.2, 19.8, 20.1, 95]: median 20.1, MAD 0.3, bounds 20.1 ± 0.75
    assert {message_of(g) for g in got} == {  # at least once, as in the threshold test
        "MAD count alert: Field temperature in environment outlier for 1 consecutive points. Tags: room=r1"}
    assert got[0]["content_type"] == "application/json"
    ok_activations(api.activations(db, trig))


def test_gapfill_http_backfill_fills_linear(api: Api) -> None:
    """gapfill, request trigger (README's backfill): missing points on the interval grid between two
    real ones are written, linearly interpolated."""
    db = api.create_db(uid("gf"))
    base = (now_ns() // (60 * NS) - 30) * 60 * NS
    api.write(db, f"signal,dev=d1 value=0.0 {base}\nsignal,dev=d1 value=40.0 {base + 40 * NS}")
    path = uid("gapfill")
    trig = api.trigger(db, path, "gapfill.py", f"request:{path}")
    r = api.engine(path, {"source_measurement": "signal", "target_measurement": "signal_filled", "interval": "10s",
                          "method": "linear", "backfill_start": iso(base), "backfill_end": iso(base + 41 * NS)})
    assert r.status == 200, (r.status, r.text, api.explain(db, trig)())
    answer = r.json()
    assert re.fullmatch(r"[0-9a-f-]{36}", answer.pop("task_id", "")), r.text
    # one gap (40s > 1.5 x 10s) between the two points, three grid points filled
    assert answer == {"status": "ok", "batches": 1, "rows_scanned": 2, "gaps_filled": 1, "gaps_skipped": 0,
                      "fills_written": 3, "rows_copied": 2}, r.text
    # chain mode: the target holds the whole series, the real points and the fills between them
    got = api.poll_rows(db, "SELECT dev, value, CAST(time AS BIGINT) AS time_ns FROM signal_filled ORDER BY time", 5,
                        why=api.explain(db, trig))
    assert got == [{"dev": "d1", "value": pytest.approx(k * 10.0), "time_ns": base + k * 10 * NS} for k in range(5)]


def test_system_metrics_scheduled(api: Api) -> None:
    """system_metrics (every:1s, hostname=...): CPU and memory rows tagged with the host name."""
    db = api.create_db(uid("sm"))
    trig = api.trigger(db, uid("sysm"), "system_metrics.py", "every:1s",
                       {"hostname": "web-server-01", "include_disk": "false", "include_network": "false"})
    # CPU percentages need the previous run's sample (kept in the trigger cache): from the 2nd run on
    cpu = api.poll_rows(db, "SELECT * FROM system_cpu WHERE \"user\" IS NOT NULL", 1, why=api.explain(db, trig))
    mem = api.poll_rows(db, "SELECT * FROM system_memory", 1, why=api.explain(db, trig))
    api.disable(db, trig)
    assert (cpu[0]["host"], cpu[0]["cpu"]) == ("web-server-01", "total"), cpu[0]
    assert 0.0 <= cpu[0]["user"] <= 100.0, cpu[0]
    assert mem[0]["host"] == "web-server-01", mem[0]
    assert mem[0]["total"] == _mem_total(), mem[0]  # the plugin runs on this machine
    tables = {r["table_name"] for r in api.rows(db, "SHOW TABLES") if r["table_schema"] == "iox"}
    assert tables >= {"system_cpu", "system_memory"}, tables
    assert not tables & {"system_disk_usage", "system_disk_io", "system_disk_performance", "system_network"}, tables
    ok_activations(api.activations(db, trig))


def _mem_total() -> int:
    """MemTotal of /proc/meminfo in bytes, what psutil reports as virtual_memory().total."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")
