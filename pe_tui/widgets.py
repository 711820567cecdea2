"""Widgets shared by the panes: a keyed, diff-updated DataTable, the status bar, the filter bar."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Sparkline, Static
from textual.widgets._data_table import RowKey  # public type, private module path

from pe_engine.processing.activations import ERROR_STATUSES

from . import fmt
from .model import StatusInfo

Cells = tuple[Any, ...]

#: above this many removals in one sync, remove them in one pass (remove_row is O(rows) each)
_BULK_ABOVE = 8


class KeyedTable(DataTable):
    """A row-cursor DataTable updated by diff: rows are identified by key, only
    changed cells are touched, inside one `batch_update`, and the cursor stays on
    the same row when rows move. Never cleared and rebuilt on a timer.

    `enter` is left to the pane (its Binding shows in the footer and help), so
    the table's own select binding is switched off here.
    """

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, columns: Sequence[tuple[str, str, int | None]], **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self._spec = list(columns)
        self._cells: dict[str, Cells] = {}
        self._order: list[str] = []
        self.column_keys = [key for key, _, _ in columns]
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor":
            return False  # the pane's `enter` binding opens the detail
        return super().check_action(action, parameters)

    # ---------------------------------------------------------------- reading
    @property
    def keys(self) -> list[str]:
        return list(self._order)

    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0:
            return None
        try:
            rk = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 -- empty table, cursor out of range
            return None
        return rk.value

    def select_key(self, key: str, scroll: bool = True) -> bool:
        if key not in self._cells:
            return False
        idx = self.get_row_index(key)
        if idx != self.cursor_row:
            self.move_cursor(row=idx, animate=False, scroll=scroll)
        return True

    def set_label(self, column_key: str, label: str) -> None:
        """Change a header label (same width: labels carry room for a sort arrow)."""
        col = self.columns.get(column_key)  # type: ignore[call-overload]
        if col is not None and col.label.plain != label:
            col.label = Text(label)
            self.refresh()

    # ---------------------------------------------------------------- writing
    def sync(self, rows: dict[str, Cells], order: Sequence[str] | None = None, *, pin_top: bool = False) -> bool:
        """Make the table show exactly `rows` (key -> cells) in `order` (default: insertion order).

        `pin_top`: a cursor on the first row stays on the first row (newest-first feeds).
        Returns True when anything changed.
        """
        order = list(rows) if order is None else [k for k in order if k in rows]
        old = self._cells
        sel = self.selected_key()
        sel_idx = self.cursor_row
        doomed = [k for k in old if k not in rows]
        changed = bool(doomed)
        with self.app.batch_update():
            if len(doomed) > _BULK_ABOVE:
                self._remove_rows(doomed)
            else:
                for k in doomed:
                    self.remove_row(k)
            for k in doomed:
                del old[k]
            cols = self.column_keys
            for k in order:
                cells = rows[k]
                prev = old.get(k)
                if prev is None:
                    self.add_row(*cells, key=k)
                    old[k] = cells
                    changed = True
                elif prev != cells:
                    for ck, a, b in zip(cols, prev, cells):
                        if a != b:
                            self.update_cell(k, ck, b)
                    old[k] = cells
                    changed = True
            if [rk.value for rk in self._current_order()] != order:
                self._reorder(order)
                changed = True
            self._order = order
            if sel is not None and sel in old:
                if pin_top and sel_idx == 0:
                    if self.cursor_row != 0:
                        self.move_cursor(row=0, animate=False)
                else:
                    self.select_key(sel, scroll=False)
        return changed

    def _remove_rows(self, keys: list[str]) -> None:
        """remove_row for many keys at once: one re-index instead of one per row (what
        DataTable.remove_row does, batched)."""
        from textual._two_way_dict import TwoWayDict
        from textual.widgets._data_table import CellKey

        doomed = set(keys)
        remaining = [row.key for row in self.ordered_rows if row.key.value not in doomed]
        for rk in [rk for rk in self.rows if rk.value in doomed]:
            for column_key in self._data.get(rk, {}):
                self._updated_cells.discard(CellKey(rk, column_key))
            del self.rows[rk]
            del self._data[rk]
        self._row_locations = TwoWayDict({rk: i for i, rk in enumerate(remaining)})
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.check_idle()
        self.refresh(layout=True)

    def _current_order(self) -> list[RowKey]:
        return [row.key for row in self.ordered_rows]

    def _reorder(self, order: list[str]) -> None:
        """What DataTable.sort does, with an order we computed from the model (cells
        are display strings: "12ms" does not sort)."""
        from textual._two_way_dict import TwoWayDict

        by_value = {rk.value: rk for rk in self.rows}
        self._row_locations = TwoWayDict({by_value[k]: i for i, k in enumerate(order)})
        self._update_count += 1
        self.refresh()


class FilterBar(Horizontal):
    """A one-line input that appears on `/` (or another key) and hides on enter/escape."""

    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; background: $boost; }
    FilterBar.-open { display: block; }
    FilterBar > Label { width: auto; padding: 0 1; color: $accent; text-style: bold; }
    FilterBar > Input { border: none; height: 1; padding: 0; width: 1fr; background: $boost; }
    FilterBar > Input:focus { border: none; }
    """

    class Changed(Message):
        def __init__(self, bar: "FilterBar", mode: str, value: str, final: bool) -> None:
            super().__init__()
            self.bar = bar
            self.mode = mode
            self.value = value
            self.final = final

        @property
        def control(self) -> "FilterBar":
            return self.bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = "filter"
        self._before = ""

    def compose(self) -> ComposeResult:
        yield Label("/", id=f"{self.id}-label" if self.id else None)
        yield Input(placeholder="text (enter: keep, escape: cancel)", id=f"{self.id}-input" if self.id else None)

    def open(self, mode: str, prompt: str, value: str) -> None:
        self.mode = mode
        self._before = value
        self.query_one(Label).update(prompt)
        inp = self.query_one(Input)
        inp.value = value
        inp.cursor_position = len(value)
        self.add_class("-open")
        inp.focus()

    def close(self) -> None:
        self.remove_class("-open")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, self.mode, event.value, final=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()
        self.post_message(self.Changed(self, self.mode, event.value, final=True))

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.close()
            self.post_message(self.Changed(self, self.mode, self._before, final=True))


