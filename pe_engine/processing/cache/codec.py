"""Serialising cached values for snapshots: JSON when it round-trips exactly, else pickle."""
from __future__ import annotations

import json
import math
import pickle
from typing import Any

__all__ = ["Unserialisable", "json_encoder", "encode_value", "decode_value"]

def _json_exact(value: object) -> bool:
    """True when JSON would give back exactly this value (types, keys and aliasing).

    Exact types only: subclasses (IntEnum, OrderedDict, str enums) would come back
    as their base type, tuples as lists, non-str keys as str, NaN/inf not at all,
    and a container referenced twice would come back as two copies.
    """
    seen: set[int] = set()
    stack: list[object] = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if v is None or t is str or t is bool or t is int:
            continue
        if t is float:
            if not math.isfinite(v):  # type: ignore[arg-type]
                return False
            continue
        if t is list:
            if id(v) in seen:
                return False
            seen.add(id(v))
            stack.extend(v)  # type: ignore[arg-type]
            continue
        if t is dict:
            if id(v) in seen:
                return False
            seen.add(id(v))
            for k, x in v.items():  # type: ignore[attr-defined]
                if type(k) is not str:
                    return False
                stack.append(x)
            continue
        return False
    return True


class Unserialisable(Exception):
    pass


def json_encoder() -> json.JSONEncoder:
    return json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_value(value: object, encoder: json.JSONEncoder | None = None) -> tuple[bytes, str]:
    """Serialise a cached value: JSON when it round-trips exactly, else pickle protocol 5.

    Pass one `encoder` for a batch: `json.dumps` with options builds a new one per call.
    """
    try:
        if _json_exact(value):
            text = (encoder or json_encoder()).encode(value)
            return text.encode("utf-8"), "json"
    except Exception:  # huge ints, lone surrogates, concurrent mutation: try pickle
        pass
    try:
        return pickle.dumps(value, protocol=5), "pickle"
    except RecursionError:
        raise Unserialisable("too deeply nested to serialise") from None
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise Unserialisable(f"{type(value).__name__} not serialisable ({type(exc).__name__}: {msg})"[:200]) from None


def decode_value(blob: bytes, codec: str) -> Any:
    """Inverse of `encode_value`."""
    if codec == "json":
        return json.loads(bytes(blob).decode("utf-8"))
    if codec == "pickle":
        return pickle.loads(blob)
    raise ValueError(f"unknown cache codec {codec!r}")
