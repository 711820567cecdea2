"""Write endpoints: /api/v3/write_lp, /api/v2/write and v1 /write, all answering like InfluxDB 3."""
from __future__ import annotations

from aiohttp import web

from ..errors import BadRequest
from ..lineprotocol.types import MAX_ERROR_LINE, MAX_ERROR_MESSAGE, MAX_REPORTED_ERRORS, LineError, LineErrors
from ..storage.writer import WriteResult
from .body import read_body
from .counters import HTTP_COUNTERS
from .keys import CONFIG, ENGINE
from .params import dbrp, flag, required

# What each API calls its precisions, mapped to what Engine.write_lp understands.
V2_PRECISIONS = {"ns": "ns", "us": "us", "ms": "ms", "s": "s"}
V1_PRECISIONS = {"n": "ns", "ns": "ns", "u": "us", "us": "us", "ms": "ms", "s": "s", "m": "m", "h": "h"}

PARTIAL_WRITE = "partial write of line protocol occurred"
PARSE_FAILED = "parsing failed for write_lp endpoint"


def _line_error(e: LineError) -> dict:
    out = e.to_json()
    out["original_line"] = out["original_line"][:MAX_ERROR_LINE]
    out["error_message"] = out["error_message"][:MAX_ERROR_MESSAGE]
    return out


def write_response(result: WriteResult) -> web.Response:
    """204 when every line landed; otherwise InfluxDB 3's error bodies.

    A partial write reports at most the first MAX_REPORTED_ERRORS line errors in full
    (each line and message cut to a bounded length) and, in `omitted_errors`, how many more
    lines were rejected: the answer stays small and cheap to encode whatever the body."""
    errors = result.errors
    if result.rejected_all and errors:
        return web.json_response({"error": PARSE_FAILED, "data": _line_error(errors[0])}, status=400)
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        omitted = len(errors) - len(shown) + (errors.omitted if isinstance(errors, LineErrors) else 0)
        body: dict = {"error": PARTIAL_WRITE, "data": [_line_error(e) for e in shown]}
        if omitted:
            body["omitted_errors"] = omitted
        return web.json_response(body, status=400)
    return web.Response(status=204)


async def _write(request: web.Request, db: str, precision: str) -> web.Response:
    request.app[HTTP_COUNTERS].write_requests += 1
    q = request.query
    accept_partial = flag(q, "accept_partial", True)
    no_sync = flag(q, "no_sync", False)
    body = await read_body(request, request.app[CONFIG].max_request_bytes)
    result = await request.app[ENGINE].write_lp(
        db, body, precision=precision, accept_partial=accept_partial, no_sync=no_sync
    )
    return write_response(result)


async def write_v3(request: web.Request) -> web.Response:
    db = required(request.query.get("db"), "db")
    precision = request.query.get("precision") or "auto"
    return await _write(request, db, precision.strip())


async def write_v2(request: web.Request) -> web.Response:
    bucket = required(request.query.get("bucket"), "bucket")
    name, _, rp = bucket.partition("/")  # v1-style "db/rp" buckets: DBRP naming
    db = dbrp(name, rp)
    return await _write(request, db, _precision(request, V2_PRECISIONS, "ns"))


async def write_v1(request: web.Request) -> web.Response:
    db = dbrp(required(request.query.get("db"), "db"), request.query.get("rp"))
    return await _write(request, db, _precision(request, V1_PRECISIONS, "n"))


def _precision(request: web.Request, allowed: dict[str, str], default: str) -> str:
    raw = (request.query.get("precision") or default).strip().lower()
    try:
        return allowed[raw]
    except KeyError:
        choices = "|".join(allowed)
        raise BadRequest(f"invalid precision '{raw}': use one of {choices}") from None

