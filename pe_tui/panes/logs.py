"""Logs: engine and plugin log lines with level toggles, trigger filter, search highlight and follow mode.

Lines are coalesced per tick and written with one `Log.write_lines` call, at
most MAX_WRITE per repaint; anything beyond is counted in a "… N lines
skipped …" line, so a plugin logging 10,000 lines a second cannot freeze the
console. Follow mode is the Log's own: new lines scroll the view only while it
is at the bottom; scroll up to read and it stays put, scroll back (or press f)
and it follows again.
"""
from __future__ import annotations

import datetime as dt
from collections import deque

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Log, Static

from .. import fmt
from ..model import LogLine, Tick
from ..widgets import LEVEL_STYLE, FilterBar
from .base import Pane

KEEP = 20_000  # lines kept for re-filtering
MAX_LINES = 10_000  # lines in the Log widget
MAX_WRITE = 2_000  # lines written per repaint (Log.write_lines: ~15 ms for 2,000)
LEVELS = ("INFO", "WARN", "ERROR")
_PREFIX = 12 + 1 + 5 + 1  # "HH:MM:SS.mmm LEVEL "
SOURCE_WIDTH = 24


class LogHighlighter(Highlighter):
    """Dim time, coloured level, source, and the search term highlighted."""

    def __init__(self) -> None:
        self.search = ""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if len(plain) > _PREFIX and plain[2:3] == ":" and plain[12:13] == " ":
            text.stylize("dim", 0, 12)
            level = plain[13:18].strip()
            text.stylize(LEVEL_STYLE.get(level, ""), 13, 18)
            text.stylize("magenta", _PREFIX, _PREFIX + SOURCE_WIDTH)
        elif plain.startswith("…"):
            text.stylize("bold yellow")
        needle = self.search.lower()
        if needle:
            low = plain.lower()
            i = low.find(needle)
            while i >= 0:
                text.stylize("bold black on yellow", i, i + len(needle))
                i = low.find(needle, i + len(needle))


class ConsoleLog(Log):
    """Log that says when it leaves or reaches the bottom (follow mode indicator)."""

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, **kwargs: object) -> None:
        super().__init__(highlight=True, max_lines=MAX_LINES, **kwargs)  # type: ignore[arg-type]
        self.highlighter = LogHighlighter()
        self.following = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = self.is_vertical_scroll_end
        if at_end != self.following:
            self.following = at_end
            self.post_message(self.FollowChanged(at_end))

    def action_scroll_home(self) -> None:
        """Jump at once: an animated scroll to the top could be undone by lines written before
        its first frame (the log still looked at its end, and followed)."""
        if not self._allow_scroll:
            super().action_scroll_home()
            return
        self.scroll_home(animate=False, immediate=True, x_axis=self.scroll_y == 0)

    def set_search(self, text: str) -> None:
        self.highlighter.search = text  # type: ignore[attr-defined]
        self._render_line_cache.clear()
        self.refresh()


def format_line(line: LogLine, tz: dt.tzinfo | None) -> str:
    src = line.source if len(line.source) <= SOURCE_WIDTH else line.source[: SOURCE_WIDTH - 1] + "…"
    head = f"{fmt.clock(line.time, tz, ms=True)} {line.level:<5} {src:<{SOURCE_WIDTH}} "
    text = line.text.rstrip("\n")
    if "\n" in text:
        pad = " " * len(head)
        text = text.replace("\n", "\n" + pad)
    return head + text


