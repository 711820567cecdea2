"""TLS for the one port, as InfluxDB 3 configures it (`--tls-cert`, `--tls-key`, `--tls-minimum-version`).

One context serves both protocols. The HTTP API is HTTP/1.1 only (aiohttp), and HTTP/2 on this
port means gRPC, so ALPN prefers `http/1.1`: a client that offers both (curl, browsers, HTTP
libraries) gets HTTP/1.1, and a gRPC client, which offers only `h2`, gets `h2`. After the
handshake the connection's first bytes decide, as on a plain port (connection.py).
"""
from __future__ import annotations

import ssl
from enum import Enum
from pathlib import Path

from ..errors import PeError

__all__ = ["TlsVersion", "TlsSetupError", "server_context"]


class TlsVersion(str, Enum):
    TLS_1_2 = "tls-1.2"
    TLS_1_3 = "tls-1.3"

    @property
    def ssl_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion.TLSv1_3 if self is TlsVersion.TLS_1_3 else ssl.TLSVersion.TLSv1_2


class TlsSetupError(PeError):
    """The certificate or key cannot be used; the server does not start."""


def server_context(cert: Path | str | None, key: Path | str | None, minimum: str | None = None) -> ssl.SSLContext | None:
    """None without a certificate (plain HTTP); a clear error for half a configuration or bad files."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TlsSetupError("TLS needs both --tls-cert and --tls-key")
    try:
        version = TlsVersion(minimum or TlsVersion.TLS_1_2.value)
    except ValueError:
        raise TlsSetupError(f"--tls-minimum-version must be tls-1.2 or tls-1.3, not {minimum!r}") from None
    for what, path in (("certificate", cert), ("key", key)):
        if not Path(path).is_file():
            raise TlsSetupError(f"TLS {what} file not found: {path}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = version.ssl_version
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as e:
        raise TlsSetupError(f"cannot use the TLS certificate {cert} with the key {key}: {e}") from None
    ctx.set_alpn_protocols(["http/1.1", "h2"])  # the server's preference wins
    return ctx
