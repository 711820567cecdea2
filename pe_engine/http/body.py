"""Reading request bodies under a size limit, before and after gzip, and a stall deadline.

The limit is enforced while reading, never after: a client that lies in
Content-Length, streams chunked data forever or sends a gzip bomb is cut off
as soon as it crosses the limit, so memory stays bounded by the limit. A
client that stops sending in the middle of a body gets a 408 once nothing has
arrived for `--http-body-timeout`, instead of holding its connection forever.
"""
from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

from aiohttp import web

from ..errors import BadRequest, PeError

READ_CHUNK = 256 * 1024
DEFAULT_BODY_TIMEOUT = 30.0  # seconds without a byte of the body, unless the app says otherwise
BODY_TIMEOUT = web.AppKey("pe.body_timeout", float)  # the server sets it from --http-body-timeout


class PayloadTooLarge(PeError):
    status = 413


class UnsupportedEncoding(PeError):
    status = 415


class BodyTimeout(PeError):
    status = 408


def _too_large(limit: int, what: str = "request body") -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} is larger than the limit of {limit} bytes (--max-request-bytes)")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, gunzipped if the client said so; at most `limit` bytes either way."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return await _read_raw(request, limit)
    if encoding in ("gzip", "x-gzip"):
        return await _read_gzip(request, limit)
    raise UnsupportedEncoding(f"unsupported Content-Encoding '{encoding}': send gzip or no encoding")


def _body_timeout(request: web.Request) -> float:
    return request.app.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)


async def _chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; BodyTimeout when none comes for the body timeout."""
    timeout = _body_timeout(request)
    content = request.content
    while True:
        try:
            async with asyncio.timeout(timeout if timeout > 0 else None):
                chunk = await content.read(READ_CHUNK)
        except TimeoutError:
            raise BodyTimeout(
                f"the request body stalled: nothing arrived for {timeout:g}s (--http-body-timeout)"
            ) from None
        if not chunk:
            return
        yield chunk


async def _read_raw(request: web.Request, limit: int) -> bytes:
    out = bytearray()
    async for chunk in _chunks(request):
        out += chunk
        if len(out) > limit:
            raise _too_large(limit)
    return bytes(out)


async def _read_gzip(request: web.Request, limit: int) -> bytes:
    """Inflate in a worker thread: 256 KiB of gzip can inflate to the whole limit (64 MiB
    by default), which would hold the loop for a quarter of a second."""
    loop = asyncio.get_running_loop()
    inflater = GzipInflater(limit)
    received = 0
    async for chunk in _chunks(request):
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        await loop.run_in_executor(None, inflater.feed, chunk)
    return await loop.run_in_executor(None, inflater.finish)


class GzipInflater:
    """Incremental gunzip that refuses to produce more than `limit` bytes.

    Handles concatenated gzip members (what `cat a.gz b.gz` produces).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.out = bytearray()
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes) -> None:
        while data:
            self._fed = True
            room = self.limit - len(self.out) + 1  # one byte over the limit proves it is too large
            try:
                piece = self._d.decompress(data, room)
            except zlib.error as e:
                raise BadRequest(f"invalid gzip body: {e}") from None
            self.out += piece
            if len(self.out) > self.limit:
                raise _too_large(self.limit, "decompressed request body")
            if self._d.unconsumed_tail:
                data = self._d.unconsumed_tail
            elif self._d.eof and self._d.unused_data:
                data = self._d.unused_data
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = b""

    def finish(self) -> bytes:
        if not self._fed:
            return b""
        if not self._d.eof:
            raise BadRequest("invalid gzip body: the compressed stream is truncated")
        return bytes(self.out)