class LogsPane(Pane):
    SCOPE = "logs"
    TITLE = "Logs"

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[LogLine] = deque(maxlen=KEEP)
        self.pending: list[str] = []
        self.pending_skipped = 0
        self.levels = {lv: True for lv in LEVELS}
        self.trigger_filter = ""
        self.search = ""
        self.behind = 0  # lines written while scrolled up
        self.counts = {lv: 0 for lv in LEVELS}
        self.skipped_total = 0
        self.match_at: int | None = None  # line of the current search match (n / N)
        self.match_label = ""  # "match 2/5" after n/N; kept across repaints until the search changes

    def compose(self) -> ComposeResult:
        yield Static(id="logs-info", classes="pane-info")
        yield ConsoleLog(id="logs-log")
        yield FilterBar(id="logs-filter")

    @property
    def log_widget(self) -> ConsoleLog:
        return self.query_one("#logs-log", ConsoleLog)

    def main_widget(self) -> ConsoleLog:
        return self.log_widget

    # ------------------------------------------------------------------ model
    def passes(self, line: LogLine) -> bool:
        if not self.levels.get(line.level, True):
            return False
        if self.trigger_filter and self.trigger_filter.lower() not in line.source.lower():
            return False
        return True

    def absorb(self, tick: Tick) -> None:
        if tick.logs_skipped:
            self.skipped_total += tick.logs_skipped
            self._queue(f"… {tick.logs_skipped:,} lines skipped (more than the console shows per refresh) …")
        if not tick.logs:
            return
        tz = self.console.tz
        self.lines.extend(tick.logs)
        for ln in tick.logs:
            self.counts[ln.level] = self.counts.get(ln.level, 0) + 1
            if self.passes(ln):
                self._queue(format_line(ln, tz))
        self.dirty = True

    def _queue(self, text: str) -> None:
        self.pending.append(text)
        if len(self.pending) > 2 * MAX_WRITE:  # keep the model bounded while the pane is hidden
            cut = len(self.pending) - MAX_WRITE
            self.pending_skipped += cut
            del self.pending[:cut]
        self.dirty = True

    # ------------------------------------------------------------------ paint
    def repaint(self) -> None:
        log = self.log_widget
        if self.pending:
            lines, self.pending = self.pending, []
            skipped, self.pending_skipped = self.pending_skipped, 0
            if len(lines) > MAX_WRITE:
                skipped += len(lines) - MAX_WRITE
                lines = lines[-MAX_WRITE:]
            if skipped:
                self.skipped_total += skipped
                lines.insert(0, f"… {skipped:,} lines skipped (more than {MAX_WRITE:,} per refresh) …")
            following = log.is_vertical_scroll_end
            log.write_lines(lines)
            if not following:
                self.behind += len(lines)
        self._paint_info()

    def _paint_info(self) -> None:
        self.query_one("#logs-info", Static).update(self._info_text(), layout=False)

    def _info_text(self) -> Text:
        t = Text(no_wrap=True)
        for lv in LEVELS:
            on_ = self.levels[lv]
            t.append(f" {lv} ", style=(f"reverse {LEVEL_STYLE[lv]}" if on_ else "dim strike"))
            t.append(f" {fmt.count(self.counts.get(lv, 0))}  ", style="dim")
        t.append("· trigger ", style="dim")
        t.append(self.trigger_filter or "any", style="bold reverse" if self.trigger_filter else "")
        t.append(" · search ", style="dim")
        if self.search:
            t.append(self.search, style="bold black on yellow")
            t.append(f" ({self.match_label or str(self._matches()) + ' lines'}, n/N)", style="dim")
        else:
            t.append("-")
        t.append(" · ")
        if self.log_widget.following or not self.behind:
            t.append("● following", style="bold green")
        else:
            t.append(f"❚❚ scrolled up: {self.behind:,} new lines below (f: follow)", style="bold yellow")
        if self.skipped_total:
            t.append(f" · {self.skipped_total:,} skipped", style="yellow")
        return t

    def _matches(self) -> int:
        needle = self.search.lower()
        return sum(1 for ln in self.lines if self.passes(ln) and needle in ln.text.lower())

    def rebuild(self) -> None:
        """Filters changed: rewrite the view from the kept lines (user action, never on a timer)."""
        self.match_label = ""  # the lines moved: the last n/N position no longer holds
        tz = self.console.tz
        log = self.log_widget
        log.clear()
        lines = [format_line(ln, tz) for ln in self.lines if self.passes(ln)][-MAX_LINES:]
        self.pending = []
        self.pending_skipped = 0
        log.write_lines(lines, scroll_end=True)
        self.behind = 0
        self._paint_info()

    # ------------------------------------------------------------------ events
    @on(ConsoleLog.FollowChanged)
    def _follow_changed(self, event: ConsoleLog.FollowChanged) -> None:
        if event.following:
            self.behind = 0
        self._paint_info()

    @on(FilterBar.Changed, "#logs-filter")
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        value = event.value.strip()
        if event.bar.mode == "search":
            if value != self.search:
                self.match_label = ""
            self.search = value
            self.log_widget.set_search(value)
            self._paint_info()
            if event.final and value:
                self.match_at = None
                self.jump(-1)  # the newest match
        elif value != self.trigger_filter:
            self.trigger_filter = value
            self.rebuild()
        if event.final:
            self.log_widget.focus()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "clear_filter":
            return bool(self.search or self.trigger_filter)
        if allowed and action in ("next_match", "prev_match"):
            return bool(self.search) or None
        return allowed

    def jump(self, direction: int) -> bool:
        """Scroll to the next (+1) or previous (-1) line matching the search; wraps around."""
        needle = self.search.lower()
        log = self.log_widget
        if not needle:
            return False
        lines = log.lines
        matches = [i for i, line in enumerate(lines) if needle in line.lower()]
        if not matches:
            self.notify(f"no line contains {self.search!r}", timeout=3)
            return False
        cur = self.match_at if self.match_at is not None else len(lines)
        if direction > 0:
            target = next((i for i in matches if i > cur), matches[0])
        else:
            target = next((i for i in reversed(matches) if i < cur), matches[-1])
        self.match_at = target
        log.scroll_to(y=max(0, target - log.size.height // 2), animate=False)
        pos = matches.index(target) + 1
        self.match_label = f"match {pos}/{len(matches)}"
        self._paint_info()
        return True

    def action_next_match(self) -> None:
        self.jump(+1)

    def action_prev_match(self) -> None:
        self.jump(-1)

    def action_toggle_level(self, level: str) -> None:
        self.levels[level] = not self.levels[level]
        self.rebuild()

    def action_search(self) -> None:
        self.query_one("#logs-filter", FilterBar).open("search", "search /", self.search)

    def action_filter_trigger(self) -> None:
        self.query_one("#logs-filter", FilterBar).open("trigger", "trigger ", self.trigger_filter)

    def action_follow(self) -> None:
        log = self.log_widget
        # immediate: a scroll left for after the next refresh let a repaint in between count
        # the new lines as "behind" while the pane said it was following
        log.scroll_end(animate=False, immediate=True)
        log.following = True
        self.behind = 0
        self._paint_info()

    def action_clear_view(self) -> None:
        self.lines.clear()
        self.pending = []
        self.log_widget.clear()
        self.behind = 0
        self._paint_info()

    def action_clear_filter(self) -> None:
        self.search = ""
        self.match_label = ""
        self.log_widget.set_search("")
        if self.trigger_filter:
            self.trigger_filter = ""
            self.rebuild()
        self._paint_info()

    def show_trigger(self, name: str) -> None:
        self.trigger_filter = name
        self.rebuild()
