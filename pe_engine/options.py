"""The engine's command-line options: one table that `pe serve`, `pe tui` and `pe-tui` all build from.

Each row names a flag, its EngineConfig field, value type, environment variable,
default and help. `add_arguments` puts the rows on any argparse parser;
`config_from` turns the parsed namespace back into an EngineConfig. A front end
that needs a different default (the console's `--demo` data directory) replaces
the row with `dataclasses.replace` instead of reaching into argparse.
"""
from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .config import EngineConfig
from .durations import parse_duration
from .errors import InvalidSpec


class ConfigError(ValueError):
    """Parsed options that make no valid EngineConfig (reported as `error: invalid configuration: ...`)."""


# --------------------------------------------------------------------- value types
def duration(text: str) -> float:
    """Seconds from `1s`, `100ms`, `1m`, `1h 30m`, `0.5` (plain numbers are seconds)."""
    try:
        return parse_duration(text, lenient=True)
    except InvalidSpec:
        raise argparse.ArgumentTypeError(f"invalid duration '{text}': use e.g. 1s, 100ms, 1m or 0.5") from None


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.I)


def size(text: str) -> int:
    """Bytes from `1048576`, `64MiB`, `10MB`, `512k` (powers of 1024 throughout)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size '{text}': use e.g. 1048576, 512KiB or 64MiB")
    unit = (m.group(2) or "b")[0].lower()
    return int(m.group(1)) * 1024 ** "bkmgt".index(unit)


def bind_address(text: str) -> str:
    """HOST:PORT, checked now rather than when the socket opens."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"invalid address '{text}': use HOST:PORT, e.g. 127.0.0.1:8182")
    return text


def trigger_types(text: str) -> tuple[str, ...]:
    """`wal,schedule,request` (and influxdb3's `wal_flush`) as a tuple of trigger kinds."""
    out = []
    for part in text.split(","):
        p = part.strip().lower()
        p = {"wal_flush": "wal"}.get(p, p)
        if p not in ("wal", "schedule", "request"):
            raise argparse.ArgumentTypeError(f"unknown trigger type '{part}': use wal, schedule, request")
        out.append(p)
    return tuple(out)


# --------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Option:
    """One engine option. `field` is the EngineConfig field it sets (None: a process setting)."""

    flag: str
    dest: str
    field: str | None
    help: str | None = None
    type: Callable[[str], Any] | None = None
    env: str | None = None
    default: Any = None  # None: EngineConfig's own default applies
    action: str | None = None  # "store_true" / "store_false" for switches
    group: str | None = None  # None: the parser's main option group
    choices: tuple[str, ...] | None = None

    def parser_default(self, environ: Mapping[str, str]) -> Any:
        """The default argparse sees: the environment variable when set (a switch: when truthy)."""
        if self.env is None:
            return self.default
        if self.action in ("store_true", "store_false"):
            on = environ.get(self.env, "").lower() in ("1", "true", "yes")
            return (self.action == "store_true") if on else self.default
        return environ.get(self.env, self.default)


PROCESSING = "processing engine"
FLIGHT = "Arrow Flight"
TLS = "TLS"


def _o(flag: str, *, dest: str | None = None, config: bool = True, **kw: Any) -> Option:
    """A row whose dest (and EngineConfig field, unless `config=False`) defaults to the flag's name."""
    dest = dest or flag.lstrip("-").replace("-", "_")
    return Option(flag=flag, dest=dest, field=dest if config else None, **kw)


