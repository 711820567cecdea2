"""Start and stop the systems the benchmarks talk to, all on loopback, all in temp dirs.

    start_influxdb1(tmpdir) -> Peer   InfluxDB 1.x (`influxd`), database `bench` created
    start_pe(tmpdir, extra_args=()) -> Peer   `python -m pe_engine.cli serve`
    start_postgres(tmpdir) -> Peer   PostgreSQL 15 (initdb + pg_ctl), fsync=on
    start_victoria_metrics(tmpdir) -> Peer   VictoriaMetrics single node (`/write` = line protocol)
    create_plpython3u(peer)          CREATE EXTENSION plpython3u in the peer's database

Every started peer is registered; it is stopped on Peer.stop(), at interpreter exit
(atexit), on SIGTERM/SIGHUP (turned into SystemExit so `finally` blocks run) and on
Ctrl-C (KeyboardInterrupt unwinds the same way). Children run in their own session
so a Ctrl-C in the terminal reaches only us, and (on Linux) get SIGTERM if we die.

Prerequisites (not on a fresh CI machine):
    apt-get install -y influxdb wrk postgresql-15 postgresql-plpython3-15
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APT_HINT = "apt-get install -y influxdb victoria-metrics wrk postgresql-15 postgresql-plpython3-15"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
LOOPBACK = "127.0.0.1"


class PeerError(RuntimeError):
    pass


def _log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- cleanup
_live: list["Peer"] = []
_live_lock = threading.Lock()
_tmpdirs: list[Path] = []
_handlers_installed = False


def _stop_all() -> None:
    with _live_lock:
        peers = list(reversed(_live))
    for p in peers:
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            _log(f"stopping {p.name} failed: {e}")
    for d in reversed(_tmpdirs):
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


def stop_peers_under(path) -> None:
    """Stop every live peer whose files are under ``path``."""
    root = Path(path).resolve()
    with _live_lock:
        peers = [p for p in _live if root == Path(p.tmpdir).resolve() or root in Path(p.tmpdir).resolve().parents]
    for p in reversed(peers):
        p.stop()


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def _install_cleanup() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


def make_tmpdir(prefix: str = "pe-bench-") -> Path:
    """A temp dir removed at exit (after the peers in it are stopped)."""
    _install_cleanup()
    d = Path(tempfile.mkdtemp(prefix=prefix))
    _tmpdirs.append(d)
    return d


def _die_with_parent() -> None:
    """preexec_fn: new session (Ctrl-C goes to us only) + SIGTERM when our thread dies."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def require_binary(path_or_name: str, what: str) -> str:
    found = shutil.which(path_or_name) if os.sep not in path_or_name else (
        path_or_name if os.access(path_or_name, os.X_OK) else None
    )
    if not found:
        raise PeerError(f"{what} not found ({path_or_name}). Install the benchmark prerequisites with:\n    {APT_HINT}")
    return found


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30.0,
         headers: dict | None = None) -> tuple[int, dict, bytes]:
    """Tiny urllib wrapper: (status, headers, body) for any status, loopback only."""
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise PeerError(f"refusing non-loopback URL {url}")
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers or {}), e.read()


def _tail(path: Path, n: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-n:].decode(errors="replace")


@dataclass
class Peer:
    name: str
    proc: subprocess.Popen | None
    host: str
    port: int
    tmpdir: Path
    log_path: Path | None = None
    version: str = ""
    info: dict = field(default_factory=dict)
    _stop_fn: object = None
    _stopped: bool = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else self.info.get("pid")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._stop_fn is not None:
                self._stop_fn(self)
            elif self.proc is not None:
                _terminate(self.proc)
        finally:
            with _live_lock:
                if self in _live:
                    _live.remove(self)

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # Postgres convenience (set up by start_postgres)
    def psql(self, sql: str, db: str | None = None, timeout: float = 120.0) -> str:
        if "psql" not in self.info:
            raise PeerError(f"{self.name} is not a postgres peer")
        cmd = [
            self.info["psql"], "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", self.host, "-p", str(self.port), "-U", self.info["user"],
            "-d", db or self.info["dbname"], "-c", sql,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise PeerError(f"psql failed ({r.returncode}): {r.stderr.strip()}\nSQL: {sql[:500]}")
        return r.stdout.strip()


def _register(peer: Peer) -> Peer:
    _install_cleanup()
    with _live_lock:
        _live.append(peer)
    return peer


def _terminate(proc: subprocess.Popen, grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _spawn(cmd: list[str], log_path: Path, **kw) -> subprocess.Popen:
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent, **kw)
    finally:
        log.close()  # the child holds its own copy


# --------------------------------------------------------------------------- InfluxDB 1.x
INFLUXD = "/usr/bin/influxd"

_INFLUX_CONF = """\
# Generated by benchmarks/peers.py for a benchmark run; everything under {tmp}.
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{tmp}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{tmp}/data"
  wal-dir = "{tmp}/wal"
  # 0s = fsync the WAL on every write before answering (InfluxDB's default, kept on purpose)
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0
  trace-logging-enabled = false

[coordinator]
  write-timeout = "30s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
  max-body-size = 0
  max-connection-limit = 0
  max-concurrent-write-limit = 0
  max-enqueued-write-limit = 0

[logging]
  level = "warn"
  suppress-logo = true

[ifql]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
"""


def influxd_version(binary: str = INFLUXD) -> str:
    r = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30)
    return (r.stdout or r.stderr).strip()


