"""TriggerDef: a trigger as the store keeps it and the HTTP API shows it."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .arguments import validate_arguments_json
from .errors import TriggerSpecError
from .names import validate_trigger_name
from .settings import TriggerSettings
from .specs import TriggerSpec, from_catalog_json, parse_trigger_spec

__all__ = ["TriggerDef", "DefinitionFields", "definition_json"]


class DefinitionFields(Protocol):
    """What a stored trigger is made of: a TriggerDef, or a TriggerView's copy of one."""

    @property
    def database(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def plugin_filename(self) -> str: ...
    @property
    def spec(self) -> TriggerSpec: ...
    @property
    def arguments(self) -> dict[str, str] | None: ...
    @property
    def settings(self) -> TriggerSettings: ...
    @property
    def disabled(self) -> bool: ...
    @property
    def disabled_reason(self) -> str | None: ...
    @property
    def created_at(self) -> float: ...


def definition_json(t: DefinitionFields) -> dict[str, Any]:
    """The stored form, which the HTTP listing starts from too."""
    return {
        "database": t.database,
        "trigger_name": t.name,
        "plugin_filename": t.plugin_filename,
        "trigger_specification": t.spec.canonical(),
        "trigger_arguments": dict(t.arguments) if t.arguments else None,
        "trigger_settings": t.settings.to_json(),
        "disabled": t.disabled,
        "disabled_reason": t.disabled_reason,
        "created_at": t.created_at,
    }


def _spec_from_any(v: Any) -> TriggerSpec:
    """Stored/HTTP spec: the string form, or InfluxDB's catalog form (object or JSON text)."""
    if isinstance(v, TriggerSpec):
        return v
    if isinstance(v, str):
        s = v.strip()
        if s.startswith(("{", '"')) or s == "all_tables_wal_write":
            return from_catalog_json(s)
        return parse_trigger_spec(s, allow_exhausted=True)
    if isinstance(v, dict):
        return from_catalog_json(v)
    raise TriggerSpecError(f"trigger_specification must be a string, got {type(v).__name__}")


@dataclass
class TriggerDef:
    """A trigger as the store keeps it and the HTTP API shows it."""

    database: str
    name: str
    plugin_filename: str
    spec: TriggerSpec
    arguments: dict[str, str] | None = None
    settings: TriggerSettings = field(default_factory=TriggerSettings)
    disabled: bool = False
    disabled_reason: str | None = None
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        validate_trigger_name(self.name)
        if not isinstance(self.plugin_filename, str) or not self.plugin_filename.strip():
            raise TriggerSpecError("plugin_filename cannot be empty")
        if not isinstance(self.spec, TriggerSpec):
            raise TriggerSpecError("spec must be a parsed TriggerSpec")
        self.arguments = validate_arguments_json(self.arguments)

    def to_json(self) -> dict[str, Any]:
        return definition_json(self)

    @classmethod
    def from_json(cls, obj: Any) -> "TriggerDef":
        """Inverse of `to_json`; also takes InfluxDB-style keys (`db`, catalog-form spec)."""
        if isinstance(obj, str):
            obj = json.loads(obj)
        if not isinstance(obj, dict):
            raise TriggerSpecError(f"trigger definition must be a JSON object, got {type(obj).__name__}")
        database = obj.get("database", obj.get("db"))
        if not isinstance(database, str) or not database:
            raise TriggerSpecError("trigger definition needs a database name")
        name: Any = obj.get("trigger_name", obj.get("name"))  # __post_init__ validates it
        spec_v = obj.get("trigger_specification", obj.get("spec"))
        if spec_v is None:
            raise TriggerSpecError("trigger definition needs a trigger_specification")
        disabled = obj.get("disabled", False)
        if not isinstance(disabled, bool):
            raise TriggerSpecError(f"disabled must be true or false, got {json.dumps(disabled)}")
        reason = obj.get("disabled_reason")
        if reason is not None and not isinstance(reason, str):
            raise TriggerSpecError("disabled_reason must be a string or null")
        created = obj.get("created_at")
        if created is None:
            created = time.time()
        elif isinstance(created, bool) or not isinstance(created, (int, float)):
            raise TriggerSpecError("created_at must be a number (seconds since the epoch)")
        return cls(
            database=database,
            name=name,
            plugin_filename=obj.get("plugin_filename", ""),
            spec=_spec_from_any(spec_v),
            arguments=validate_arguments_json(obj.get("trigger_arguments", obj.get("arguments"))),
            settings=TriggerSettings.from_json(obj.get("trigger_settings", obj.get("settings"))),
            disabled=disabled,
            disabled_reason=reason,
            created_at=float(created),
        )
