"""ActivationDetailScreen: input summary, writes, logs, error with traceback of one activation."""
from __future__ import annotations

import datetime as dt

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from .. import fmt
from ..model import ActivationRecord
from ..widgets import STATUS_STYLE


def input_summary(a: ActivationRecord, tz: dt.tzinfo | None) -> str:
    if a.input_summary:
        return a.input_summary
    if a.kind == "wal":
        return f"WAL flush: {a.rows_in:,} row(s)"
    if a.kind == "schedule":
        return f"schedule tick at {fmt.stamp(a.scheduled_at, tz)}"
    if a.kind == "request":
        return "HTTP request"
    return a.kind


def render_activation(a: ActivationRecord, tz: dt.tzinfo | None, can_retry: bool) -> Group:
    g = Table.grid(padding=(0, 2))
    g.add_column(style="dim", justify="right")
    g.add_column()
    g.add_row("trigger", Text(f"{a.database}/{a.trigger}", style="bold"))
    g.add_row("plugin", a.plugin)
    g.add_row("status", Text(a.status + (f" (attempt {a.attempt})" if a.attempt > 1 else ""),
                             style=STATUS_STYLE.get(a.status, "")))
    g.add_row("input", input_summary(a, tz))
    g.add_row("scheduled", fmt.stamp(a.scheduled_at, tz) if a.scheduled_at else "-")
    g.add_row("dispatched", fmt.clock(a.dispatched_at, tz, ms=True))
    g.add_row("started", fmt.clock(a.started_at, tz, ms=True)
              + (f" (waited {fmt.seconds(a.dispatch_latency)})" if a.started_at else ""))
    g.add_row("finished", fmt.clock(a.finished_at, tz, ms=True))
    g.add_row("run time", fmt.seconds(a.run_time) if a.started_at else "-")
    g.add_row("cpu time", fmt.seconds(a.cpu_time) if a.started_at else "-")
    g.add_row("memory peak", fmt.size(a.memory_peak))
    g.add_row("writes", f"{a.lines_out:,} line(s) written" if a.lines_out else "none")
    parts: list = [g]
    if a.status not in ("ok", "skipped"):
        parts.append(Text("\nretry (R): " + ("the original input is kept" if can_retry
                                             else "the original input is no longer kept"),
                          style="green" if can_retry else "dim"))
    parts.append(Text(f"\nlogs ({len(a.logs)}" + (f", {a.logs_dropped} more dropped" if a.logs_dropped else "")
                      + ")", style="bold underline"))
    if a.logs:
        body = Text()
        for line in a.logs:
            level, _, text = line.partition(": ")
            style = {"ERROR": "red", "WARN": "yellow"}.get(level, "")
            body.append(f"{level:<5} ", style=style or "dim")
            body.append(text + "\n")
        body.rstrip()
        parts.append(body)
    else:
        parts.append(Text("(none)", style="dim"))
    if a.error:
        parts.append(Text("\nerror", style="bold underline red"))
        parts.append(Text(a.error, style="red"))
    if a.traceback:
        parts.append(Text("\ntraceback", style="bold underline"))
        parts.append(Text(a.traceback.rstrip(), style="dim red"))
    return Group(*parts)


class ActivationDetailScreen(ModalScreen[bool]):
    """Dismisses with True when the operator asked to retry (R)."""

    BINDINGS = [
        Binding("escape,q,enter", "dismiss(False)", "Close", id="activation_detail.close"),
        Binding("R", "retry", "Retry", id="activation_detail.retry"),
    ]

    def __init__(self, record: ActivationRecord, tz: dt.tzinfo | None, can_retry: bool, read_only: bool) -> None:
        super().__init__(id="activation-detail-screen")
        self.record = record
        self.tz = tz
        self.can_retry = can_retry
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        a = self.record
        with Vertical(id="activation-detail-dialog", classes="dialog wide"):
            yield Label(f"activation #{a.id} · {a.kind} · {a.trigger}", id="activation-detail-title",
                        classes="dialog-title")
            with VerticalScroll(id="activation-detail-scroll"):
                yield Static(render_activation(a, self.tz, self.can_retry), id="activation-detail-body")
            hint = "escape: close" + ("" if self.read_only or not self.can_retry else " · R: retry with the same input")
            yield Label(hint, classes="dialog-hint")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return False if self.read_only else (True if self.can_retry else None)
        return True

    def action_retry(self) -> None:
        self.dismiss(True)
