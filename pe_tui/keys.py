"""The one key registry: every key of the console is declared here once.

The app and the panes take their `BINDINGS` from it (`bindings(scope)`), the
`?` help screen lists it, the command palette offers it ("triggers: run now"),
and `--read-only` hides the entries marked `mutating` (check_action). Binding
ids are "<scope>.<name>", so a user keymap can remap any key by id
(`App.set_keymap`).
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

SCOPES = ("app", "triggers", "activations", "performance", "logs", "caches", "plugins")
SCOPE_TITLES = {
    "app": "Everywhere",
    "triggers": "Triggers",
    "activations": "Activations",
    "performance": "Performance",
    "logs": "Logs",
    "caches": "Caches",
    "plugins": "Plugins",
}
PANES = ("triggers", "activations", "performance", "logs", "caches", "plugins")


@dataclass(frozen=True, slots=True)
class Key:
    scope: str
    name: str  # binding id is f"{scope}.{name}"
    keys: str  # Textual key spec, comma-separated alternatives
    action: str  # action string run in the scope's namespace (app or pane)
    description: str  # footer / help / palette text
    display: str | None = None  # how the key is shown (default: first key)
    mutating: bool = False  # changes the engine: hidden with --read-only
    show: bool = True  # in the footer
    palette: bool = True  # offered in the command palette
    priority: bool = False
    help: str = ""  # longer text for the help screen and palette

    @property
    def id(self) -> str:
        return f"{self.scope}.{self.name}"

    @property
    def key_display(self) -> str:
        return self.display or self.keys.split(",")[0]

    @property
    def action_name(self) -> str:
        return self.action.split("(")[0]

    def binding(self) -> Binding:
        return Binding(
            self.keys, self.action, self.description, show=self.show, key_display=self.display,
            priority=self.priority, id=self.id, tooltip=self.help,
        )


KEYS: tuple[Key, ...] = (
    # ------------------------------------------------------------------ everywhere
    Key("app", "quit", "q", "quit", "Quit", help="stop the engine cleanly (WAL flushed) and exit"),
    *(
        Key("app", f"pane_{i}", str(i), f"show_pane('{pane}')", pane.capitalize(), show=False,
            help=f"switch to the {pane.capitalize()} pane")
        for i, pane in enumerate(PANES, start=1)
    ),
    Key("app", "pause", "p", "toggle_pause", "Pause",
        help="freeze the screen; data is still collected"),
    Key("app", "faster", "plus,equals_sign", "refresh_faster", "Faster", display="+",
        show=False, help="refresh more often (up to 10 Hz)"),
    Key("app", "slower", "minus", "refresh_slower", "Slower", display="-",
        show=False, help="refresh less often (down to every 10 s)"),
    Key("app", "load_up", "right_square_bracket,greater_than_sign", "load_faster", "Load+", display="]",
        mutating=True, show=False, help="demo: write more lines per second"),
    Key("app", "load_down", "left_square_bracket,less_than_sign", "load_slower", "Load-", display="[",
        mutating=True, show=False, help="demo: write fewer lines per second"),
    Key("app", "help", "question_mark", "help", "Help", display="?", help="this screen"),
    Key("app", "palette", "ctrl+p", "command_palette", "Palette", show=False, palette=False,
        help="search every action by name"),
    Key("app", "screenshot", "f8", "save_screenshot", "Screenshot", show=False,
        help="save an SVG of the screen (current dir)"),
    # ------------------------------------------------------------------ triggers
    Key("triggers", "toggle", "space", "toggle_trigger", "On/Off", mutating=True,
        help="enable or disable the selected trigger"),
    Key("triggers", "detail", "enter", "detail", "Detail",
        help="spec, arguments, settings, next fires, recent runs"),
    Key("triggers", "run_now", "r", "run_now", "Run now", mutating=True,
        help="run the selected schedule trigger now"),
    Key("triggers", "delete", "d,ctrl+d", "delete_trigger", "Delete", mutating=True,
        help="delete the selected trigger (asks first)"),
    Key("triggers", "sort", "s", "sort_next", "Sort", help="sort by the next column"),
    Key("triggers", "sort_reverse", "S", "sort_reverse", "Reverse", show=False, help="reverse the sort order"),
    Key("triggers", "filter", "slash", "filter", "Filter", display="/",
        help="show only triggers containing the text"),
    Key("triggers", "clear", "escape", "clear_filter", "Clear", show=False, palette=False,
        help="clear the filter"),
    # ------------------------------------------------------------------ activations
    Key("activations", "detail", "enter", "detail", "Detail",
        help="input, writes, logs, error and traceback"),
    Key("activations", "retry", "R", "retry", "Retry", mutating=True,
        help="run a failed activation again, same input"),
    Key("activations", "follow", "f", "toggle_follow", "Follow",
        help="newest first, or follow (newest at the bottom)"),
    Key("activations", "status", "e", "cycle_status", "Status",
        help="show all / errors only / ok only"),
    Key("activations", "filter", "slash", "filter", "Filter", display="/",
        help="show only triggers whose name contains it"),
    Key("activations", "clear", "escape", "clear_filter", "Clear", show=False, palette=False,
        help="clear the filters"),
    # ------------------------------------------------------------------ performance
    Key("performance", "detail", "enter", "detail", "Detail", help="the selected trigger's detail"),
    # ------------------------------------------------------------------ logs
    Key("logs", "info", "i", "toggle_level('INFO')", "INFO", help="show or hide INFO lines"),
    Key("logs", "warn", "w", "toggle_level('WARN')", "WARN", help="show or hide WARN lines"),
    Key("logs", "error", "e", "toggle_level('ERROR')", "ERROR", help="show or hide ERROR lines"),
    Key("logs", "search", "slash", "search", "Search", display="/", help="highlight lines containing the text"),
    Key("logs", "next", "n", "next_match", "Next", show=False, help="scroll to the next search match"),
    Key("logs", "prev", "N", "prev_match", "Prev", show=False, help="scroll to the previous search match"),
    Key("logs", "trigger", "t", "filter_trigger", "Trigger",
        help="show only lines of matching triggers"),
    Key("logs", "follow", "f", "follow", "Follow", help="jump to the newest line and follow"),
    Key("logs", "clear_view", "c", "clear_view", "Clear", show=False, help="clear the view (not the engine's logs)"),
    Key("logs", "clear", "escape", "clear_filter", "Clear", show=False, palette=False,
        help="clear search and trigger filter"),
    # ------------------------------------------------------------------ caches
    Key("caches", "value", "enter", "value", "Value",
        help="the full value, or a system cache's row"),
    Key("caches", "delete_key", "d,delete", "delete_key", "Delete key", mutating=True,
        help="delete the selected key"),
    Key("caches", "clear_scope", "C", "clear_scope", "Clear scope", mutating=True,
        help="remove every key of the scope (asks first)"),
    Key("caches", "system", "s", "show_system", "System",
        help="the last-value and distinct-value caches"),
    Key("caches", "scopes", "s", "show_scopes", "Scopes", help="back to the plugin cache scopes"),
    Key("caches", "expand_all", "e", "expand_all", "Expand all",
        help="open or close the whole system cache tree"),
    Key("caches", "switch", "tab", "switch_table", "Scopes/keys", show=False, palette=False,
        help="between a cache list and its keys or tree"),
    # ------------------------------------------------------------------ plugins
    Key("plugins", "triggers", "enter", "show_users", "Triggers",
        help="the triggers using it, in the Triggers pane"),
)

BY_ID = {k.id: k for k in KEYS}


def keys_for(scope: str) -> list[Key]:
    return [k for k in KEYS if k.scope == scope]


def bindings(scope: str) -> list[BindingType]:
    return [k.binding() for k in keys_for(scope)]


MUTATING: dict[str, frozenset[str]] = {
    s: frozenset(k.action_name for k in KEYS if k.scope == s and k.mutating) for s in SCOPES
}