def start_influxdb1(tmpdir, database: str = "bench", ready_timeout: float = 60.0) -> Peer:
    """influxd 1.x on 127.0.0.1:<free port>, own config, WAL fsync on every write."""
    binary = require_binary(INFLUXD, "InfluxDB 1.x (influxd)")
    tmp = Path(tmpdir) / "influxdb1"
    tmp.mkdir(parents=True, exist_ok=True)
    http_port, rpc_port = free_port(), free_port()
    conf = tmp / "influxdb.conf"
    conf.write_text(_INFLUX_CONF.format(tmp=tmp, http_port=http_port, rpc_port=rpc_port))
    version = influxd_version(binary)
    log_path = tmp / "influxd.log"
    env = dict(os.environ, INFLUXDB_CONFIG_PATH=str(conf))
    proc = _spawn([binary, "run", "-config", str(conf)], log_path, env=env, cwd=tmp)
    peer = _register(Peer("influxdb1", proc, LOOPBACK, http_port, tmp, log_path, version,
                          {"config": str(conf), "database": database, "wal_fsync_delay": "0s"}))
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise PeerError(f"influxd exited with {proc.returncode} during startup:\n{_tail(log_path)}")
            try:
                status, headers, _ = http("GET", peer.base_url + "/ping", timeout=2)
                if status == 204:
                    peer.info["server_version"] = headers.get("X-Influxdb-Version", "")
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PeerError(f"influxd did not answer /ping within {ready_timeout:.0f}s:\n{_tail(log_path)}")
            time.sleep(0.1)
        q = urllib.parse.urlencode({"q": f'CREATE DATABASE "{database}"'})
        status, _, body = http("POST", f"{peer.base_url}/query?{q}", b"")
        if status != 200 or b'"error"' in body:
            raise PeerError(f"CREATE DATABASE failed: {status} {body[:500]!r}")
    except BaseException:
        peer.stop()
        raise
    _log(f"influxd {peer.info.get('server_version') or version} on {peer.base_url} "
         f"(WAL fsync on every write: wal-fsync-delay=0s; data in {tmp})")
    return peer


# --------------------------------------------------------------------------- pe
PE_READY = "pe serving on http://"


def pe_version(root=None) -> str:
    """pe_engine.__version__ read from the source (no import: keeps DataFusion etc. out of us)."""
    import re
    try:
        text = (Path(root or REPO_ROOT) / "pe_engine" / "__init__.py").read_text()
    except OSError:
        return ""
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)', text, re.M)
    return m.group(1) if m else ""


