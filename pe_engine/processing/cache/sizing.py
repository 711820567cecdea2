"""What the console shows of a cached value without running much plugin code: an
approximate size, a bounded preview and a type name."""
from __future__ import annotations

import itertools
import reprlib
import sys
from collections import deque
from typing import Any, Iterable

from .namespaces import PREVIEW_CHARS

__all__ = ["estimate_size", "preview", "type_name"]

_SIZE_SAMPLE_PER_CONTAINER = 64
_SCALARS = (str, bytes, bytearray, memoryview, int, float, complex, type(None))


def estimate_size(obj: object, budget: int = 1000) -> int:
    """Approximate deep size in bytes with a bounded cost.

    Walks at most `budget` objects and at most 64 children per container, then
    extrapolates from the sampled children, so a 10-million-element list costs
    as much as a small one. Never raises (values may be mutated concurrently by
    the plugin that owns them).
    """
    seen: set[int] = set()
    remaining = [max(1, budget)]

    def size(o: object, depth: int) -> float:
        oid = id(o)
        if oid in seen:
            return 0.0
        seen.add(oid)
        remaining[0] -= 1
        total = float(sys.getsizeof(o, 64))
        if isinstance(o, _SCALARS):
            return total
        nbytes = getattr(o, "nbytes", None)
        if isinstance(nbytes, int) and nbytes > total:  # numpy arrays, pyarrow tables/arrays
            return float(nbytes)
        if depth >= 12 or remaining[0] <= 0:
            return total
        if isinstance(o, dict):
            n = len(o)
            children: Iterable[Any] = itertools.chain.from_iterable(
                itertools.islice(o.items(), _SIZE_SAMPLE_PER_CONTAINER)
            )
            n_children, per_item = n, 2
        elif isinstance(o, (list, tuple, set, frozenset, deque)):
            n_children, per_item = len(o), 1
            children = itertools.islice(o, _SIZE_SAMPLE_PER_CONTAINER)
        else:
            d = getattr(o, "__dict__", None)
            if isinstance(d, dict):
                return total + size(d, depth + 1)
            return total
        sampled = 0
        child_total = 0.0
        for child in children:
            if remaining[0] <= 0:
                break
            child_total += size(child, depth + 1)
            sampled += 1
        sampled_items = sampled / per_item
        if sampled_items and n_children > sampled_items:
            child_total *= n_children / sampled_items
        return total + child_total

    try:
        return int(size(obj, 0))
    except Exception:  # concurrent mutation, odd __sizeof__/__getattr__, recursion
        try:
            return sys.getsizeof(obj, 64)
        except Exception:
            return 64


def _make_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 12
    r.maxdict = 8
    r.maxstring = PREVIEW_CHARS
    r.maxlong = 60
    r.maxother = PREVIEW_CHARS
    return r


def preview(value: object, limit: int = PREVIEW_CHARS) -> str:
    """Repr truncated to `limit` chars; containers are abbreviated so the cost stays bounded."""
    try:
        text = _make_repr().repr(value)
    except Exception as exc:  # a plugin object's __repr__ may raise
        text = f"<{type(value).__name__}: repr failed: {type(exc).__name__}>"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def type_name(value: object) -> str:
    t = type(value)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", None) else f"{mod}.{t.__qualname__}"
