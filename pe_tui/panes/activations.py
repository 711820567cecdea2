"""Activations: the live feed of plugin runs, newest first or follow mode, filtered by trigger and status."""
from __future__ import annotations

import datetime as dt
import time
from collections import deque

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from pe_engine.processing.activations import ERROR_STATUSES

from .. import fmt
from ..messages import RetryActivation, ShowActivationDetail
from ..model import ActivationRecord, Tick
from ..widgets import STATUS_STYLE, FilterBar, KeyedTable, right, styled
from .base import Pane

KEEP = 5000  # records kept in the pane's model
STICKY_AFTER_KEY = 10.0  # seconds the selection sticks to its record after the operator pressed a key
SHOW = 500  # rows in the table (the newest that pass the filters)
STATUS_FILTERS = ("all", "errors", "ok")

_COLUMNS = [
    ("id", "#", 7),
    ("time", "TIME", 12),
    ("trigger", "TRIGGER", 20),
    ("db", "DB", 8),
    ("kind", "KIND", 8),
    ("rows", "ROWS IN", 8),
    ("lines", "LINES OUT", 9),
    ("dur", "DURATION", 9),
    ("status", "STATUS", 12),
    ("error", "ERROR", 44),
]


class ActivationsPane(Pane):
    SCOPE = "activations"
    TITLE = "Activations"
    max_repaint_rate = 2.0  # a busy feed re-orders the table on every paint: 2 Hz is plenty to read

    def __init__(self) -> None:
        super().__init__()
        self.records: deque[ActivationRecord] = deque(maxlen=KEEP)
        self.follow = False  # False: newest first at the top; True: newest at the bottom, scrolling along
        self.status_filter = "all"
        self.trigger_filter = ""
        self.skipped = 0
        self.seen = 0
        self.last_key = 0.0

    def compose(self) -> ComposeResult:
        yield Static(id="activations-info", classes="pane-info")
        yield KeyedTable(_COLUMNS, id="activations-table")
        yield FilterBar(id="activations-filter")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#activations-table", KeyedTable)

    def main_widget(self) -> KeyedTable:
        return self.table

    # ------------------------------------------------------------------ model
    def absorb(self, tick: Tick) -> None:
        if tick.activations:
            self.records.extend(tick.activations)
            self.seen += len(tick.activations)
            self.dirty = True
        if tick.activations_skipped:
            self.skipped += tick.activations_skipped
            self.dirty = True

    def visible_records(self) -> list[ActivationRecord]:
        """The newest SHOW records passing the filters, newest first."""
        out: list[ActivationRecord] = []
        f = self.trigger_filter.lower()
        sf = self.status_filter
        for rec in reversed(self.records):
            if f and f not in rec.trigger.lower():
                continue
            if sf == "errors" and rec.status not in ERROR_STATUSES:
                continue
            if sf == "ok" and rec.status != "ok":
                continue
            out.append(rec)
            if len(out) >= SHOW:
                break
        return out

    def selected(self) -> ActivationRecord | None:
        k = self.table.selected_key()
        if k is None:
            return None
        aid = int(k)
        for rec in reversed(self.records):
            if rec.id == aid:
                return rec
        return None

    # ------------------------------------------------------------------ paint
    def repaint(self) -> None:
        tz = self.console.tz
        recs = self.visible_records()
        cells = {str(r.id): self._cells(r, tz) for r in recs}
        order = [str(r.id) for r in recs]
        table = self.table
        at_end = table.cursor_row >= table.row_count - 1
        if self.follow:
            order.reverse()
        # Newest first: a cursor on the top row stays on the top row (watching the feed), unless
        # the operator is working with the rows: then it sticks to its record, so an action (R,
        # enter) never lands on a row that slid in under the cursor.
        sticky = time.monotonic() - self.last_key < STICKY_AFTER_KEY
        table.sync(cells, order, pin_top=not self.follow and not sticky)
        if self.follow and at_end and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        self._paint_info(len(recs))

    def _cells(self, r: ActivationRecord, tz: dt.tzinfo | None) -> tuple:
        ts = r.finished_at or r.started_at or r.dispatched_at
        err = fmt.one_line(r.error, 120)
        return (
            right(r.id, "dim"),
            styled(fmt.clock(ts, tz, ms=True)),
            styled(r.trigger, "bold"),
            styled(r.database),
            styled(r.kind),
            right(fmt.count(r.rows_in) if r.rows_in else "-"),
            right(fmt.count(r.lines_out) if r.lines_out else "-"),
            right(fmt.seconds(r.run_time) if r.started_at is not None else "-"),
            styled(r.status + (f" #{r.attempt}" if r.attempt > 1 else ""), STATUS_STYLE.get(r.status, "")),
            styled(err, "red" if err else ""),
        )

    def _paint_info(self, shown: int) -> None:
        t = Text(no_wrap=True)
        t.append("follow (newest at the bottom)" if self.follow else "newest first", style="bold")
        t.append(f" · status {self.status_filter}", style="bold yellow" if self.status_filter != "all" else "dim")
        if self.trigger_filter:
            t.append(" · trigger ", style="dim")
            t.append(self.trigger_filter, style="bold reverse")
        errors = sum(1 for r in self.records if r.status in ERROR_STATUSES)
        t.append(f" · showing {shown} of {len(self.records):,} kept", style="dim")
        if errors:
            t.append(f" · {errors} failed", style="bold red")
        if self.skipped:
            t.append(f" · {self.skipped:,} skipped (too many per tick)", style="yellow")
        self.query_one("#activations-info", Static).update(t, layout=False)

    # ------------------------------------------------------------------ events
    def on_key(self, event: events.Key) -> None:
        self.last_key = time.monotonic()

    @on(DataTable.RowSelected, "#activations-table")
    def _clicked(self, event: DataTable.RowSelected) -> None:
        self.action_detail()

    @on(DataTable.RowHighlighted, "#activations-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.maybe_refresh_bindings()

    @on(FilterBar.Changed, "#activations-filter")
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.trigger_filter = event.value.strip()
        self.repaint_if_needed(force=True)
        if event.final:
            self.table.focus()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        if action == "retry":
            r = self.selected()
            return None if r is None or r.status in ("ok", "skipped") or r.kind == "request" else True
        if action == "detail":
            return None if self.selected() is None else True
        if action == "clear_filter":
            return bool(self.trigger_filter) or self.status_filter != "all"
        return True

    def action_detail(self) -> None:
        r = self.selected()
        if r is not None:
            self.post_message(ShowActivationDetail(r))

    def action_retry(self) -> None:
        r = self.selected()
        if r is not None:
            self.post_message(RetryActivation(r.id))

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.repaint_if_needed(force=True)  # the table re-orders its rows in place
        if self.table.row_count:
            self.table.move_cursor(row=self.table.row_count - 1 if self.follow else 0, animate=False)

    def action_cycle_status(self) -> None:
        i = STATUS_FILTERS.index(self.status_filter)
        self.status_filter = STATUS_FILTERS[(i + 1) % len(STATUS_FILTERS)]
        self.repaint_if_needed(force=True)

    def action_filter(self) -> None:
        self.query_one("#activations-filter", FilterBar).open("filter", "trigger /", self.trigger_filter)

    def action_clear_filter(self) -> None:
        self.trigger_filter = ""
        self.status_filter = "all"
        self.repaint_if_needed(force=True)

    def show_trigger(self, database: str, name: str) -> None:
        self.trigger_filter = name
        self.repaint_if_needed(force=True)

