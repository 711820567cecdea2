"""Trigger settings: InfluxDB's two (run_async, error_behavior) plus pe's
extensions, parsed leniently (reference §12)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...durations import parse_duration
from ..enums import CatchUp, ErrorBehavior, Isolation
from .errors import TriggerSpecError

__all__ = ["ERROR_BEHAVIORS", "CATCH_UP_MODES", "parse_error_behavior", "parse_catch_up", "parse_isolation", "ISOLATION_MODES", "TriggerSettings"]

ERROR_BEHAVIORS = tuple(str(b) for b in ErrorBehavior)  # ("log", "retry", "disable")
CATCH_UP_MODES = tuple(str(c) for c in CatchUp)  # ("skip", "once", "all")
ISOLATION_MODES = tuple(str(i) for i in Isolation)  # ("thread", "process")


def parse_error_behavior(text: Any) -> ErrorBehavior:
    """`log|retry|disable`, case-insensitive (the InfluxDB guide shows `"Log"`)."""
    if isinstance(text, str) and text.strip().lower() in ERROR_BEHAVIORS:
        return ErrorBehavior(text.strip().lower())
    raise TriggerSpecError(f"invalid error behavior {text}: expected one of log, retry, disable")


def parse_catch_up(text: Any) -> CatchUp:
    """`skip` (InfluxDB: missed ticks are dropped), `once` or `all` after a restart."""
    if isinstance(text, str) and text.strip().lower() in CATCH_UP_MODES:
        return CatchUp(text.strip().lower())
    raise TriggerSpecError(f"invalid catch_up {text}: expected one of skip, once, all")


def parse_isolation(text: Any) -> Isolation | None:
    """`thread|process` (case-insensitive); None keeps the server's `--plugin-isolation`."""
    if text is None:
        return None
    if isinstance(text, str) and text.strip().lower() in ISOLATION_MODES:
        return Isolation(text.strip().lower())
    raise TriggerSpecError(f"invalid isolation {json.dumps(text)}: expected one of thread, process")


def _bool(key: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise TriggerSpecError(f"trigger_settings.{key} must be true or false, got {json.dumps(v)}")


def _int(key: str, v: Any, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise TriggerSpecError(f"trigger_settings.{key} must be an integer >= {minimum}, got {json.dumps(v)}")
    return v


def _seconds(key: str, v: Any) -> float:
    """A positive number of seconds, or a humantime string such as "30s"."""
    if isinstance(v, str):
        try:
            s = parse_duration(v)
        except TriggerSpecError as exc:
            raise TriggerSpecError(f"trigger_settings.{key}: {exc}") from None
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        s = float(v)
    else:
        raise TriggerSpecError(f"trigger_settings.{key} must be seconds (number) or a duration like \"30s\", "
                               f"got {json.dumps(v)}")
    if not s > 0 or s == float("inf"):
        raise TriggerSpecError(f"trigger_settings.{key} must be greater than zero, got {json.dumps(v)}")
    return s


@dataclass
class TriggerSettings:
    """How a trigger runs. The first two fields are InfluxDB's; the rest are pe
    extensions whose defaults keep InfluxDB's behaviour or are strictly safer."""

    run_async: bool = False
    error_behavior: str = "log"
    deadline_seconds: float = 30.0
    concurrency: int = 4
    max_retries: int = 5
    memory_limit_bytes: int | None = None
    cpu_limit_seconds: float | None = None
    catch_up: str = "skip"
    isolation: Isolation | None = None  # None: the server's --plugin-isolation

    def __post_init__(self) -> None:
        self.run_async = _bool("run_async", self.run_async)
        self.error_behavior = parse_error_behavior(self.error_behavior)
        self.deadline_seconds = _seconds("deadline_seconds", self.deadline_seconds)
        self.concurrency = _int("concurrency", self.concurrency, 1)
        self.max_retries = _int("max_retries", self.max_retries, 0)
        if self.memory_limit_bytes is not None:
            self.memory_limit_bytes = _int("memory_limit_bytes", self.memory_limit_bytes, 1)
        if self.cpu_limit_seconds is not None:
            self.cpu_limit_seconds = _seconds("cpu_limit_seconds", self.cpu_limit_seconds)
        self.catch_up = parse_catch_up(self.catch_up)
        self.isolation = parse_isolation(self.isolation)

    @classmethod
    def from_json(cls, obj: Any) -> "TriggerSettings":
        """Lenient (§12): missing fields take defaults, unknown keys are ignored,
        values are case-insensitive; wrong types are a clear error. Accepts a dict,
        its JSON text, or None."""
        if obj is None:
            return cls()
        if isinstance(obj, str):
            if not obj.strip():
                return cls()
            try:
                obj = json.loads(obj)
            except ValueError:
                raise TriggerSpecError(f"trigger_settings is not valid JSON: {obj[:80]!r}") from None
        if not isinstance(obj, dict):
            raise TriggerSpecError(f"trigger_settings must be a JSON object, got {type(obj).__name__}")
        optional = {"memory_limit_bytes", "cpu_limit_seconds", "isolation"}
        kwargs = {
            k: v for k, v in obj.items()
            if k in cls.__dataclass_fields__ and (v is not None or k in optional)  # null = default
        }
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_async": self.run_async,
            "error_behavior": self.error_behavior,
            "deadline_seconds": self.deadline_seconds,
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
            "memory_limit_bytes": self.memory_limit_bytes,
            "cpu_limit_seconds": self.cpu_limit_seconds,
            "catch_up": self.catch_up,
        }
        if self.isolation is not None:  # unset: follows the server's --plugin-isolation
            out["isolation"] = str(self.isolation)
        return out

    def catalog_json(self) -> str:
        """InfluxDB's `trigger_settings` form (system tables, HTTP listings)."""
        return json.dumps(
            {"run_async": self.run_async, "error_behavior": self.error_behavior}, separators=(",", ":")
        )
