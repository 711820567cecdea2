"""Triggers: one row per trigger with state, where its plugin runs (thread or worker process), counts,
run-time percentiles, CPU, memory, last and next run."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from .. import fmt
from ..messages import DeleteTrigger, RunTriggerNow, ShowTriggerDetail, ToggleTrigger, TriggerSelected
from ..model import StatusInfo, Tick, TriggerRow
from ..widgets import ISOLATION_STYLE, STATE_STYLE, STATE_TEXT, FilterBar, KeyedTable, right, styled
from .base import Pane

# (column key, header label, width, sort key)
_COLUMNS: list[tuple[str, str, int, Callable[[TriggerRow], Any]]] = [
    ("name", "NAME", 16, lambda r: r.name),
    ("db", "DB", 6, lambda r: r.database),
    ("spec", "SPEC", 15, lambda r: r.spec),
    ("plugin", "PLUGIN", 17, lambda r: r.plugin),
    ("state", "STATE", 19, lambda r: r.state),
    ("mode", "MODE", 6, lambda r: r.mode),
    ("isolation", "RUN IN", 8, lambda r: r.isolation),
    ("runs", "RUNS", 6, lambda r: r.runs),
    ("errors", "ERR", 5, lambda r: r.errors),
    ("p50", "P50", 7, lambda r: r.p50 or 0.0),
    ("p99", "P99", 7, lambda r: r.p99 or 0.0),
    ("cpu", "CPU", 7, lambda r: r.cpu_time),
    ("mem", "MEM", 7, lambda r: r.memory or 0),
    ("last", "LAST", 6, lambda r: r.last_run or 0.0),
    ("next", "NEXT", 6, lambda r: r.next_fire or float("inf")),
]
SORT_COLUMNS = [c[0] for c in _COLUMNS]
_SORT_KEY = {c[0]: c[3] for c in _COLUMNS}
_LABEL = {c[0]: c[1] for c in _COLUMNS}


class TriggersPane(Pane):
    SCOPE = "triggers"
    TITLE = "Triggers"
    min_repaint_interval = 1.0  # "3s ago" / "in 4s" move even when nothing else does

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, TriggerRow] = {}
        self.sort_column = "name"
        self.sort_reverse = False
        self.filter_text = ""
        self.status: StatusInfo | None = None  # where plugins run (server default, worker pool)
        self._placement: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="triggers-info", classes="pane-info")
        yield KeyedTable([(k, f"{label}  ", w) for k, label, w, _ in _COLUMNS], id="triggers-table")
        yield Static(id="triggers-error", classes="pane-foot")
        yield FilterBar(id="triggers-filter")

    def on_mount(self) -> None:
        self._update_sort_labels()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#triggers-table", KeyedTable)

    def main_widget(self) -> KeyedTable:
        return self.table

    # ------------------------------------------------------------------ model
    def absorb(self, tick: Tick) -> None:
        if tick.triggers is not None:
            self.rows = {r.key: r for r in tick.triggers}
            self.dirty = True
        st = tick.status
        placement = (st.plugin_isolation, st.workers, st.workers_max, st.workers_replaced)
        if placement != self._placement:  # the info line says where plugins run
            self._placement = placement
            self.status = st
            self.dirty = True

    def visible_rows(self) -> list[TriggerRow]:
        rows = list(self.rows.values())
        if self.filter_text:
            f = self.filter_text.lower()
            rows = [r for r in rows if f in r.name.lower() or f in r.database.lower()
                    or f in r.spec.lower() or f in r.plugin.lower() or f in r.state or f == r.isolation]
        key = _SORT_KEY[self.sort_column]
        rows.sort(key=lambda r: (key(r), r.key), reverse=self.sort_reverse)
        return rows

    def selected(self) -> TriggerRow | None:
        k = self.table.selected_key()
        return self.rows.get(k) if k else None

    # ------------------------------------------------------------------ paint
    def repaint(self) -> None:
        now = self.console.now()
        rows = self.visible_rows()
        cells = {r.key: self._cells(r, now) for r in rows}
        self.table.sync(cells, [r.key for r in rows])
        self._paint_info(len(rows))
        self._paint_error()

    def _cells(self, r: TriggerRow, now: float) -> tuple:
        err_style = "bold red" if r.errors else "dim"
        return (
            styled(r.name, "bold"),
            styled(r.database),
            styled(r.spec),
            styled(r.plugin),
            styled(STATE_TEXT.get(r.state, r.state), STATE_STYLE.get(r.state, "")),
            styled(r.mode, "magenta" if r.mode == "async" else ""),
            # its own setting in bold; the server's default plain
            styled(r.isolation, ISOLATION_STYLE.get(r.isolation, "")
                   + (" bold" if r.isolation_setting is not None else "")),
            right(fmt.count(r.runs)),
            right(fmt.count(r.errors), err_style),
            right(fmt.seconds(r.p50)),
            right(fmt.seconds(r.p99), "yellow" if (r.p99 or 0) >= 1.0 else ""),
            right(fmt.seconds(r.cpu_time) if r.runs else "-"),
            right(fmt.size(r.memory)),
            right(fmt.ago(r.last_run, now).removesuffix(" ago"),
                  "red" if r.last_status not in (None, "ok") else ""),
            right(fmt.until(r.next_fire, now).removeprefix("in ") if r.kind == "schedule" else "", "cyan"),
        )

    def _paint_info(self, shown: int) -> None:
        rows = self.rows.values()
        enabled = sum(1 for r in rows if r.state == "enabled")
        by_error = sum(1 for r in rows if r.state == "disabled_by_error")
        t = Text()
        t.append(f"{len(self.rows)} triggers", style="bold")
        t.append(f" · {enabled} enabled")
        if by_error:
            t.append(f" · {by_error} disabled by error", style="bold red")
        self._append_placement(t)
        arrow = "▼" if self.sort_reverse else "▲"
        t.append(f" · sort {_LABEL[self.sort_column]} {arrow}", style="dim")
        if self.filter_text:
            t.append(" · filter ", style="dim")
            t.append(self.filter_text, style="bold reverse")
            t.append(f" ({shown} shown)", style="dim")
        self.query_one("#triggers-info", Static).update(t, layout=False)

    def _append_placement(self, t: Text) -> None:
        """Where plugins run by default, and the worker pool when one runs."""
        st = self.status
        if st is None:
            return
        t.append(" · plugins run in ", style="dim")
        t.append("worker processes" if st.plugin_isolation == "process" else "threads",
                 style=ISOLATION_STYLE.get(st.plugin_isolation, "") or "bold")
        if st.workers is not None:
            t.append(f" · {st.workers}/{st.workers_max} workers", style="cyan")
            if st.workers_replaced:
                t.append(f" · {st.workers_replaced:,} replaced", style="bold red")

    def _paint_error(self) -> None:
        r = self.selected()
        foot = self.query_one("#triggers-error", Static)
        if r is None:
            foot.update("", layout=False)
            return
        t = Text(no_wrap=True, overflow="ellipsis")
        if r.state == "disabled_by_error" and r.disabled_reason:
            t.append(f"{r.key}: ", style="bold")
            t.append(fmt.one_line(r.disabled_reason), style="red")
        elif r.last_error:
            t.append(f"{r.key} last error: ", style="bold")
            t.append(fmt.one_line(r.last_error), style="red")
        else:
            t.append(f"{r.key}", style="bold")
            t.append(f" · {r.plugin} · {r.spec} · in a {r.isolation}"
                     + (" (its setting)" if r.isolation_setting is not None else "")
                     + f" · errors {r.error_behavior}"
                     + (f" · {r.queued} queued" if r.queued else ""), style="dim")
        foot.update(t, layout=False)

    def _update_sort_labels(self) -> None:
        for key, label, _, _ in _COLUMNS:
            mark = ("▼" if self.sort_reverse else "▲") if key == self.sort_column else " "
            self.table.set_label(key, f"{label} {mark}")

    # ------------------------------------------------------------------ events
    @on(DataTable.RowHighlighted, "#triggers-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._paint_error()
        self.maybe_refresh_bindings()
        self.post_message(TriggerSelected(event.row_key.value if event.row_key else None))

    @on(DataTable.RowSelected, "#triggers-table")
    def _clicked(self, event: DataTable.RowSelected) -> None:
        self.action_detail()

    @on(DataTable.HeaderSelected, "#triggers-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        col = event.column_key.value
        if col is None:  # every column is added with its key (_COLUMNS)
            return
        if col == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = col, False
        self._resort()

    @on(FilterBar.Changed, "#triggers-filter")
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.filter_text = event.value.strip()
        self.repaint_if_needed(force=True)
        if event.final:
            self.table.focus()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        if action == "run_now":
            r = self.selected()
            return None if r is None or r.kind != "schedule" or r.state != "enabled" else True
        if action in ("toggle_trigger", "delete_trigger", "detail"):
            return None if self.selected() is None else True
        if action == "clear_filter":
            return bool(self.filter_text)
        return True

    def action_toggle_trigger(self) -> None:
        r = self.selected()
        if r is None:
            return
        self.post_message(ToggleTrigger(r.database, r.name, enabled=r.state != "enabled"))

    def action_detail(self) -> None:
        r = self.selected()
        if r is not None:
            self.post_message(ShowTriggerDetail(r.database, r.name))

    def action_run_now(self) -> None:
        r = self.selected()
        if r is not None:
            self.post_message(RunTriggerNow(r.database, r.name))

    def action_delete_trigger(self) -> None:
        r = self.selected()
        if r is None:
            return
        self.post_message(DeleteTrigger(r.database, r.name, r.plugin, r.spec, enabled=r.state == "enabled"))

    def action_sort_next(self) -> None:
        i = SORT_COLUMNS.index(self.sort_column)
        self.sort_column = SORT_COLUMNS[(i + 1) % len(SORT_COLUMNS)]
        self.sort_reverse = self.sort_column in ("runs", "errors", "p50", "p99", "cpu", "mem", "last")
        self._resort()

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def _resort(self) -> None:
        self._update_sort_labels()
        self.repaint_if_needed(force=True)

    def action_filter(self) -> None:
        self.query_one("#triggers-filter", FilterBar).open("filter", "filter triggers /", self.filter_text)

    def action_clear_filter(self) -> None:
        self.filter_text = ""
        self.repaint_if_needed(force=True)

    def select(self, key: str) -> None:
        self.repaint_if_needed(force=True)
        self.table.select_key(key)
