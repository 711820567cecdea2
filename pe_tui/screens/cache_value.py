"""CacheValueScreen: one cache key's full value, pretty-printed, scrollable and selectable."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea


class CacheValueScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="cache_value.close")]

    def __init__(self, scope: str, key: str, text: str) -> None:
        super().__init__(id="cache-value-screen")
        self.scope = scope
        self.key = key
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="cache-value-dialog", classes="dialog wide"):
            yield Label(f"{self.scope} · {self.key}", id="cache-value-title", classes="dialog-title")
            yield TextArea(self.text, read_only=True, show_line_numbers=True, id="cache-value-text")
            yield Label("escape: close · the value as it is now; it may change while you read", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
