"""A small blocking HTTP client for the `pe` CLI, on urllib so the CLI needs nothing extra."""
from __future__ import annotations

import gzip
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

GZIP_ABOVE = 64 * 1024  # bodies larger than this go gzipped


class ClientError(Exception):
    """What the CLI prints and exits non-zero on."""

    def __init__(self, message: str, status: int | None = None, data: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.data = data


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class PeClient:
    def __init__(self, host: str, token: str | None = None, timeout: float = 300.0,
                 tls: ssl.SSLContext | None = None):
        self.tls = tls  # for https:// hosts; None: the system's CAs
        host = host.strip()
        if "://" not in host:
            host = "http://" + host
        self.host = host.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request; raise ClientError for any failure, with the server's own message."""
        url = self.host + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        if body is not None and len(body) > GZIP_ABOVE and "Content-Encoding" not in hdrs:
            body = gzip.compress(body, compresslevel=1)
            hdrs["Content-Encoding"] = "gzip"
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.tls) as resp:
                return Response(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as e:
            raise _server_error(e) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise ClientError(f"cannot verify the TLS certificate of {self.host}: {e.reason.verify_message}; "
                                  "pass --tls-ca with its CA (or --tls-no-verify)") from None
            if isinstance(e.reason, ssl.SSLError):
                raise ClientError(f"TLS with {self.host} failed: {e.reason}") from None
            raise ClientError(f"cannot reach pe at {self.host}: is `pe serve` running? ({e.reason})") from None
        except (ConnectionError, TimeoutError) as e:
            raise ClientError(f"lost the connection to pe at {self.host}: {e}") from None

    # -- the calls the CLI makes ------------------------------------------------
    def write_lp(
        self,
        db: str,
        body: bytes,
        *,
        precision: str | None = None,
        accept_partial: bool = True,
        no_sync: bool = False,
    ) -> None:
        query = {
            "db": db,
            "precision": precision,
            "accept_partial": str(accept_partial).lower(),
            "no_sync": "true" if no_sync else None,
        }
        self.request("POST", "/api/v3/write_lp", query=query, body=body,
                     headers={"Content-Type": "text/plain; charset=utf-8"})

    def query_sql(self, db: str, sql: str, fmt: str = "json", params: dict[str, Any] | None = None) -> bytes:
        payload: dict[str, Any] = {"db": db, "q": sql, "format": fmt}
        if params:
            payload["params"] = params
        return self.request("POST", "/api/v3/query_sql", json_body=payload).body

    def query_influxql(self, db: str, text: str, fmt: str = "json", params: dict[str, Any] | None = None) -> bytes:
        payload: dict[str, Any] = {"db": db, "q": text, "format": fmt}
        if params:
            payload["params"] = params
        return self.request("POST", "/api/v3/query_influxql", json_body=payload).body

    def create_database(self, name: str, retention_period: str | None = None) -> None:
        body: dict[str, Any] = {"db": name}
        if retention_period is not None:
            body["retention_period"] = retention_period
        self.request("POST", "/api/v3/configure/database", json_body=body)

    def delete_database(self, name: str) -> None:
        self.request("DELETE", "/api/v3/configure/database", query={"db": name})

    def list_databases(self, fmt: str = "json", show_retention: bool = False) -> bytes:
        query = {"format": fmt, "show_retention": "true" if show_retention else None}
        return self.request("GET", "/api/v3/configure/database", query=query).body

    def create_table(self, db: str, table: str, tags: list[str], fields: list[tuple[str, str]]) -> None:
        body = {"db": db, "table": table, "tags": tags, "fields": [{"name": n, "type": t} for n, t in fields]}
        self.request("POST", "/api/v3/configure/table", json_body=body)

    def delete_table(self, db: str, table: str) -> None:
        self.request("DELETE", "/api/v3/configure/table", query={"db": db, "table": table})


def _server_error(e: urllib.error.HTTPError) -> ClientError:
    raw = e.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        return ClientError(str(payload["error"]), e.code, payload.get("data"))
    text = raw.decode("utf-8", "replace").strip() or e.reason
    return ClientError(f"HTTP {e.code}: {text}", e.code)