def start_pe(tmpdir, extra_args=(), ready_timeout: float = 60.0, python: str | None = None,
             wrap: list[str] | None = None, repo_root=None) -> Peer:
    """`python -m pe_engine.cli serve` on 127.0.0.1:<free port>, waiting for its ready line.

    extra_args go after the defaults; `--wal-flush-interval 1s` is added unless given.
    wrap: a command prefix (e.g. a profiler) to run pe under.
    repo_root: run the pe_engine of another checkout (e.g. a `git worktree` of an older
    commit): it becomes the child's cwd and first PYTHONPATH entry."""
    root = Path(repo_root) if repo_root else REPO_ROOT
    tmp = Path(tmpdir) / "pe"
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    extra = list(extra_args)
    cmd = [python or sys.executable, "-m", "pe_engine.cli", "serve", "--data-dir", str(data),
           "--http-bind", f"{LOOPBACK}:{port}", "--without-auth"]
    if not any(a == "--wal-flush-interval" or a.startswith("--wal-flush-interval=") for a in extra):
        cmd += ["--wal-flush-interval", "1s"]
    cmd += extra
    if wrap:
        cmd = list(wrap) + cmd
    log_path = tmp / "pe-serve.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc = _spawn(cmd, log_path, env=env, cwd=root)
    peer = _register(Peer("pe", proc, LOOPBACK, port, tmp, log_path, "",
                          {"cmd": cmd, "data_dir": str(data), "repo_root": str(root)}))
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            text = _tail(log_path, 1 << 20)
            if PE_READY in text:
                line = next(ln for ln in text.splitlines() if PE_READY in ln)
                peer.info["ready_line"] = line.strip()
                break
            if proc.poll() is not None:
                raise PeerError(f"pe serve exited with {proc.returncode} before printing '{PE_READY}...'\n"
                                f"command: {' '.join(cmd)}\nstderr:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise PeerError(f"pe serve did not print '{PE_READY}...' within {ready_timeout:.0f}s\n"
                                f"command: {' '.join(cmd)}\nstderr:\n{_tail(log_path)}")
            time.sleep(0.1)
        peer.version = pe_version(root)
    except BaseException:
        peer.stop()
        raise
    _log(f"pe {peer.version} on {peer.base_url} ({peer.info['ready_line']}); args: {' '.join(cmd[cmd.index('serve'):])}")
    return peer


# --------------------------------------------------------------------------- PostgreSQL
def _pg_bin(name: str) -> str:
    p = PG_BIN / name
    if not os.access(p, os.X_OK):
        raise PeerError(f"{p} not found. Install the benchmark prerequisites with:\n    {APT_HINT}")
    return str(p)


