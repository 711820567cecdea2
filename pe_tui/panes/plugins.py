"""Plugins: files in the plugin directory, the version served (content hash), version history,
the triggers using each, the last load error, and where plugins run (threads of the server or
a pool of worker processes: workers, replaced, pids)."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from .. import fmt
from ..messages import ShowTriggersUsing
from ..model import PluginRow, StatusInfo, Tick
from ..widgets import ISOLATION_STYLE, KeyedTable, right, styled
from .base import Pane

_COLUMNS = [
    ("file", "FILE", 21),
    ("kind", "KIND", 5),
    ("version", "VERSION", 12),
    ("versions", "VERS", 5),
    ("users", "USED BY", 24),
    ("size", "SIZE", 7),
    ("modified", "CHANGED", 7),
    ("status", "STATUS", 10),
]


class PluginsPane(Pane):
    SCOPE = "plugins"
    TITLE = "Plugins"
    min_repaint_interval = 5.0  # "modified 3m ago"

    def __init__(self) -> None:
        super().__init__()
        self.plugins: dict[str, PluginRow] = {}
        self.status: StatusInfo | None = None
        self._placement: tuple | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="plugins-body"):
            with Vertical(id="plugins-left"):
                yield Static(id="plugins-info", classes="pane-info")
                yield KeyedTable(_COLUMNS, id="plugins-table")
            with VerticalScroll(id="plugins-right"):
                yield Static(id="plugins-detail")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#plugins-table", KeyedTable)

    def main_widget(self) -> KeyedTable:
        return self.table

    def absorb(self, tick: Tick) -> None:
        if tick.plugins is not None:
            self.plugins = {p.filename: p for p in tick.plugins}
            self.dirty = True
        st = tick.status
        placement = (st.plugin_isolation, st.workers, st.workers_max, st.workers_started, st.workers_replaced,
                     tuple(st.worker_pids))
        if placement != self._placement:
            self._placement = placement
            self.status = st
            self.dirty = True

    def selected(self) -> PluginRow | None:
        k = self.table.selected_key()
        return self.plugins.get(k) if k else None

    def repaint(self) -> None:
        now = self.console.now()
        rows = {}
        for name, p in sorted(self.plugins.items()):
            rows[name] = (
                styled(name, "bold"),
                styled(p.kind or "-", "dim"),
                styled((p.content_hash or "-")[:12], "cyan"),
                right(len(p.versions)),
                styled(", ".join(p.users) or "-", "" if p.users else "dim"),
                right(fmt.size(p.size_bytes)),
                right(fmt.ago(p.last_modified, now).removesuffix(" ago")),
                styled("load error" if p.last_error else "ok", "bold red" if p.last_error else "green"),
            )
        self.table.sync(rows)
        errors = sum(1 for p in self.plugins.values() if p.last_error)
        t = Text.assemble((f"{len(self.plugins)} plugins", "bold"),
                          (f" · {sum(len(p.versions) for p in self.plugins.values())} versions seen", "dim"))
        if errors:
            t.append(f" · {errors} with a load error", style="bold red")
        st = self.status
        if st is not None and st.workers is not None:
            t.append(f" · {st.workers}/{st.workers_max} worker processes", style="cyan")
            if st.workers_replaced:
                t.append(f" · {st.workers_replaced:,} replaced", style="bold red")
        self.query_one("#plugins-info", Static).update(t, layout=False)
        self._paint_detail()

    def _placement_text(self) -> Text:
        """Where plugins run: the server's default isolation and the worker pool, when one runs."""
        st = self.status
        t = Text("\nwhere plugins run\n", style="bold")
        if st is None:
            t.append("  -\n", style="dim")
            return t
        t.append("  default  ", style="dim")
        t.append("worker processes" if st.plugin_isolation == "process" else "threads of the server",
                 style=ISOLATION_STYLE.get(st.plugin_isolation, ""))
        t.append(" (--plugin-isolation)\n", style="dim")
        if st.workers is None:
            t.append("  workers  ", style="dim")
            t.append("none started\n", style="dim")
            return t
        t.append("  workers  ", style="dim")
        t.append(f"{st.workers} of {st.workers_max}", style="cyan")
        t.append(f" · {st.workers_started:,} started · ", style="dim")
        t.append(f"{st.workers_replaced:,} replaced", style="bold red" if st.workers_replaced else "dim")
        t.append("\n")
        if st.worker_pids:
            t.append("  pids     ", style="dim")
            t.append(" ".join(str(p) for p in st.worker_pids) + "\n")
        return t

    def _paint_detail(self) -> None:
        p = self.selected()
        box = self.query_one("#plugins-detail", Static)
        if p is None:
            box.update(Group(Text("no plugin selected", style="dim"), self._placement_text()))
            return
        tz = self.console.tz
        head = Text()
        head.append(p.filename + "\n", style="bold")
        head.append(f"{p.kind or '?'} plugin · source {p.source or '-'} · {fmt.size(p.size_bytes)}\n", style="dim")
        head.append("serving ", style="dim")
        head.append(p.content_hash or "nothing (never loaded)", style="cyan")
        users = Text("\nused by\n", style="bold")
        for u in p.users or ["(no trigger)"]:
            users.append(f"  {u}\n", style="" if p.users else "dim")
        hist = Table(title="version history", title_justify="left", title_style="bold", box=None,
                     padding=(0, 1), show_edge=False)
        hist.add_column("hash", style="cyan")
        hist.add_column("first seen")
        hist.add_column("source", style="dim")
        hist.add_column("size", justify="right")
        for v in reversed(p.versions):
            mark = " ◀" if v.content_hash == p.content_hash else ""
            hist.add_row(v.content_hash[:12] + mark, fmt.short_stamp(v.first_seen, tz), v.source, fmt.size(v.size_bytes))
        parts: list = [head, users, hist, self._placement_text()]
        if p.last_error:
            parts.append(Text("\nlast load error (the last good version keeps running)", style="bold red"))
            parts.append(Text(p.last_error, style="red"))
        box.update(Group(*parts))

    @on(DataTable.RowHighlighted, "#plugins-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._paint_detail()

    def action_show_users(self) -> None:
        p = self.selected()
        if p is not None and p.users:
            self.post_message(ShowTriggersUsing(p.filename))