ENGINE_OPTIONS: tuple[Option, ...] = (
    _o("--data-dir", type=Path, env="PE_DATA_DIR", default="./pe-data",
       help="where WAL, Parquet and the catalog live (env PE_DATA_DIR; default ./pe-data)"),
    _o("--plugin-dir", type=Path, env="PE_PLUGIN_DIR",
       help="directory of processing-engine plugins (env PE_PLUGIN_DIR)"),
    _o("--http-bind", env="PE_HTTP_BIND", default="127.0.0.1:8181",
       help="HOST:PORT to listen on (env PE_HTTP_BIND; default 127.0.0.1:8181)"),
    _o("--wal-flush-interval", type=duration, help="e.g. 1s (default), 100ms, 10ms"),
    _o("--without-auth", action="store_true", env="PE_WITHOUT_AUTH", help="accept requests without a token"),
    _o("--admin-token", env="PE_ADMIN_TOKEN",
       help="use this admin token instead of generating one (env PE_ADMIN_TOKEN)"),
    _o("--max-request-bytes", type=size, help="largest request body, e.g. 64MiB (default)"),
    _o("--http-max-connections", type=int,
       help="HTTP connections open at once (default 1000, or half the open-files limit when lower); a new "
            "one past it closes the longest-idle connection, or waits while all are busy"),
    _o("--http-header-timeout", type=duration, help="time a client has to send a request's headers (default 10s)"),
    _o("--http-body-timeout", type=duration, help="longest pause inside a request body before a 408 (default 30s)"),
    _o("--http-keepalive-timeout", type=duration, help="how long an idle connection stays open (default 30s)"),
    _o("--http-max-keepalive-requests", type=int,
       help="requests one connection may make before the server closes it (default 1000; 0 = no limit)"),
    _o("--wal-segment-bytes", type=size, help="WAL segment size before rotation"),
    _o("--snapshot-every-flushes", type=int, help="WAL flushes between Parquet snapshots"),
    _o("--snapshot-max-buffer-rows", type=int, help="snapshot sooner when memory holds this many rows"),
    _o("--parquet-mem-cache-size", type=size,
       help="memory for decoded recent Parquet files, e.g. 512MiB (default 256MiB); the rest is read from disk"),
    _o("--compaction-min-files", type=int, help="merge a day's Parquet files once it has this many (default 4)"),
    _o("--compaction-idle-interval", type=duration,
       help="how often compaction also runs without snapshots, so days settle to one file once writes stop "
            "(default 5s; 0 = only after snapshots)"),
    _o("--max-databases", type=int),
    _o("--max-tables-per-database", type=int),
    _o("--max-columns-per-table", type=int),
    _o("--query-timeout", type=duration, help="e.g. 300s (default); a query past it is stopped"),
    _o("--query-memory-limit", type=size,
       help="memory one query may use, e.g. 512MiB (default 2GiB, at most the budget); sorts and aggregates "
            "spill to disk, a query that still needs more fails with a clear error"),
    _o("--query-memory-budget", type=size,
       help="memory all running queries may use together (default half the machine's); fewer queries run "
            "at once when budget / limit is below --max-concurrent-queries"),
    _o("--max-concurrent-queries", type=int, help="queries running at once (default twice the cores)"),
    _o("--max-queued-queries", type=int,
       help="queries waiting for a slot (default 64); beyond that a query is answered 503 with Retry-After"),
    _o("--parse-workers", type=int, help="threads parsing line protocol"),
    _o("--log-level", config=False, env="PE_LOG_LEVEL", default="INFO", help="DEBUG, INFO, WARNING, ERROR"),
    _o("--access-log", config=False, action="store_true", default=False, help="log every HTTP request"),
    # processing engine
    _o("--plugin-repo", group=PROCESSING,
       help="base URL or git repository for gh: plugins (env INFLUXDB3_PLUGIN_REPO)"),
    _o("--plugin-threads", type=int, group=PROCESSING, help="worker threads running plugins (default 8)"),
    _o("--plugin-isolation", choices=("thread", "process"), env="PE_PLUGIN_ISOLATION", group=PROCESSING,
       help="where plugins run: thread (in the server, lowest latency) or process (worker processes: a "
            "crashing plugin takes only its worker down); a trigger's isolation setting overrides it "
            "(env PE_PLUGIN_ISOLATION; default thread)"),
    _o("--plugin-processes", type=int, group=PROCESSING,
       help="most plugin worker processes at once with process isolation (default 4)"),
    _o("--restrict-plugin-triggers-to", dest="restrict_trigger_types", type=trigger_types, group=PROCESSING,
       help="only allow these trigger types: wal,schedule,request"),
    _o("--disable-package-management", dest="package_install_disabled", action="store_true", group=PROCESSING,
       help="refuse package installs (HTTP 403)"),
    _o("--virtual-env-location", dest="virtual_env", type=Path, group=PROCESSING,
       help="install plugin packages into this virtualenv, created at start if missing (default: the one pe runs in)"),
    _o("--no-watch-plugins", dest="watch_plugins", action="store_false", group=PROCESSING,
       help="do not reload plugins when their files change"),
    # Arrow Flight (flight.py reads these fields)
    _o("--flight-bind", type=bind_address, group=FLIGHT,
       help="also serve Arrow Flight on this HOST:PORT (it is always served on the HTTP port)"),
    _o("--without-flight", action="store_true", group=FLIGHT, help="do not serve Arrow Flight (gRPC) at all"),
    # TLS for HTTP and gRPC on the one port (http/tls.py reads these fields)
    _o("--tls-cert", type=Path, env="PE_TLS_CERT", group=TLS,
       help="PEM certificate (chain) to serve HTTPS and gRPC over TLS with (env PE_TLS_CERT; needs --tls-key)"),
    _o("--tls-key", type=Path, env="PE_TLS_KEY", group=TLS, help="PEM private key of --tls-cert (env PE_TLS_KEY)"),
    _o("--tls-minimum-version", choices=("tls-1.2", "tls-1.3"), env="PE_TLS_MINIMUM_VERSION", group=TLS,
       help="oldest TLS version accepted (default tls-1.2)"),
)


def option(dest: str, options: Iterable[Option] = ENGINE_OPTIONS) -> Option:
    """The row whose parsed value lands in `args.<dest>`."""
    for o in options:
        if o.dest == dest:
            return o
    raise KeyError(dest)


def add_arguments(
    parser: argparse.ArgumentParser,
    options: Iterable[Option] = ENGINE_OPTIONS,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Every option on `parser`, grouped as in the table (main group first, then named groups)."""
    env = os.environ if environ is None else environ
    groups: dict[str | None, Any] = {None: parser}
    for o in options:
        target = groups.get(o.group)
        if target is None:
            target = groups[o.group] = parser.add_argument_group(o.group)
        kw: dict[str, Any] = {"dest": o.dest, "default": o.parser_default(env), "help": o.help}
        if o.action is not None:
            kw["action"] = o.action
        if o.type is not None:
            kw["type"] = o.type
        if o.choices is not None:
            kw["choices"] = o.choices
        target.add_argument(o.flag, **kw)


def config_from(args: argparse.Namespace, options: Iterable[Option] = ENGINE_OPTIONS) -> EngineConfig:
    """EngineConfig from the parsed options; unset ones keep EngineConfig's defaults."""
    values: dict[str, Any] = {}
    for o in options:
        if o.field is None:
            continue
        v = getattr(args, o.dest, None)
        if v is not None:
            values[o.field] = v
    try:
        config = EngineConfig(**values)
        config.http_host_port  # noqa: B018 -- validates HOST:PORT now, not at bind time
    except ValueError as e:
        raise ConfigError(f"invalid configuration: {e}") from None
    return config


def missing_fields(options: Iterable[Option] = ENGINE_OPTIONS) -> set[str]:
    """EngineConfig fields no option sets (a new field should get a row here)."""
    covered = {o.field for o in options if o.field is not None}
    return {f.name for f in fields(EngineConfig)} - covered
