"""Caches: every cache scope (global, one per trigger; system caches plug in through
bridge.CacheProvider) and the keys of the selected scope with type, size, TTL and a preview."""
from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from .. import fmt
from ..model import CacheKey, CacheScope, Tick
from ..widgets import KeyedTable, right, styled
from .base import Pane

_SCOPE_COLUMNS = [("scope", "SCOPE", 24), ("kind", "KIND", 7), ("keys", "KEYS", 6), ("size", "SIZE", 7)]
_KEY_COLUMNS = [("key", "KEY", 24), ("type", "TYPE", 8), ("size", "SIZE", 7), ("ttl", "TTL", 7),
                ("preview", "VALUE", 46)]
_KIND_STYLE = {"global": "bold cyan", "trigger": "", "system": "magenta", "test": "dim"}


class CachesPane(Pane):
    SCOPE = "caches"
    TITLE = "Caches"
    min_repaint_interval = 1.0  # TTLs count down

    def __init__(self) -> None:
        super().__init__()
        self.scopes: dict[str, CacheScope] = {}
        self.scope_id: str | None = None
        self.collected_at = 0.0

    def compose(self) -> ComposeResult:
        with Horizontal(id="caches-body"):
            with Vertical(id="caches-left"):
                yield Static(id="caches-info", classes="pane-info")
                yield KeyedTable(_SCOPE_COLUMNS, id="caches-scopes")
            with Vertical(id="caches-right"):
                yield Static(id="caches-keys-info", classes="pane-info")
                yield KeyedTable(_KEY_COLUMNS, id="caches-keys")

    @property
    def scope_table(self) -> KeyedTable:
        return self.query_one("#caches-scopes", KeyedTable)

    @property
    def key_table(self) -> KeyedTable:
        return self.query_one("#caches-keys", KeyedTable)

    def main_widget(self) -> KeyedTable:
        return self.scope_table

    # ------------------------------------------------------------------ model
    def absorb(self, tick: Tick) -> None:
        if tick.caches is not None:
            self.scopes = {s.id: s for s in tick.caches}
            self.collected_at = tick.at
            if self.scope_id not in self.scopes:
                self.scope_id = next(iter(self.scopes), None)
            self.dirty = True

    def scope(self) -> CacheScope | None:
        return self.scopes.get(self.scope_id or "")

    def selected_key(self) -> CacheKey | None:
        s = self.scope()
        k = self.key_table.selected_key()
        if s is None or k is None:
            return None
        return next((e for e in s.keys if e.key == k), None)

    # ------------------------------------------------------------------ paint
    def repaint(self) -> None:
        rows = {
            sid: (
                styled(s.label, _KIND_STYLE.get(s.kind, "")),
                styled(s.kind, "dim"),
                right(fmt.count(s.total_keys)),
                right(fmt.size(s.approx_bytes)),
            )
            for sid, s in self.scopes.items()
        }
        self.scope_table.sync(rows)
        if self.scope_id is not None:
            self.scope_table.select_key(self.scope_id, scroll=False)
        total = sum(s.total_keys for s in self.scopes.values())
        self.query_one("#caches-info", Static).update(
            Text.assemble((f"{len(self.scopes)} scopes", "bold"), (f" · {fmt.count(total)} keys", "dim")), layout=False)
        self._paint_keys()

    def _paint_keys(self) -> None:
        s = self.scope()
        info = self.query_one("#caches-keys-info", Static)
        if s is None:
            self.key_table.sync({})
            info.update(Text("no cache scope", style="dim"), layout=False)
            return
        # TTLs count down between collections: show them relative to the console clock
        elapsed = max(0.0, self.console.now() - self.collected_at)
        rows = {}
        for k in s.keys:
            ttl = None if k.ttl_remaining is None else max(0.0, k.ttl_remaining - elapsed)
            rows[k.key] = (
                styled(k.key, "bold"),
                styled(k.type_name, "cyan"),
                right(fmt.size(k.size_bytes)),
                right(fmt.ttl(ttl), "yellow" if ttl is not None and ttl < 10 else ""),
                styled(fmt.one_line(k.preview, 200), "dim"),
            )
        self.key_table.sync(rows)
        t = Text(no_wrap=True)
        t.append(s.label, style="bold")
        t.append(f" · {s.kind} scope · {s.provider} cache", style="dim")
        shown = len(s.keys)
        t.append(f" · {shown:,} keys" if shown == s.total_keys else f" · showing {shown:,} of {s.total_keys:,} keys",
                 style="dim")
        info.update(t, layout=False)

    # ------------------------------------------------------------------ events
    @on(DataTable.RowHighlighted, "#caches-scopes")
    def _scope_highlighted(self, event: DataTable.RowHighlighted) -> None:
        sid = event.row_key.value if event.row_key else None
        if sid and sid != self.scope_id:
            self.scope_id = sid
            self._paint_keys()
        self.maybe_refresh_bindings()

    @on(DataTable.RowHighlighted, "#caches-keys")
    def _key_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.maybe_refresh_bindings()

    @on(DataTable.RowSelected)
    def _clicked(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "caches-keys":
            self.action_value()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        if action == "delete_key":
            return None if self.selected_key() is None or not self.key_table.has_focus else True
        if action == "clear_scope":
            s = self.scope()
            return None if s is None or not s.total_keys or s.provider != "plugin" else True
        return True

    def action_value(self) -> None:
        if self.scope_table.has_focus:
            self.key_table.focus()
            return
        s, k = self.scope(), self.selected_key()
        if s is not None and k is not None:
            self.console.open_cache_value(s.id, s.label, k.key)

    def action_delete_key(self) -> None:
        s, k = self.scope(), self.selected_key()
        if s is not None and k is not None:
            self.console.engine_action("delete cache key", self.console.source.delete_cache_key, s.id, k.key)

    def action_clear_scope(self) -> None:
        s = self.scope()
        if s is None:
            return
        self.console.confirm(
            f"Clear cache scope {s.label}?",
            f"All {s.total_keys:,} key(s) of the {s.kind} scope are removed. "
            "Plugins see an empty cache from their next run.",
            lambda: self.console.engine_action("clear cache scope", self.console.source.clear_cache_scope, s.id),
            yes="Clear",
        )

    def action_switch_table(self) -> None:
        (self.key_table if self.scope_table.has_focus else self.scope_table).focus()
