"""The HTTP server's limits, read once from the config: connections, deadlines, keep-alive."""
from __future__ import annotations

import resource
from dataclasses import dataclass

from ..config import EngineConfig

__all__ = ["HttpLimits", "auto_max_connections", "DEFAULT_MAX_CONNECTIONS"]

DEFAULT_MAX_CONNECTIONS = 1000
# aiohttp's parser limits, named here so they are visible: a request line (method, path and query)
# or a header line past these, or more headers, is a 400.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 128


def auto_max_connections(default: int = DEFAULT_MAX_CONNECTIONS) -> int:
    """`default`, or half the open-files limit when that is lower: the engine needs the other half
    (WAL, Parquet files, the store, plugin workers), and a full table fails more than HTTP."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return default
    return max(1, min(default, soft // 2))


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int
    header_timeout: float  # seconds for a request's headers (0 = none)
    body_timeout: float  # seconds a request body may stall (0 = none)
    keepalive_timeout: float  # seconds a connection may idle between requests
    max_keepalive_requests: int  # requests per connection (0 = no limit)

    @classmethod
    def from_config(cls, c: EngineConfig) -> "HttpLimits":
        return cls(
            max_connections=c.http_max_connections or auto_max_connections(),
            header_timeout=c.http_header_timeout,
            body_timeout=c.http_body_timeout,
            keepalive_timeout=c.http_keepalive_timeout,
            max_keepalive_requests=c.http_max_keepalive_requests,
        )
