"""HelpScreen: every key of the registry, grouped by pane (the palette offers the same list)."""
from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..keys import KEYS, SCOPE_TITLES

_PRETTY = {"space": "space", "slash": "/", "question_mark": "?", "escape": "esc", "enter": "enter",
           "plus": "+", "equals_sign": "=", "minus": "-", "left_square_bracket": "[",
           "right_square_bracket": "]", "less_than_sign": "<", "greater_than_sign": ">", "delete": "del"}
COLUMNS = (("app", "triggers", "performance", "plugins"), ("activations", "logs", "caches"))


def pretty_keys(spec: str) -> str:
    return " ".join(_PRETTY.get(k, k) for k in spec.split(","))


def render_scopes(scopes: tuple[str, ...], read_only: bool, has_load: bool,
                  keymap: Mapping[str, str] | None = None) -> Group:
    """The keys of `scopes`, as remapped by `keymap` (binding id -> keys)."""
    keymap = keymap or {}
    parts: list = []
    for scope in scopes:
        keys = [k for k in KEYS if k.scope == scope and not k.name.startswith("pane_")]
        t = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        t.add_column(style="bold cyan", width=9, no_wrap=True)
        t.add_column(width=11, no_wrap=True)
        t.add_column(style="dim", ratio=1)
        if scope == "app":
            pane_keys = [keymap.get(f"app.pane_{i}", str(i)) for i in range(1, 7)]
            shown = "1 … 6" if pane_keys == [str(i) for i in range(1, 7)] else " ".join(map(pretty_keys, pane_keys))
            t.add_row(shown, "Panes", "Triggers, Activations, Performance, Logs, Caches, Plugins")
        for k in keys:
            note, style = "", ""
            if k.mutating and read_only:
                note, style = " (hidden: read-only)", "dim strike"
            elif k.scope == "app" and k.name.startswith("load_") and not has_load:
                note, style = " (--demo only)", "dim"
            t.add_row(pretty_keys(keymap.get(k.id, k.keys)), Text(k.description, style=style), k.help + note)
        parts.append(Text(SCOPE_TITLES[scope], style="bold underline"))
        parts.append(t)
        parts.append(Text(""))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, read_only: bool, has_load: bool, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__(id="help-screen")
        self.read_only = read_only
        self.has_load = has_load
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog wide"):
            yield Label("keys" + (" · read-only console: actions that change the engine are hidden"
                                  if self.read_only else ""), id="help-title", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                with Horizontal(id="help-columns"):
                    for i, scopes in enumerate(COLUMNS):
                        yield Static(render_scopes(scopes, self.read_only, self.has_load, self.keymap), id=f"help-col-{i}",
                                     classes="help-col")
            yield Label("Every action is also in the command palette (ctrl+p) as \"<pane>: <action>\". Actions that "
                        "change the engine go through its API, like the pe CLI, and confirm with a toast. "
                        "escape: close", classes="dialog-hint")