class StatusBar(Static):
    """The top line: uptime, rates, errors, WAL flush interval, HTTP address, refresh rate, the
    plugin worker processes (with process isolation), PAUSED."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    StatusBar.-paused { background: $warning 40%; }
    """

    status: reactive[StatusInfo | None] = reactive(None)
    paused: reactive[bool] = reactive(False)
    interval: reactive[float] = reactive(0.25)
    buffered: reactive[tuple[int, int]] = reactive((0, 0))
    read_only: reactive[bool] = reactive(False)

    def watch_paused(self, paused: bool) -> None:
        self.set_class(paused, "-paused")

    def render(self) -> Text:
        """Everything with labels; if that is too wide, without the static flush interval; if
        that is still too wide, every item without its label."""
        full = self._build(compact=False)
        width = self.content_region.width or self.size.width
        if not width or full.cell_len <= width:
            return full
        shorter = self._build(compact=False, optional=False)
        if shorter.cell_len <= width:
            return shorter
        return self._build(compact=True)

    def _build(self, compact: bool, optional: bool = True) -> Text:
        s = self.status
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("pe ", style="bold")
        if self.paused:
            acts, lines = self.buffered
            t.append("❚❚ PAUSED", style="bold reverse")
            t.append(f" +{acts} act +{lines} lines  ", style="bold")
        else:
            t.append("● LIVE  ", style="bold green")
        if self.read_only:
            t.append("READ-ONLY  ", style="bold yellow")
        if s is None:
            t.append("starting…", style="dim")
            return t

        def item(label: str, value: str, style: str = "bold", short: str | None = None) -> None:
            if compact:
                t.append(value, style=style)
                if short:
                    t.append(short, style="dim")
                t.append("  ")
                return
            t.append(label + " ", style="dim")
            t.append(value, style=style)
            t.append("  ")

        item("up", fmt.uptime(s.uptime), short=" up")
        item("writes", f"{fmt.rate(s.writes_per_s)}/s", short=" wr")
        item("lines", f"{fmt.rate(s.lines_per_s)}/s", short=" lines")
        item("act", f"{fmt.rate(s.activations_per_s)}/s", short=" act")
        item("err", f"{s.errors_per_min:.0f}/min", "bold red" if s.errors_per_min else "bold", short=" err")
        if optional or compact:
            item("flush", fmt.seconds(s.wal_flush_interval), short=" flush")
        item("http", (s.http_url or "off").removeprefix("http://"))
        hz = 1.0 / self.interval if self.interval else 0
        item("refresh", f"{hz:g} Hz" if hz >= 1 else f"{self.interval:g}s")
        if s.load_rate is not None:
            item("load", f"{fmt.count(s.load_rate)} lines/s", "bold cyan", short=" load")
        if s.triggers:
            item("triggers", f"{s.triggers_enabled}/{s.triggers}", short=" trig")
        if s.workers is not None:  # a worker pool runs: how many workers, how many were replaced
            item("workers", f"{s.workers}/{s.workers_max}", "bold cyan", short=" wkr")
            if s.workers_replaced:
                item("replaced", f"{s.workers_replaced:,}", "bold red", short=" repl")
        elif s.plugin_isolation != "thread":
            item("plugins", s.plugin_isolation, "bold cyan")
        if s.events_dropped:
            item("dropped", f"{s.events_dropped:,} events", "bold red", short=" dropped")
        t.rstrip()
        return t


