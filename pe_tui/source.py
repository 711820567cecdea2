"""ConsoleSource: where the console's data comes from and where its actions go.

Two implementations:

- `pe_tui.live.EngineBridge`: a live engine running in an `EngineThread`
  (bus subscription drained per tick, aggregate snapshots pulled, actions sent
  through the engine API so the CLI and SQL see the same result);
- `pe_tui.replay.RecordedSource`: recorded or synthesised ticks, with
  actions applied to its own copy of the state (deterministic tests,
  screenshots).

All methods are blocking and thread-safe: the console calls `collect()` and
the actions from Textual thread workers, never on its UI loop. Actions return
a short human message for the confirmation toast and raise on failure (the
message of the exception is what the operator reads).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from .model import ActivationRecord, Tick, TriggerDetail


@runtime_checkable
class ConsoleSource(Protocol):
    @property
    def http_url(self) -> str | None:
        """Where the engine's HTTP API listens, for the status bar (None: no HTTP). A plain
        attribute satisfies it too."""
        ...

    def collect(self) -> Tick | None:
        """Everything new since the previous call (None: nothing at all changed)."""
        ...

    def close(self) -> None:
        """Stop collecting (unsubscribe); the engine itself is not stopped here."""
        ...

    def console_log(self, level: str, text: str) -> None:
        """A line of the console's own (action results and failures) for the Logs pane's next tick."""
        ...

    # ---- reads on demand
    def trigger_detail(self, database: str, name: str) -> TriggerDetail: ...

    def activation(self, activation_id: int) -> ActivationRecord | None: ...

    def can_retry(self, activation_id: int) -> bool:
        """Whether the failed activation's original input is still kept."""
        ...

    def cache_value(self, scope_id: str, key: str) -> str:
        """The full value, pretty-printed."""
        ...

    def select_value_cache(self, cache_id: str | None) -> None:
        """The system cache (LVC/DVC) the Caches pane shows, None when none is on screen:
        its contents (`Tick.value_cache`) come with the next tick, then whenever they change.
        Optional: the pane skips sources without it."""
        ...

    # ---- actions (mutating)
    def set_trigger_enabled(self, database: str, name: str, enabled: bool) -> str: ...

    def delete_trigger(self, database: str, name: str) -> str: ...

    def run_trigger_now(self, database: str, name: str) -> str: ...

    def retry_activation(self, activation_id: int) -> str: ...

    def delete_cache_key(self, scope_id: str, key: str) -> str: ...

    def clear_cache_scope(self, scope_id: str) -> str: ...

    # ---- demo load generator (None when there is none)
    def load_rate(self) -> int | None: ...

    def set_load_rate(self, lines_per_second: int) -> str: ...
