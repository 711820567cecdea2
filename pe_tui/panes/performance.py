"""Performance: per trigger, run-time p50/p99 and memory over the last 10 minutes (5 s buckets)
as Sparklines, plus the selected trigger's run-time histogram and dispatch latency."""
from __future__ import annotations

import math
from collections import deque

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ListItem, ListView, Static

from pe_engine.processing.activations import NOT_RUN_STATUSES

from .. import fmt
from ..messages import ShowTriggerDetail, TriggerSelected
from ..model import SeriesPoint, Tick, TriggerRow, trigger_key
from ..widgets import SafeSparkline as Sparkline
from ..widgets import anchored
from .base import Pane

SAMPLES = 1000  # run times kept per trigger for the histogram
# histogram bucket upper bounds, seconds
_BOUNDS = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, math.inf]


def _dom_id(key: str) -> str:
    return "perf-" + "".join(c if c.isalnum() else f"_{ord(c):x}_" for c in key)


class PerfRow(Horizontal):
    """One trigger: name, p50/p99 sparklines, memory sparkline, current values."""

    def __init__(self, key: str) -> None:
        super().__init__(classes="perf-row")
        self.key = key
        self._row: TriggerRow | None = None
        self._series: list[SeriesPoint] = []

    def compose(self) -> ComposeResult:
        yield Static(classes="perf-name")
        yield Static("p50\np99", classes="perf-tag")
        with Vertical(classes="perf-lat"):
            yield Sparkline([], classes="perf-p50")
            yield Sparkline([], classes="perf-p99")
        yield Static(classes="perf-latv")
        yield Static("mem", classes="perf-tag")
        yield Sparkline([], classes="perf-mem")
        yield Static(classes="perf-memv")

    def on_mount(self) -> None:
        self._paint()

    def set_data(self, row: TriggerRow | None, series: list[SeriesPoint] | None) -> None:
        changed = False
        if row is not None and row != self._row:
            self._row = row
            changed = True
        if series is not None and series != self._series:
            self._series = series
            changed = True
        if changed and self.is_mounted:
            self._paint()

    def _paint(self) -> None:
        r, s = self._row, self._series
        name = Text(no_wrap=True, overflow="ellipsis")
        name.append((r.name if r else self.key) + "\n", style="bold")
        if r is not None:
            name.append(f"{r.database} · {fmt.count(r.runs)} runs", style="dim")
            if r.errors:
                name.append(f" · {fmt.count(r.errors)} err", style="red")
        self.query_one(".perf-name", Static).update(name, layout=False)
        # new lists each time: Sparkline.data is compared with != to decide on a repaint
        self.query_one(".perf-p50", Sparkline).data = anchored([p.p50 or 0.0 for p in s])
        self.query_one(".perf-p99", Sparkline).data = anchored([p.p99 or 0.0 for p in s])
        self.query_one(".perf-mem", Sparkline).data = anchored([float(p.max_memory or 0) for p in s])
        lat = Text(justify="right", no_wrap=True)
        lat.append(fmt.seconds(r.p50 if r else None) + "\n")
        lat.append(fmt.seconds(r.p99 if r else None), style="yellow" if r and (r.p99 or 0) >= 1 else "")
        self.query_one(".perf-latv", Static).update(lat, layout=False)
        mem = Text(justify="right", no_wrap=True)
        mem.append(fmt.size(r.memory if r else None) + "\n")
        mem.append("max " + fmt.size(r.memory_max if r else None), style="dim")
        self.query_one(".perf-memv", Static).update(mem, layout=False)


