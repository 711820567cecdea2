"""Caches: the plugin cache scopes (global, one per trigger) with their keys, and the engine's
system caches (last-value and distinct-value caches) with the selected one's contents as a tree.

Left: the plugin scopes, and under them the "system caches" section (`s` goes to the one not
shown, or click). Right: the keys of the selected plugin scope (type, size, TTL, preview), or the
contents of the selected system cache as a `Tree`: one level per key column (LVC) or per column
of the hierarchy (DVC); an LVC's leaves are its cached rows (compact `col=value` pairs, time as
ISO, age since cached), a DVC's leaves its combinations with the age of the data last seen.

Live, and cheap: the source sends the contents of the one system cache on screen only, only
when it changed (`select_value_cache`); the tree is diff-updated by node path, so expanded
nodes, the cursor and the scroll position stay where they are while the values move.
"""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode

from ... import fmt
from ...messages import ClearCacheScope, DeleteCacheKey, SelectValueCache, ShowCacheValue
from ...model import (
    CacheKey,
    CacheScope,
    Tick,
    ValueCacheContents,
    ValueCacheItem,
    ValueCacheRow,
)
from ...screens.cache_value import CacheValueScreen
from ...widgets import KeyedTable, right, styled
from ..base import Pane
from .format import cache_info, compact, full_row, short_count
from .kinds import ORDER, VIEWS, view_of
from .tree import AUTO_EXPAND_LEAVES, TreeData, ValueTree, tree_model

_SCOPE_COLUMNS = [("scope", "SCOPE", 24), ("kind", "KIND", 7), ("keys", "KEYS", 6), ("size", "SIZE", 7)]
_KEY_COLUMNS = [("key", "KEY", 24), ("type", "TYPE", 8), ("size", "SIZE", 7), ("ttl", "TTL", 7),
                ("preview", "VALUE", 42)]
_SYSTEM_COLUMNS = [("cache", "CACHE", 20), ("kind", "KIND", 4), ("keys", "KEYS", 4), ("columns", "COLUMNS", 11),
                   ("limit", "LIMIT", 7)]
_KIND_STYLE = {"global": "bold cyan", "trigger": "", "system": "magenta", "test": "dim"}