def start_postgres(tmpdir, ready_timeout: float = 60.0) -> Peer:
    """PostgreSQL 15 in tmpdir, 127.0.0.1:<free port> only, socket dir in tmpdir, fsync=on.

    As root, initdb/postgres run as the `postgres` user (via runuser) in a dir chowned to it.
    Connection info in peer.info: host, port, user, dbname, psql (binary), dsn."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    psql = shutil.which("psql") or _pg_bin("psql")
    tmp = Path(tmpdir) / "postgres"
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir(parents=True, exist_ok=True)
    log_path = tmp / "postgres.log"
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PeerError(f"running as root but there is no 'postgres' user; install with:\n    {APT_HINT}") from None
        require_binary("runuser", "runuser (util-linux)")
        user = "postgres"
        # postgres must be able to reach tmp: make the parents traversable (not listable).
        for parent in [Path(tmpdir), *Path(tmpdir).parents]:
            try:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o011)
            except OSError:
                pass
            if parent == Path(tempfile.gettempdir()):
                break
        for p in (tmp, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        log_path.touch()
        os.chown(log_path, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
        prefix = []

    def run(cmd, timeout=120):
        r = subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=tmp)
        if r.returncode != 0:
            raise PeerError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        return r.stdout

    run([initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
    port = free_port()
    with open(data / "postgresql.conf", "a") as f:
        f.write(
            "\n# benchmarks/peers.py\n"
            f"listen_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = '{sock}'\n"
            "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n"
            "max_connections = 50\n"
        )
    version = run([_pg_bin("postgres"), "--version"]).strip()
    peer = Peer("postgres", None, LOOPBACK, port, tmp, log_path, version,
                {"user": user, "dbname": "postgres", "psql": psql, "data": str(data), "socket_dir": str(sock),
                 "dsn": f"host=127.0.0.1 port={port} user={user} dbname=postgres"})

    def stop(p: Peer) -> None:
        try:
            run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"], timeout=60)
        except Exception:
            try:
                run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"], timeout=60)
            except Exception as e:
                _log(f"postgres stop failed: {e}")

    peer._stop_fn = stop
    _register(peer)
    try:
        run([pg_ctl, "-D", str(data), "-l", str(log_path), "-w", "-t", str(int(ready_timeout)), "start"],
            timeout=ready_timeout + 30)
        pid_file = data / "postmaster.pid"
        if pid_file.exists():
            peer.info["pid"] = int(pid_file.read_text().split()[0])
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if peer.psql("SELECT 1") == "1":
                    break
            except (PeerError, subprocess.TimeoutExpired) as e:
                if time.monotonic() > deadline:
                    raise PeerError(f"postgres not ready within {ready_timeout:.0f}s: {e}\n{_tail(log_path)}")
            time.sleep(0.2)
        peer.info["fsync"] = peer.psql("SHOW fsync")
    except BaseException:
        peer.stop()
        raise
    _log(f"{version} on {peer.base_url.replace('http', 'postgres')} as {user} (fsync={peer.info['fsync']}; data in {data})")
    return peer


def create_plpython3u(peer: Peer, db: str | None = None) -> str:
    """CREATE EXTENSION plpython3u; returns the Python version PL/Python runs."""
    try:
        peer.psql("CREATE EXTENSION IF NOT EXISTS plpython3u", db=db)
    except PeerError as e:
        raise PeerError(f"{e}\nPL/Python needs: {APT_HINT}") from None
    peer.psql("CREATE OR REPLACE FUNCTION pe_bench_pyver() RETURNS text AS "
              "$$ import sys; return sys.version.split()[0] $$ LANGUAGE plpython3u", db=db)
    return peer.psql("SELECT pe_bench_pyver()", db=db)


# --------------------------------------------------------------------------- VictoriaMetrics
VICTORIA_METRICS = "/usr/bin/victoria-metrics"


def start_victoria_metrics(tmpdir, retention: str = "100y", ready_timeout: float = 60.0,
                           extra_args=()) -> Peer:
    """victoria-metrics (single node) on 127.0.0.1:<free port>, data in tmpdir.

    Line protocol goes to `POST /write` on the HTTP port (measurement_field metric names).
    VictoriaMetrics buffers incoming rows in memory and does not fsync per write; it
    answers a write once the rows are parsed and queued. `/internal/force_flush` makes
    buffered rows searchable (used before counting)."""
    binary = require_binary(VICTORIA_METRICS, "VictoriaMetrics (victoria-metrics)")
    tmp = Path(tmpdir) / "victoria-metrics"
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [binary, f"-httpListenAddr={LOOPBACK}:{port}", f"-storageDataPath={data}",
           f"-retentionPeriod={retention}", "-loggerLevel=WARN", "-search.latencyOffset=0s",
           "-search.disableCache", *extra_args]
    log_path = tmp / "victoria-metrics.log"
    proc = _spawn(cmd, log_path, cwd=tmp)
    peer = _register(Peer("victoria-metrics", proc, LOOPBACK, port, tmp, log_path, "",
                          {"cmd": cmd, "data_dir": str(data), "retention": retention}))
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise PeerError(f"victoria-metrics exited with {proc.returncode} during startup:\n{_tail(log_path)}")
            try:
                status, _, body = http("GET", peer.base_url + "/health", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PeerError(f"victoria-metrics did not answer /health within {ready_timeout:.0f}s:\n{_tail(log_path)}")
            time.sleep(0.1)
        try:
            status, _, body = http("GET", peer.base_url + "/metrics", timeout=10)
            for line in body.decode(errors="replace").splitlines():
                if line.startswith("vm_app_version{"):
                    peer.version = line.split('version="', 1)[1].split('"', 1)[0]
                    break
        except (OSError, IndexError):
            pass
        if not peer.version:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"],
                               capture_output=True, text=True)
            peer.version = f"{r.stdout.strip()} (Debian package)" if r.returncode == 0 else ""
    except BaseException:
        peer.stop()
        raise
    _log(f"victoria-metrics {peer.version} on {peer.base_url} (no fsync per write; data in {data})")
    return peer


def psycopg_available() -> bool:
    try:
        import psycopg  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    # Smoke test: python benchmarks/peers.py [influx|pe|postgres ...]
    which = sys.argv[1:] or ["influx", "postgres"]
    tmp = make_tmpdir()
    try:
        for w in which:
            if w == "influx":
                p = start_influxdb1(tmp)
                print("influx", p.base_url, p.version, json.dumps(p.info))
                p.stop()
            elif w == "pe":
                p = start_pe(tmp)
                print("pe", p.base_url, json.dumps(p.info))
                p.stop()
            elif w == "vm":
                p = start_victoria_metrics(tmp)
                print("victoria-metrics", p.base_url, p.version, json.dumps(p.info))
                p.stop()
            elif w == "postgres":
                p = start_postgres(tmp)
                print("postgres", p.info["dsn"], p.version, "fsync", p.info["fsync"])
                print("plpython3u python", create_plpython3u(p))
                print("psql:", p.psql("SELECT version()"))
                p.stop()
    finally:
        _stop_all()
