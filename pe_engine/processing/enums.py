"""The closed vocabularies of the processing engine as string enums.

`StrEnum` members equal their text, so JSON, system tables, stored rows and
the console's string comparisons stay exactly what they were.
"""
from __future__ import annotations

from enum import StrEnum

__all__ = ["ActivationStatus", "TriggerState", "TriggerKind", "PluginType", "ErrorBehavior", "CatchUp", "TriggerAction", "Isolation"]


class ActivationStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    CPU_LIMIT = "cpu_limit"
    CRASHED = "crashed"  # process isolation: the worker died (exit code or signal)
    SKIPPED = "skipped"
    DROPPED = "dropped"


class TriggerState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    DISABLED_BY_ERROR = "disabled_by_error"

    @classmethod
    def of(cls, disabled: bool, reason: str | None) -> "TriggerState":
        if not disabled:
            return cls.ENABLED
        return cls.DISABLED_BY_ERROR if reason else cls.DISABLED


class TriggerKind(StrEnum):
    """How the runtime groups specs: which event source calls the trigger."""

    WAL = "wal"
    SCHEDULE = "schedule"
    REQUEST = "request"


class PluginType(StrEnum):
    """InfluxDB's plugin types, which decide the entry point's signature."""

    WAL_ROWS = "wal_rows"
    SCHEDULE = "schedule"
    REQUEST = "request"


class ErrorBehavior(StrEnum):
    LOG = "log"
    RETRY = "retry"
    DISABLE = "disable"


class CatchUp(StrEnum):
    SKIP = "skip"
    ONCE = "once"
    ALL = "all"


class TriggerAction(StrEnum):
    """`TriggerChanged.action` values."""

    CREATED = "created"
    DELETED = "deleted"
    ENABLED = "enabled"
    DISABLED = "disabled"
    DISABLED_BY_ERROR = "disabled_by_error"
    UPDATED = "updated"


class Isolation(StrEnum):
    """Where plugin code runs: the server's interpreter, or a pool of worker processes."""

    THREAD = "thread"
    PROCESS = "process"
