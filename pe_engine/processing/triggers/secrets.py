"""Which trigger arguments are secrets, and their masked form for anything a person reads.

Trigger arguments often carry API keys. The plugin gets the real values; every listing
(HTTP, system tables, the console, log lines, error messages) shows `***` instead for a key
that looks secret. One rule, here, so no reader forgets a word or spells the mask differently.
"""
from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MASK", "SECRET_WORDS", "is_secret_key", "masked_arguments", "masked_value"]

MASK = "***"
# Case-insensitive substrings of an argument name that mark its value as secret.
SECRET_WORDS: tuple[str, ...] = ("token", "key", "password", "passwd", "secret", "credential", "auth")


def is_secret_key(name: str) -> bool:
    """True when `name` contains one of SECRET_WORDS, ignoring case (`API_KEY`, `authToken`)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def masked_value(name: str, value: str) -> str:
    return MASK if is_secret_key(name) else value


def masked_arguments(arguments: Mapping[str, str] | None) -> dict[str, str] | None:
    """A copy of `arguments` with secret-looking values replaced by MASK (None stays None)."""
    if arguments is None:
        return None
    return {k: masked_value(k, v) for k, v in arguments.items()}
