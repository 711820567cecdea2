"""The errors every trigger parser raises, worded as InfluxDB words them."""
from __future__ import annotations

from ...errors import InvalidName, InvalidSpec

__all__ = ["TriggerSpecError", "TriggerNameError", "spec_error"]

TriggerSpecError = InvalidSpec  # a trigger spec, argument list or setting was rejected


class TriggerNameError(TriggerSpecError, InvalidName):
    """A trigger name was rejected."""


def spec_error(spec: str, context: str | None) -> TriggerSpecError:
    """InfluxDB's wording: `failed to parse trigger from <spec>[: <context>]`."""
    msg = f"failed to parse trigger from {spec}"
    if context:
        msg += f": {context}"
    return TriggerSpecError(msg)

