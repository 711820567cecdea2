"""EngineConfig: every knob of the engine in one place, with the defaults `pe serve` uses."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class EngineConfig:
    data_dir: Path = Path("./pe-data")
    plugin_dir: Path | None = None
    http_bind: str = "127.0.0.1:8181"
    flight_bind: str | None = None  # an extra Arrow Flight HOST:PORT (it is always on the HTTP port; flight/lifecycle.py)
    without_flight: bool = False
    tls_cert: Path | None = None  # with tls_key: HTTPS and gRPC over TLS on the HTTP port (http/tls.py)
    tls_key: Path | None = None
    tls_minimum_version: str = "tls-1.2"
    without_auth: bool = False
    admin_token: str | None = None  # seed the admin token instead of generating one
    wal_flush_interval: float = 1.0  # seconds; InfluxDB's default. Down to 0.001.
    wal_segment_bytes: int = 64 * 1024 * 1024
    snapshot_every_flushes: int = 600  # WAL records between Parquet snapshots
    snapshot_max_buffer_rows: int = 5_000_000  # or sooner when the buffer holds this many rows
    parquet_mem_cache_size: int = 256 * 1024 * 1024  # decoded recent Parquet kept in memory (bytes)
    compaction_min_files: int = 4  # a partition with this many files is merged into one
    compaction_idle_interval: float = 5.0  # seconds between idle compaction passes; 0 = none
    max_databases: int = 100
    max_tables_per_database: int = 4000
    max_columns_per_table: int = 500
    max_request_bytes: int = 64 * 1024 * 1024
    # HTTP server limits (http/limits.py): connections open at once (0 = 1000, or half the
    # open-files limit when lower), deadlines in seconds (0 = none), requests per connection
    http_max_connections: int = 0
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keepalive_timeout: float = 30.0
    http_max_keepalive_requests: int = 1000
    query_timeout: float = 300.0
    query_memory_limit: int = 0  # bytes one query may use (operators + answer); 0 = 2 GiB, at most the budget
    query_memory_budget: int = 0  # bytes all running queries may use together; 0 = half the machine's memory
    max_concurrent_queries: int = 0  # queries running at once; 0 = twice the cores (storage/query_governor.py)
    max_queued_queries: int = 64  # queries waiting for a slot; more are answered 503 with Retry-After
    parse_workers: int = 2
    # processing engine (active when plugin_dir is set, as in InfluxDB)
    plugin_repo: str | None = None
    plugin_threads: int = 8
    plugin_isolation: str = "thread"  # or "process": see README, "Plugin isolation"
    plugin_processes: int = 4  # most plugin worker processes at once (process isolation)
    restrict_trigger_types: tuple[str, ...] | None = None
    package_install_disabled: bool = False
    virtual_env: Path | None = None
    watch_plugins: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.plugin_dir is not None:
            self.plugin_dir = Path(self.plugin_dir)
        if self.plugin_isolation not in ("thread", "process"):
            raise ValueError(f"plugin_isolation must be thread or process, got {self.plugin_isolation!r}")
        if self.plugin_processes < 1:
            raise ValueError("plugin_processes must be at least 1")
        if min(self.http_max_connections, self.http_header_timeout, self.http_body_timeout,
               self.http_keepalive_timeout, self.http_max_keepalive_requests) < 0:
            raise ValueError("http limits and timeouts must not be negative")
        if not (0.001 <= self.wal_flush_interval <= 3600):
            raise ValueError("wal_flush_interval must be between 1 ms and 1 hour")

    @property
    def http_host_port(self) -> tuple[str, int]:
        host, _, port = self.http_bind.rpartition(":")
        return (host or "127.0.0.1"), int(port)
