"""A tiny raw HTTP client for the e2e tests: no retries, no error raising, full control of headers."""
from __future__ import annotations

import http.client as httpclient
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from support.waiting import TimedOut, wait_until

_DEFAULT = object()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Http:
    def __init__(self, url: str, token: str | None):
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: Any = _DEFAULT,
        timeout: float = 30.0,
    ) -> Reply:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        hdrs = dict(headers or {})
        token = self.token if token is _DEFAULT else token
        if token and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = httpclient.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    # -- shortcuts ----------------------------------------------------------
    def write(self, db: str, lp: str | bytes, token: Any = _DEFAULT, headers: dict | None = None,
              **query: Any) -> Reply:
        return self.request("POST", "/api/v3/write_lp", {"db": db, **query}, lp, headers, token)

    def query(self, db: str, sql: str, fmt: str = "json", token: Any = _DEFAULT, **extra: Any) -> Reply:
        return self.request("GET", "/api/v3/query_sql", {"db": db, "q": sql, "format": fmt, **extra},
                            token=token)

    def rows(self, db: str, sql: str) -> list[dict]:
        r = self.query(db, sql)
        assert r.status == 200, r.body
        return r.json()

    def poll(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """True once `predicate()` holds, False if it still does not after `timeout`."""
        try:
            wait_until(predicate, "a condition", timeout, interval=0.02)
        except TimedOut:
            return False
        return True
