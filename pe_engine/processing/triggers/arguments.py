"""Trigger arguments: the CLI's `k=v,k=v` text and the HTTP API's JSON object."""
from __future__ import annotations

import json
from typing import Any

from .errors import TriggerSpecError
from .secrets import MASK, is_secret_key

__all__ = ["parse_trigger_arguments", "validate_arguments_json"]


def parse_trigger_arguments(text: str | None) -> dict[str, str] | None:
    """CLI form `k1=v1,k2=v2`: split on commas, each item on its FIRST `=` (values may
    contain `=`, never `,`). Empty input -> None, as plugins see `args=None`."""
    if text is None or not text.strip():
        return None
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue  # tolerate a trailing or doubled comma
        key, eq, value = item.partition("=")
        if not eq:
            raise TriggerSpecError(
                f"invalid KEY=value: no `=` found in `{item}` "
                f"(trigger arguments are comma-separated key=value pairs, e.g. k1=v1,k2=v2)"
            )
        key = key.strip()
        if not key:
            raise TriggerSpecError(f"invalid KEY=value: empty key in `{item}`")
        out[key] = value
    return out or None


def validate_arguments_json(obj: Any) -> dict[str, str] | None:
    """HTTP form `{"k": "v"}`: an object of string values. None or {} -> None."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise TriggerSpecError(
            f"trigger_arguments must be a JSON object of string values, got {type(obj).__name__}"
        )
    out: dict[str, str] = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not k:
            raise TriggerSpecError(f"trigger_arguments keys must be non-empty strings, got {k!r}")
        if not isinstance(v, str):
            shown = MASK if is_secret_key(k) else json.dumps(v)[:40]
            raise TriggerSpecError(f"trigger_arguments[{k!r}] must be a string, got {type(v).__name__} {shown}")
        out[k] = v
    return out or None