class CachesPane(Pane):
    SCOPE = "caches"
    TITLE = "Caches"
    min_repaint_interval = 1.0  # TTLs count down, ages grow

    def __init__(self) -> None:
        super().__init__()
        self.scopes: dict[str, CacheScope] = {}
        self.scope_id: str | None = None
        self.collected_at = 0.0
        # system caches (engine.value_caches)
        self.section = "plugin"  # which list the right side shows: "plugin" scopes or "system" caches
        self.system: dict[str, ValueCacheRow] = {}  # in display order: LVCs first
        self.system_id: str | None = None
        self.contents: ValueCacheContents | None = None  # of system_id, when it came
        self._shown = False
        self._source_selection: str | None = None
        self._by_path: dict[tuple, TreeNode[TreeData]] = {}
        self._path_labels: dict[tuple, Text] = {}
        self._tree_for: str | None = None  # the cache the tree's nodes belong to
        self._auto_expand = False
        self._first_sync = True  # the next sync with contents decides expansion and cursor
        # per cache left: (expanded paths, every expandable path, cursor path), restored on return
        self._saved: dict[str, tuple[set[tuple], set[tuple], tuple | None]] = {}

    def compose(self) -> ComposeResult:
        # Every focusable widget sits in a box of its own: when the focused one is hidden (another
        # tab, the other section), Textual hands the focus to a focusable *sibling*, which would
        # pull the console back to this pane.
        with Horizontal(id="caches-body"):
            with Vertical(id="caches-left"):
                with Vertical(id="caches-plugin-box"):
                    yield Static(id="caches-info", classes="pane-info")
                    yield KeyedTable(_SCOPE_COLUMNS, id="caches-scopes")
                with Vertical(id="caches-system-box"):
                    yield Static(id="caches-system-info", classes="pane-info")
                    yield KeyedTable(_SYSTEM_COLUMNS, id="caches-system")
            with Vertical(id="caches-right"):
                yield Static(id="caches-keys-info", classes="pane-info")
                with Vertical(id="caches-keys-box"):
                    yield KeyedTable(_KEY_COLUMNS, id="caches-keys")
                with Vertical(id="caches-tree-box"):
                    tree = ValueTree("system cache", id="caches-tree")
                    tree.show_root = False
                    tree.guide_depth = 3
                    yield tree

    def on_mount(self) -> None:
        self.system_table.show_cursor = False
        self.query_one("#caches-info").add_class("-active")

    @property
    def scope_table(self) -> KeyedTable:
        return self.query_one("#caches-scopes", KeyedTable)

    @property
    def key_table(self) -> KeyedTable:
        return self.query_one("#caches-keys", KeyedTable)

    @property
    def system_table(self) -> KeyedTable:
        return self.query_one("#caches-system", KeyedTable)

    @property
    def value_tree(self) -> ValueTree:
        return self.query_one("#caches-tree", ValueTree)

    def main_widget(self) -> KeyedTable:
        return self.system_table if self.section == "system" else self.scope_table

    # ------------------------------------------------------------------ model
    def absorb(self, tick: Tick) -> None:
        if tick.caches is not None:
            self.scopes = {s.id: s for s in tick.caches}
            self.collected_at = tick.at
            if self.scope_id not in self.scopes:
                self.scope_id = next(iter(self.scopes), None)
            self.dirty = True
        if tick.value_caches is not None:
            rows = sorted(tick.value_caches, key=lambda r: (ORDER.get(r.kind, len(ORDER)), r.db, r.table, r.name))
            self.system = {r.id: r for r in rows}
            if self.system_id not in self.system:
                self._select_system(next(iter(self.system), None))
            self.dirty = True
        c = tick.value_cache
        if c is not None and c.id == self.system_id:
            self.contents = c
            self.dirty = True

    def scope(self) -> CacheScope | None:
        return self.scopes.get(self.scope_id or "")

    def selected_key(self) -> CacheKey | None:
        s = self.scope()
        k = self.key_table.selected_key()
        if s is None or k is None:
            return None
        return next((e for e in s.keys if e.key == k), None)

    def system_cache(self) -> ValueCacheRow | None:
        return self.system.get(self.system_id or "")

    def selected_node(self) -> TreeNode[TreeData] | None:
        if self.section != "system":
            return None
        node = self.value_tree.cursor_node
        return node if node is not None and node.data is not None else None

    def _select_system(self, cache_id: str | None) -> None:
        """Show another system cache: its tree starts afresh (the old one's expanded nodes and
        cursor are kept for when it comes back) and the source is told what to send."""
        if cache_id == self.system_id:
            return
        self._save_tree_state()
        self.system_id = cache_id
        self.contents = None
        self.dirty = True
        self._update_source_selection()

    def _update_source_selection(self) -> None:
        """Ask the source for the contents of the system cache on screen (None: none is)."""
        want = self.system_id if self.section == "system" and self._shown else None
        if want == self._source_selection:
            return
        self._source_selection = want
        self.post_message(SelectValueCache(want))

    def _set_section(self, section: str) -> None:
        if section == self.section:
            return
        self.section = section
        system = section == "system"
        self.query_one("#caches-right").set_class(system, "-system")
        self.query_one("#caches-system-info").set_class(system, "-active")
        self.query_one("#caches-info").set_class(not system, "-active")
        self.scope_table.show_cursor = not system
        self.system_table.show_cursor = system
        self._update_source_selection()
        self.repaint_if_needed(force=True)
        self.maybe_refresh_bindings()

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
        self._paint_system_list()
        if self.section == "system":
            self._paint_tree()
        else:
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

    def _paint_system_list(self) -> None:
        rows = {}
        for r in self.system.values():
            view = view_of(r)
            rows[r.id] = (
                styled(r.label, "bold" if r.id == self.system_id and self.section == "system" else ""),
                styled(view.short, view.style),
                right(short_count(r.keys)),
                styled(",".join(r.columns) or "-", "dim"),
                styled(view.limit(r), "dim"),
            )
        table = self.system_table
        table.sync(rows)
        if self.system_id is not None:
            table.select_key(self.system_id, scroll=False)
        t = Text(no_wrap=True)
        t.append("system caches", style="bold")
        if self.system:
            counts = [(v.adjective, sum(1 for r in self.system.values() if view_of(r) is v)) for v in VIEWS.values()]
            t.append("".join(f" · {n} {adjective}" for adjective, n in counts), style="dim")
        else:
            t.append(" · none (pe create last_cache | distinct_cache)", style="dim")
        self.query_one("#caches-system-info", Static).update(t, layout=False)

    def _paint_tree(self) -> None:
        info = self.query_one("#caches-keys-info", Static)
        row = self.system_cache()
        if self._tree_for != self.system_id:
            self._reset_tree()
        if row is None:
            info.update(Text("no system cache: create one with `pe create last_cache` or `pe create distinct_cache`",
                             style="dim"), layout=False)
            self._sync_tree({}, first=False)
            return
        info.update(cache_info(row, self.contents), layout=False)
        first = self._first_sync and self.contents is not None
        self._sync_tree(tree_model(row, self.contents, self.console.now()), first=first)
        if first:
            self._first_sync = False

    # ------------------------------------------------------------------ the tree, diff-updated
    def _reset_tree(self) -> None:
        self.value_tree.clear()
        self._by_path, self._path_labels = {}, {}
        self._tree_for = self.system_id
        self._auto_expand = False
        self._first_sync = True

    def _save_tree_state(self) -> None:
        if self._tree_for is None or not self._by_path:
            return
        inner = {p for p, n in self._by_path.items() if n.allow_expand}
        expanded = {p for p in inner if self._by_path[p].is_expanded}
        cursor = self.value_tree.cursor_node
        self._saved[self._tree_for] = (expanded, inner, cursor.data.path if cursor is not None and cursor.data else None)

    def _sync_tree(self, want: dict[tuple, tuple[Text, bool, TreeData]], *, first: bool) -> None:
        """Make the tree show exactly `want` (path -> label, leaf, data; parents before children,
        siblings in order): nodes are added, relabelled or removed, never rebuilt, so what the
        operator expanded stays expanded and the cursor stays on its node and screen line."""
        tree, nodes, labels = self.value_tree, self._by_path, self._path_labels
        saved = self._saved.get(self._tree_for or "") if first else None
        if first:
            leaves = sum(1 for _, leaf, _ in want.values() if leaf)
            self._auto_expand = leaves <= AUTO_EXPAND_LEAVES
        cursor = tree.cursor_node
        cursor_path = cursor.data.path if cursor is not None and cursor.data is not None else None
        offset = cursor.line - tree.scroll_offset.y if cursor is not None and cursor.line >= 0 else None
        changed = False
        gone = [p for p in nodes if p not in want]
        if gone:
            changed = True
            gone_set = set(gone)
            for p in sorted(gone, key=len):
                if p[:-1] in gone_set:
                    continue  # went with its parent
                nodes[p].remove()
            for p in gone:
                del nodes[p]
                labels.pop(p, None)
        last_child: dict[tuple, TreeNode[TreeData]] = {}
        for p, (label, leaf, data) in want.items():
            parent = p[:-1]
            node = nodes.get(p)
            if node is None:
                pnode = nodes.get(parent, tree.root) if parent else tree.root
                prev = last_child.get(parent)
                where: dict[str, Any] = {"after": prev} if prev is not None else {"before": 0}
                if leaf:
                    node = pnode.add_leaf(label, data, **where)
                else:
                    if saved is not None and p in saved[1]:  # known: as the operator left it
                        expand = p in saved[0]
                    else:
                        expand = self._auto_expand
                    node = pnode.add(label, data, expand=expand, **where)
                nodes[p] = node
                labels[p] = label
                changed = True
            else:
                if labels.get(p) != label:
                    node.set_label(label)
                    labels[p] = label
                node.data = data
            last_child[parent] = node
        if first:
            target = nodes.get(saved[2]) if saved is not None and saved[2] is not None else None
            tree.get_node_at_line(0)  # lay the lines out now, so node lines are current
            tree.move_cursor(target or next(iter(nodes.values()), None))
            return
        if not changed:
            return
        tree.get_node_at_line(0)  # lay the lines out now, so node lines are current
        if cursor_path is not None and cursor_path not in nodes:
            # the node under the cursor went: its nearest surviving ancestor takes the cursor
            survivor = next((nodes[cursor_path[:i]] for i in range(len(cursor_path) - 1, 0, -1)
                             if cursor_path[:i] in nodes), None)
            tree.move_cursor(survivor or next(iter(nodes.values()), None))
        node = tree.cursor_node
        if offset is not None and node is not None and node.line >= 0 and node.line - tree.scroll_offset.y != offset:
            tree.scroll_to(y=max(0, node.line - offset), animate=False, immediate=True)

    # ------------------------------------------------------------------ events
    def on_show(self) -> None:
        self._shown = True
        self._update_source_selection()

    def on_hide(self) -> None:
        self._shown = False
        self._update_source_selection()

    @on(events.DescendantFocus)
    def _focused(self, event: events.DescendantFocus) -> None:
        if event.widget is self.scope_table:
            self._set_section("plugin")
        elif event.widget is self.system_table:
            self._set_section("system")

    @on(DataTable.RowHighlighted, "#caches-scopes")
    def _scope_highlighted(self, event: DataTable.RowHighlighted) -> None:
        sid = event.row_key.value if event.row_key else None
        if sid and sid != self.scope_id:
            self.scope_id = sid
            self._paint_keys()
        self.maybe_refresh_bindings()

    @on(DataTable.RowHighlighted, "#caches-system")
    def _system_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != event.data_table.cursor_row:
            return  # a stale highlight (rows were synced since)
        sid = event.row_key.value if event.row_key else None
        if sid and sid != self.system_id:
            self._select_system(sid)
            if self.section == "system":
                self.repaint_if_needed(force=True)
        self.maybe_refresh_bindings()

    @on(DataTable.RowHighlighted, "#caches-keys")
    def _key_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.maybe_refresh_bindings()

    @on(Tree.NodeHighlighted, "#caches-tree")
    def _node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        self.maybe_refresh_bindings()

    @on(DataTable.RowSelected)
    def _clicked(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "caches-keys":
            self.action_value()
        elif event.data_table.id == "caches-system":
            self.value_tree.focus()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        system = self.section == "system"
        if action == "delete_key":
            if system:
                return False  # system caches are deleted with the CLI or the HTTP API
            return None if self.selected_key() is None or not self.key_table.has_focus else True
        if action == "clear_scope":
            if system:
                return False
            s = self.scope()
            return None if s is None or not s.total_keys or s.provider != "plugin" else True
        if action == "show_system":
            return not system
        if action == "show_scopes":
            return system
        if action == "expand_all":
            return (True if self._by_path else None) if system else False
        if action == "value" and system and self.value_tree.has_focus:
            node = self.selected_node()
            has_item = node is not None and node.data is not None and node.data.item is not None
            return None if node is None or not (node.allow_expand or has_item) else True
        return True

    def action_value(self) -> None:
        if self.scope_table.has_focus:
            self.key_table.focus()
            return
        if self.system_table.has_focus:
            self.value_tree.focus()
            return
        if self.value_tree.has_focus:
            node = self.selected_node()
            if node is None:
                return
            if node.allow_expand:
                node.toggle()
            elif node.data is not None and node.data.item is not None:
                self._open_item(node.data.item)
            return
        s, k = self.scope(), self.selected_key()
        if s is not None and k is not None:
            self.post_message(ShowCacheValue(s.id, s.label, k.key))

    def _open_item(self, item: ValueCacheItem) -> None:
        row = self.system_cache()
        if row is None:
            return
        now = self.console.now()
        age = item.age + max(0.0, now - self.contents.at) if self.contents is not None else item.age
        key = ", ".join(f"{c}={compact(v)}" for c, v in zip(row.columns, item.key)) or "(no key columns)"
        self.console.push_screen(CacheValueScreen(row.label, key, full_row(row, item, age)))

    def action_delete_key(self) -> None:
        s, k = self.scope(), self.selected_key()
        if s is not None and k is not None:
            self.post_message(DeleteCacheKey(s.id, k.key))

    def action_clear_scope(self) -> None:
        s = self.scope()
        if s is None:
            return
        self.post_message(ClearCacheScope(s.id, s.label, s.kind, s.total_keys))

    def action_switch_table(self) -> None:
        if self.section == "system":
            (self.value_tree if self.system_table.has_focus else self.system_table).focus()
        else:
            (self.key_table if self.scope_table.has_focus else self.scope_table).focus()

    def action_show_system(self) -> None:
        self._set_section("system")  # now: a focus_main still pending must pick this section too
        self.system_table.focus()

    def action_show_scopes(self) -> None:
        self._set_section("plugin")
        self.scope_table.focus()

    def action_expand_all(self) -> None:
        inner = [n for n in self._by_path.values() if n.allow_expand]
        if not inner:
            return
        expand = any(not n.is_expanded for n in inner)
        for n in inner:
            if expand:
                n.expand()
            else:
                n.collapse()