def styled(value: Any, style: str = "") -> Text:
    """A table cell: never parsed as markup (plugin names and errors may contain brackets)."""
    return Text(str(value), style=style, no_wrap=True, overflow="ellipsis")


def right(value: Any, style: str = "") -> Text:
    return Text(str(value), style=style, justify="right", no_wrap=True)


STATE_STYLE = {"enabled": "green", "disabled": "dim", "disabled_by_error": "bold red"}
ISOLATION_STYLE = {"thread": "", "process": "cyan"}
STATE_TEXT = {"enabled": "● enabled", "disabled": "○ disabled", "disabled_by_error": "✖ disabled by error"}
# every status the engine counts as an error (error, timeout, memory_limit, cpu_limit, crashed, and
# any it adds later) is styled as one, so a new failure status never shows up as a plain word
STATUS_STYLE = {"ok": "green", "skipped": "yellow", "dropped": "yellow",
                **{status: "bold red" for status in sorted(ERROR_STATUSES)}}
LEVEL_STYLE = {"INFO": "cyan", "WARN": "bold yellow", "ERROR": "bold red"}


def anchored(values: list[float]) -> list[float]:
    """Sparkline data scaled from zero, not from its minimum (a steady 10 ms is not "empty").

    The leading 0 shares a bar with the first points (bars show the max of their points)."""
    return [0.0, *values] if values else []


class SafeSparkline(Sparkline):
    """Sparkline that renders nothing while it has no size (Textual's divides by the width)."""

    def render(self) -> Any:
        if self.size.width <= 0 or self.size.height <= 0:
            return ""
        return super().render()


_KEY_STYLE = Style(bold=True, color="#ffa62b")
_DESC_STYLE = Style()
_OFF_STYLE = Style(dim=True)


class KeyBar(Static):
    """The footer: the active keys as one line of text (clickable).

    Textual's Footer rebuilds one widget per key whenever the bindings change
    (every pane switch, ~90 ms here); this renders the same information as a
    single Text in about a millisecond. Keys come from the screen's active
    bindings, so check_action (read-only, unavailable actions) applies as usual.
    """

    DEFAULT_CSS = """
    KeyBar { height: 1; width: 1fr; background: $panel; color: $text-muted; padding: 0 1;
             link-style: none; link-style-hover: reverse; link-background-hover: $panel; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Any) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        self.update(self.render_keys(), layout=False)

    def render_keys(self) -> Text:
        app = self.app
        seen: set[str] = set()
        t = Text(no_wrap=True, overflow="ellipsis")
        palette = None
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if key == app.COMMAND_PALETTE_BINDING:
                palette = active
                continue
            if not b.show or b.action in seen:
                continue
            seen.add(b.action)
            meta = Style(meta={"@click": f"press_key({key!r})"})
            if active.enabled:
                t.append(app.get_key_display(b), style=_KEY_STYLE + meta)
                t.append(" " + b.description, style=_DESC_STYLE + meta)
            else:
                t.append(app.get_key_display(b), style=_OFF_STYLE + meta)
                t.append(" " + b.description, style=_OFF_STYLE + meta)
            t.append("  ")
        if palette is not None:
            t.append("  ")
            meta = Style(meta={"@click": "app.command_palette"})
            t.append(app.get_key_display(palette.binding), style=_KEY_STYLE + meta)
            t.append(" palette", style=_DESC_STYLE + meta)
        return t

    def action_press_key(self, key: str) -> None:
        self.app.simulate_key(key)