class PerfList(ListView):
    """`enter` belongs to the pane (trigger detail), so the list's own select is off."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor":
            return False
        return super().check_action(action, parameters)


class PerformancePane(Pane):
    SCOPE = "performance"
    TITLE = "Performance"
    max_repaint_rate = 1.0  # the series move in 5 s buckets

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, TriggerRow] = {}
        self.series: dict[str, list[SeriesPoint]] = {}
        self.run_times: dict[str, deque[float]] = {}
        self.latencies: dict[str, deque[float]] = {}
        self.selected_key: str | None = None
        self._keys: list[str] = []
        self._series_dirty = True
        self._items: dict[str, PerfRow] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="perf-body"):
            with Vertical(id="perf-left"):
                yield Static(id="performance-info", classes="pane-info")
                yield PerfList(id="perf-list")
            with Vertical(id="perf-right"):
                yield Static(id="perf-detail")
                yield Static("runs per 5 s (last 10 min)", classes="perf-caption")
                yield Sparkline([], id="perf-runs")
                yield Static("errors per 5 s", classes="perf-caption")
                yield Sparkline([], id="perf-errors")

    def on_resize(self, event: object) -> None:
        # narrow terminals: the detail goes under the list instead of beside it
        self.query_one("#perf-body").set_class(self.size.width < 140, "-narrow")

    @property
    def list_view(self) -> ListView:
        return self.query_one("#perf-list", ListView)

    def main_widget(self) -> ListView:
        return self.list_view

    # ------------------------------------------------------------------ model
    def absorb(self, tick: Tick) -> None:
        if tick.triggers is not None:
            self.rows = {r.key: r for r in tick.triggers}
            self.dirty = True
        if tick.series is not None:
            self.series = tick.series
            self._series_dirty = True
            self.dirty = True
        if tick.samples is not None:
            for key, pairs in tick.samples.items():
                self.run_times[key] = deque((a for a, _ in pairs), maxlen=SAMPLES)
                self.latencies[key] = deque((b for _, b in pairs), maxlen=SAMPLES)
            self.dirty = True
            if tick.activations:  # the stream in the same tick is already in the samples
                return
        for rec in tick.activations:
            if rec.status in NOT_RUN_STATUSES or rec.started_at is None:
                continue
            key = trigger_key(rec.database, rec.trigger)
            self.run_times.setdefault(key, deque(maxlen=SAMPLES)).append(rec.run_time)
            self.latencies.setdefault(key, deque(maxlen=SAMPLES)).append(rec.dispatch_latency)
            self.dirty = True

    # ------------------------------------------------------------------ paint
    def repaint(self) -> None:
        keys = sorted(self.rows)
        lv = self.list_view
        if keys != self._keys:
            self._keys = keys
            self._items = {k: PerfRow(k) for k in keys}
            for k, item in self._items.items():
                item.set_data(self.rows.get(k), self.series.get(k, []))
            lv.clear()
            lv.extend(ListItem(item, id=_dom_id(k)) for k, item in self._items.items())
            want = self.selected_key or self.console.selected_trigger
            if want in keys:
                lv.index = keys.index(want)
            elif keys:
                lv.index = 0
        else:
            for k, item in self._items.items():
                item.set_data(self.rows.get(k), self.series.get(k) if self._series_dirty else None)
        self._series_dirty = False
        if self.selected_key is None and keys:
            self.selected_key = keys[0] if lv.index is None else keys[min(lv.index, len(keys) - 1)]
        n = len(keys)
        self.query_one("#performance-info", Static).update(Text.assemble(
            (f"{n} triggers", "bold"), (" · run time p50/p99 and peak memory per 5 s bucket, last 10 minutes", "dim"),
        ), layout=False)
        self._paint_detail()

    def _paint_detail(self) -> None:
        key = self.selected_key
        r = self.rows.get(key) if key else None
        box = self.query_one("#perf-detail", Static)
        if r is None:
            box.update(Text("no trigger selected", style="dim"))
            return
        s = self.series.get(r.key, [])
        self.query_one("#perf-runs", Sparkline).data = anchored([float(p.runs) for p in s])
        self.query_one("#perf-errors", Sparkline).data = anchored([float(p.errors) for p in s])
        head = Text()
        head.append(r.name, style="bold")
        head.append(f"  {r.database} · {r.plugin}\n", style="dim")
        head.append(f"{r.spec} · {r.mode} · {r.state.replace('_', ' ')}", style="dim")
        stats = Table.grid(padding=(0, 2))
        stats.add_column(style="dim")
        stats.add_column(justify="right")
        stats.add_column(justify="right")
        stats.add_row("", Text("p50", style="dim"), Text("p99", style="dim"))
        stats.add_row("run time", fmt.seconds(r.p50), fmt.seconds(r.p99))
        stats.add_row("dispatch latency", fmt.seconds(r.latency_p50), fmt.seconds(r.latency_p99))
        stats.add_row("runs / errors", fmt.count(r.runs), Text(fmt.count(r.errors), style="red" if r.errors else ""))
        stats.add_row("CPU total", fmt.seconds(r.cpu_time) if r.runs else "-", "")
        stats.add_row("memory last / max", fmt.size(r.memory), fmt.size(r.memory_max))
        box.update(Group(head, Text(""), stats, Text(""), self._histogram(r.key)))

    def _histogram(self, key: str, width: int = 22) -> Table | Text:
        samples = list(self.run_times.get(key, ()))
        title = Text(f"run-time histogram (last {len(samples)} runs seen)", style="bold")
        if not samples:
            return Text.assemble(title, ("\nno runs yet", "dim"))
        counts = [0] * len(_BOUNDS)
        for v in samples:
            for i, b in enumerate(_BOUNDS):
                if v < b:
                    counts[i] += 1
                    break
        lo = next(i for i, c in enumerate(counts) if c)
        hi = max(i for i, c in enumerate(counts) if c)
        peak = max(counts)
        t = Table.grid(padding=(0, 1))
        t.add_column(justify="right", style="dim")
        t.add_column()
        t.add_column(justify="right")
        for i in range(lo, hi + 1):
            label = f"< {fmt.seconds(_BOUNDS[i])}" if _BOUNDS[i] != math.inf else f"≥ {fmt.seconds(_BOUNDS[i - 1])}"
            n = counts[i]
            bar = "█" * (round(n / peak * width) if n else 0)
            if n and not bar:
                bar = "▏"
            t.add_row(label, Text(bar, style="cyan"), str(n))
        return Group(title, t)  # type: ignore[return-value]

    # ------------------------------------------------------------------ events
    @on(ListView.Highlighted, "#perf-list")
    def _highlighted(self, event: ListView.Highlighted) -> None:
        idx = self.list_view.index
        if idx is not None and 0 <= idx < len(self._keys):
            self.selected_key = self._keys[idx]
            self._paint_detail()
            self.post_message(TriggerSelected(self.selected_key))

    def select(self, key: str) -> None:
        self.selected_key = key
        if key in self._keys:
            self.list_view.index = self._keys.index(key)

    def action_detail(self) -> None:
        r = self.rows.get(self.selected_key or "")
        if r is not None:
            self.post_message(ShowTriggerDetail(r.database, r.name))
