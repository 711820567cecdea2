"""TriggerDetailScreen: spec, arguments, settings, next five fire times, recent activations, last error."""
from __future__ import annotations

import datetime as dt

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pe_engine.processing.triggers.secrets import masked_value

from .. import fmt
from ..model import TriggerDetail
from ..widgets import ISOLATION_STYLE, STATE_STYLE, STATE_TEXT, STATUS_STYLE


def _section(title: str) -> Text:
    return Text("\n" + title, style="bold underline")


def render_trigger_detail(d: TriggerDetail, now: float, tz: dt.tzinfo | None) -> Group:
    r = d.row
    head = Table.grid(padding=(0, 2))
    head.add_column(style="dim", justify="right")
    head.add_column()
    head.add_row("state", Text(STATE_TEXT.get(r.state, r.state), style=STATE_STYLE.get(r.state, "")))
    if r.disabled_reason:
        head.add_row("reason", Text(r.disabled_reason, style="red"))
    head.add_row("database", r.database)
    head.add_row("spec", Text(r.spec, style="bold"))
    head.add_row("plugin", r.plugin)
    runs_in = Text("worker process" if r.isolation == "process" else "thread",
                   style=ISOLATION_STYLE.get(r.isolation, "") or "bold")
    runs_in.append(" (its setting)" if r.isolation_setting is not None else " (server default)", style="dim")
    head.add_row("runs in", runs_in)
    head.add_row("created", fmt.stamp(d.created_at, tz))
    head.add_row("activations", f"{r.runs:,} ({r.errors:,} errors)")
    head.add_row("run time", f"p50 {fmt.seconds(r.p50)} · p99 {fmt.seconds(r.p99)}")
    head.add_row("dispatch", f"p50 {fmt.seconds(r.latency_p50)} · p99 {fmt.seconds(r.latency_p99)}")
    head.add_row("cpu", f"{fmt.seconds(r.cpu_time) if r.runs else '-'} total")
    head.add_row("memory", f"{fmt.size(r.memory)} last · {fmt.size(r.memory_max)} max")
    if r.queued:
        head.add_row("queued", f"{r.queued} event(s) waiting")

    args = Table.grid(padding=(0, 2))
    args.add_column(style="cyan")
    args.add_column()
    for k, v in (d.arguments or {}).items():
        args.add_row(k, masked_value(k, v))  # recorded sessions too: a secret never reaches the screen
    settings = Table.grid(padding=(0, 2))
    settings.add_column(style="cyan")
    settings.add_column()
    for k, v in d.settings.items():
        settings.add_row(k, "-" if v is None else str(v))
    if "isolation" not in d.settings:  # unset: the engine leaves it out and the server's default applies
        settings.add_row("isolation", Text(f"- (server: {r.isolation})", style="dim"))

    fires: Text | Table
    if r.kind != "schedule":
        fires = Text(f"({r.kind} trigger: runs on {'each WAL flush' if r.kind == 'wal' else 'each request'})",
                     style="dim")
    elif not d.next_fires:
        fires = Text("(never fires again)", style="dim")
    else:
        fires = Table.grid(padding=(0, 2))
        fires.add_column()
        fires.add_column(style="dim")
        for ts in d.next_fires:
            fires.add_row(fmt.stamp(ts, tz), fmt.until(ts, now))

    recent = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
    for col, just in (("#", "right"), ("time", "left"), ("kind", "left"), ("rows", "right"),
                      ("out", "right"), ("duration", "right"), ("status", "left"), ("error", "left")):
        recent.add_column(col, justify=just)  # type: ignore[arg-type]
    for a in d.recent[:12]:
        recent.add_row(
            str(a.id), fmt.clock(a.finished_at or a.started_at, tz, ms=True), a.kind,
            str(a.rows_in or "-"), str(a.lines_out or "-"),
            fmt.seconds(a.run_time) if a.started_at else "-",
            Text(a.status, style=STATUS_STYLE.get(a.status, "")), Text(fmt.one_line(a.error, 60), style="red"),
        )
    def column(*items: RenderableType) -> Group:
        return Group(*items)

    top = Table.grid(padding=(0, 4), expand=True)
    top.add_column(ratio=1)
    top.add_column(ratio=1)
    top.add_row(column(head), column(Text("next fire times", style="bold underline"), fires))
    top.add_row(
        column(_section("arguments"), args if d.arguments else Text("(none)", style="dim")),
        column(_section("settings"), settings),
    )
    parts: list = [top, _section("recent activations"), recent if d.recent else Text("(none yet)", style="dim")]
    if r.last_error:
        parts += [_section("last error"), Text(r.last_error, style="red")]
    return Group(*parts)


class TriggerDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="trigger_detail.close")]

    def __init__(self, detail: TriggerDetail, now: float, tz: dt.tzinfo | None) -> None:
        super().__init__(id="trigger-detail-screen")
        self.detail = detail
        self.now = now
        self.tz = tz

    def compose(self) -> ComposeResult:
        with Vertical(id="trigger-detail-dialog", classes="dialog wide"):
            yield Label(f"trigger {self.detail.row.key}", id="trigger-detail-title", classes="dialog-title")
            with VerticalScroll(id="trigger-detail-scroll"):
                yield Static(render_trigger_detail(self.detail, self.now, self.tz), id="trigger-detail-body")
            yield Label("escape: close", classes="dialog-hint")
