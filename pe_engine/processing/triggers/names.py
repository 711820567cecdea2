"""Trigger names: they appear in URLs, logs and console rows."""
from __future__ import annotations

import unicodedata
from typing import Any

from .errors import TriggerNameError

__all__ = ["MAX_TRIGGER_NAME_LEN", "validate_trigger_name"]

MAX_TRIGGER_NAME_LEN = 256


def validate_trigger_name(name: Any) -> str:
    """Names appear in URLs, logs and console rows: non-empty, <= 256 chars,
    no control characters, no slashes, no surrounding whitespace."""
    if not isinstance(name, str) or not name:
        raise TriggerNameError("trigger name cannot be empty")
    if len(name) > MAX_TRIGGER_NAME_LEN:
        raise TriggerNameError(
            f"trigger name is too long ({len(name)} characters; at most {MAX_TRIGGER_NAME_LEN})"
        )
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise TriggerNameError(f"trigger name {name!r} contains a control character (U+{ord(ch):04X})")
        if ch in "/\\":
            raise TriggerNameError(f"trigger name {name!r} cannot contain '/' or '\\'")
    if name != name.strip():
        raise TriggerNameError(f"trigger name {name!r} cannot start or end with whitespace")
    return name
