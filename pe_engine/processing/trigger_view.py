"""One read-only snapshot of a trigger's definition and live state.

Every reader (HTTP listing, CLI, system tables, the console) builds from this
record instead of reaching into the runtime, so they all agree on what a
trigger's state is. Build it on the engine's loop (`ProcessingEngine.trigger_views`);
once built it is safe to hand to another thread.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .activations import TriggerStats
from .enums import TriggerState
from .triggers.definition import TriggerDef, definition_json
from .triggers.settings import TriggerSettings
from .triggers.specs import TriggerSpec

__all__ = ["TriggerView"]


@dataclass(frozen=True, slots=True)
class TriggerView:
    database: str
    name: str
    plugin_filename: str
    spec: TriggerSpec
    arguments: dict[str, str] | None
    settings: TriggerSettings
    disabled: bool
    disabled_reason: str | None
    created_at: float
    state: TriggerState
    scheduled: bool = False  # an enabled schedule trigger: next_fire_ns is meaningful
    next_fire_ns: int | None = None  # None when not scheduled or a year-limited cron ran out
    running: bool = False  # it has a runtime (enabled); queued/dropped are meaningful
    queued: int = 0
    dropped: int = 0
    stats: TriggerStats | None = None

    @property
    def spec_text(self) -> str:
        return self.spec.canonical()

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def plugin_type(self) -> str:
        return self.spec.plugin_type

    @property
    def run_async(self) -> bool:
        return self.settings.run_async

    @property
    def error_behavior(self) -> str:
        return self.settings.error_behavior

    @classmethod
    def build(
        cls,
        t: TriggerDef,
        *,
        stats: TriggerStats | None = None,
        scheduled: bool = False,
        next_fire_ns: int | None = None,
        running: bool = False,
        queued: int = 0,
        dropped: int = 0,
    ) -> "TriggerView":
        return cls(
            database=t.database,
            name=t.name,
            plugin_filename=t.plugin_filename,
            spec=t.spec,
            arguments=dict(t.arguments) if t.arguments else None,
            settings=dataclasses.replace(t.settings),
            disabled=t.disabled,
            disabled_reason=t.disabled_reason,
            created_at=t.created_at,
            state=TriggerState.of(t.disabled, t.disabled_reason),
            scheduled=scheduled,
            next_fire_ns=next_fire_ns,
            running=running,
            queued=queued,
            dropped=dropped,
            stats=stats,
        )

    def definition_json(self) -> dict[str, Any]:
        """The stored form (`TriggerDef.to_json`)."""
        return definition_json(self)

    def to_json(self) -> dict[str, Any]:
        """The CLI/HTTP listing form: the definition plus state and statistics."""
        d = self.definition_json()
        d["state"] = str(self.state)
        if self.stats is not None:
            d["stats"] = self.stats.to_json()
        if self.scheduled:
            d["next_fire_ns"] = self.next_fire_ns
        if self.running:
            d["queued"] = self.queued
            d["dropped"] = self.dropped
        return d
