"""ConsoleApp: the live operations console, and `pe-tui` / `pe tui`.

The engine runs in its own thread and loop (pe_engine.embedded.EngineThread);
the console reads it through a ConsoleSource (pe_tui.source) whose `collect()`
runs in a thread worker on a self-rescheduling timer (ticker.TickDriver), and
sends every mutating action through the engine API in a thread worker with
`exit_on_error=False`: the console never crashes because a plugin (or an
action) failed. Panes never call the source: they post intent messages
(pe_tui.messages: ToggleTrigger, DeleteTrigger, ...) that the app handles
(confirmation, worker, toast). Keys can be remapped by binding id with a user
keymap (pe_tui.keymap).

For tests and screenshots the app takes any ConsoleSource:

    app = ConsoleApp(RecordedSource.demo(), clock=lambda: FROZEN, tz=timezone.utc)
    app = ConsoleApp(engine_thread=et)        # a live bridge over a running EngineThread
    app = ConsoleApp(source, auto_tick=False); await app.refresh_now()   # tick by hand
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.markup import escape
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from .ticker import TickDriver
from .keymap import Keymap
from .keymap import load as load_keymap
from .keys import KEYS, MUTATING, PANES, SCOPE_TITLES, Key, bindings
from .messages import (
    ActionDone,
    ActivationDetailLoaded,
    CacheValueLoaded,
    ClearCacheScope,
    DeleteCacheKey,
    DeleteTrigger,
    PauseChanged,
    RefreshRateChanged,
    RetryActivation,
    RunTriggerNow,
    SelectValueCache,
    SetLoadRate,
    ShowActivationDetail,
    ShowCacheValue,
    ShowTriggerDetail,
    ShowTriggersUsing,
    TickApplied,
    TickFailed,
    TickReady,
    ToggleTrigger,
    TriggerDetailLoaded,
    TriggerSelected,
)
from .model import ActivationRecord, Tick, trigger_key
from .panes import PANE_CLASSES, Pane
from .screens import ActivationDetailScreen, CacheValueScreen, ConfirmScreen, HelpScreen, TriggerDetailScreen
from .screens.help import pretty_keys
from .source import ConsoleSource
from .widgets import KeyBar, StatusBar

log = logging.getLogger("pe.tui")

REFRESH_STEPS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)  # seconds between ticks
LOAD_STEPS = (0, 60, 150, 300, 600, 1200, 3000, 6000, 15000, 30000, 60000)  # demo lines/s


class PaneTabs(TabbedContent):
    """The pane tabs: they switch only when told to (number keys, the palette, a click on a tab).

    Textual's TabbedContent also activates the tab of any widget that gains focus. The console
    focuses a pane's main widget after switching to it; with pane keys typed ahead ("2" then "4"),
    that focus's message arrives after the second switch and pulled the first tab back.
    """

    @on(TabPane.Focused)
    def _focus_does_not_switch(self, event: TabPane.Focused) -> None:
        event.prevent_default()  # skip TabbedContent's own handler, which activates the focused pane
        event.stop()


class ConsoleApp(App[int]):
    """The pe operations console."""

    CSS_PATH = "console.tcss"
    TITLE = "pe console"
    BINDINGS = bindings("app")

    paused: reactive[bool] = reactive(False)
    refresh_interval: reactive[float] = reactive(0.25)

    def __init__(
        self,
        source: ConsoleSource | None = None,
        *,
        engine_thread: Any = None,
        clock: Callable[[], float] = time.time,
        tz: dt.tzinfo | None = None,
        read_only: bool = False,
        refresh: float = 0.25,
        auto_tick: bool = True,
        load: Any = None,
        admin_token: str | None = None,
        keymap: "str | Path | Keymap | None" = None,
    ) -> None:
        super().__init__()
        self.own_source = False
        if source is None:
            if engine_thread is None:
                raise ValueError("ConsoleApp needs a source or an engine_thread")
            from .live import EngineBridge

            source = EngineBridge(engine_thread, clock=clock, load=load)
            self.own_source = True
        self.source: ConsoleSource = source
        self.clock = clock
        self.tz = tz
        self.read_only = read_only
        self.auto_tick = auto_tick
        self.admin_token = admin_token
        self.driver = TickDriver(self, source, refresh)
        self.pending: Tick | None = None
        self.selected_trigger: str | None = None
        self.ticks_applied = 0
        self.last_tick: Tick | None = None
        self._last_failure_toast = 0.0
        self._panes: list[Pane] | None = None
        # the user keymap (pe_tui.keymap): binding id -> keys, applied to every binding by id
        self.keymap: Keymap = keymap if isinstance(keymap, Keymap) else load_keymap(keymap)
        self._clashes_reported: set[frozenset[str]] = set()
        if self.keymap.bindings:
            self.set_keymap(self.keymap.bindings)
        self.set_reactive(ConsoleApp.refresh_interval, self.driver.interval)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with PaneTabs(id="tabs", initial="tab-triggers"):
            for i, cls in enumerate(PANE_CLASSES, start=1):
                with TabPane(f"{i} {cls.TITLE}", id=f"tab-{cls.SCOPE}"):
                    yield cls()
        yield KeyBar(id="footer")

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    @property
    def panes(self) -> list[Pane]:
        if self._panes is None:
            self._panes = list(self.query(Pane))
        return self._panes

    def pane(self, scope: str) -> Pane:
        return self.query_one(f"#{scope}", Pane)

    @property
    def active_pane(self) -> Pane:
        active = self.query_one("#tabs", TabbedContent).active.removeprefix("tab-")
        return self.pane(active or "triggers")

    def now(self) -> float:
        return self.clock()

    def on_mount(self) -> None:
        self._install_signal_handlers()
        self._report_keymap_problems()
        bar = self.status_bar
        bar.interval = self.refresh_interval
        bar.read_only = self.read_only
        if self.auto_tick:
            self.driver.start()
        self.call_after_refresh(self._focus_if_active, self.active_pane)
        if self.admin_token:
            msg = f"admin token (shown once, its hash is in auth.json): {self.admin_token}"
            self._console_log("INFO", msg)
            self.notify(self.admin_token, title="admin token — shown once", timeout=30)

    def _install_signal_handlers(self) -> None:
        """SIGTERM / SIGHUP (terminal closed) quit like `q`: the engine is then stopped cleanly."""
        import signal

        self._signals: list[int] = []
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, self.exit)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / platform
                continue
            self._signals.append(sig)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in getattr(self, "_signals", ()):
            loop.remove_signal_handler(sig)
        self.driver.stop()
        if self.own_source:
            self.source.close()

    # ------------------------------------------------------------------ keymap
    def _report_keymap_problems(self) -> None:
        problems = self.keymap.problems
        if not problems:
            return
        for p in problems:
            log.warning("%s", p)
        shown = problems[:5] + ([f"… and {len(problems) - 5} more (see the log)"] if len(problems) > 5 else [])
        self.notify(escape("\n".join(shown)), title="keymap: some keys were not remapped",
                    severity="warning", timeout=15)

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: Any) -> None:
        """A remapped key that another binding of the same place already uses: say so once."""
        ids = frozenset(b.id or b.action for b in clashed_bindings)
        if ids in self._clashes_reported:
            return
        self._clashes_reported.add(ids)
        text = ", ".join(sorted(ids))
        log.warning("keymap: clashing keys for %s", text)
        self.notify(escape(f"the keymap gives one key to several actions: {text}"), title="keymap",
                    severity="warning", timeout=10)

    # ------------------------------------------------------------------ ticks
    @on(TickReady)
    def _tick_ready(self, message: TickReady) -> None:
        try:
            if message.tick is not None:
                self.apply_tick(message.tick)
        finally:
            self.driver.done()

    @on(TickFailed)
    def _tick_failed(self, message: TickFailed) -> None:
        try:
            now = time.monotonic()
            if now - self._last_failure_toast > 10.0:
                self._last_failure_toast = now
                self.notify(message.error, title="collecting data failed", severity="error")
        finally:
            self.driver.done()

    def apply_tick(self, tick: Tick) -> None:
        """Absorb a tick into every pane, repaint the visible one (or buffer it while paused)."""
        self.last_tick = tick
        if self.paused:
            self.pending = tick if self.pending is None else self.pending.merged(tick)
            self.status_bar.buffered = (len(self.pending.activations), len(self.pending.logs))
            self.post_message(TickApplied(tick.seq, painted=False))
            return
        self.status_bar.status = tick.status
        panes = self.panes
        with self.batch_update():
            for pane in panes:
                pane.absorb(tick)
            painted = self.active_pane.repaint_if_needed()
        self.ticks_applied += 1
        self.post_message(TickApplied(tick.seq, painted))

    async def refresh_now(self) -> Tick | None:
        """Collect and apply one tick right now (tests with auto_tick=False)."""
        tick = await asyncio.to_thread(self.source.collect)
        if tick is not None:
            self.apply_tick(tick)
        return tick

    def watch_paused(self, paused: bool) -> None:
        bar = self.status_bar
        bar.paused = paused
        if paused:
            bar.buffered = (0, 0)
        elif self.pending is not None:
            pending, self.pending = self.pending, None
            self.apply_tick(pending)
        self.post_message(PauseChanged(paused))

    @property
    def ui_mounted(self) -> bool:
        """The app runs and its default screen (status bar, panes) is mounted. Before that
        `on_mount` reads the reactive state itself; after exit there is nothing to update.
        (`App.is_mounted` is a method asking about one widget, always truthy unless called.)"""
        stack = self.screen_stack
        return self.is_running and bool(stack) and self.is_mounted(stack[0])

    def watch_refresh_interval(self, interval: float) -> None:
        self.driver.interval = interval
        if self.ui_mounted:
            self.status_bar.interval = interval
        self.post_message(RefreshRateChanged(interval))

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.query_one(Pane)
        if not self.paused:
            pane.repaint_if_needed()
        self.call_after_refresh(self._focus_if_active, pane)  # the focus change refreshes the footer's keys

    def _focus_if_active(self, pane: Pane) -> None:
        # A deferred focus for a pane the operator already left (keys typed ahead at start-up)
        # would pull its tab back, and two tabs would take focus from each other forever.
        if pane is self.active_pane:
            pane.focus_main()

    @on(TriggerSelected)
    def _trigger_selected(self, message: TriggerSelected) -> None:
        self.selected_trigger = message.key

    # ------------------------------------------------------------------ app actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.read_only and action in MUTATING["app"]:
            return False
        if action in ("load_faster", "load_slower"):
            try:
                return self.source.load_rate() is not None
            except Exception:  # noqa: BLE001
                return False
        return True

    def action_show_pane(self, name: str) -> None:
        if name in PANES:
            self.query_one("#tabs", TabbedContent).active = f"tab-{name}"

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.notify("repaint paused; data is still collected" if self.paused else "resumed",
                    timeout=2, title="PAUSED" if self.paused else "")

    def action_refresh_faster(self) -> None:
        self.refresh_interval = _step(REFRESH_STEPS, self.refresh_interval, -1)

    def action_refresh_slower(self) -> None:
        self.refresh_interval = _step(REFRESH_STEPS, self.refresh_interval, +1)

    def action_load_faster(self) -> None:
        self._set_load(+1)

    def action_load_slower(self) -> None:
        self._set_load(-1)

    def _set_load(self, direction: int) -> None:
        current = self.source.load_rate()
        if current is None:
            return
        self.post_message(SetLoadRate(_step(LOAD_STEPS, current, direction)))

    def action_help(self) -> None:
        has_load = bool(self.check_action("load_faster", ()))
        self.push_screen(HelpScreen(self.read_only, has_load, self.keymap.bindings))

    def action_save_screenshot(self) -> None:
        path = self.save_screenshot()
        self.notify(f"saved {path}", title="screenshot")

    # ------------------------------------------------------------------ intents from the panes
    # Panes post what the operator asked for; only the app calls the source (in a thread worker).
    @on(ToggleTrigger)
    def _toggle_trigger(self, message: ToggleTrigger) -> None:
        label = "enable trigger" if message.enabled else "disable trigger"
        self.engine_action(label, self.source.set_trigger_enabled, message.database, message.name, message.enabled)

    @on(RunTriggerNow)
    def _run_trigger_now(self, message: RunTriggerNow) -> None:
        self.engine_action("run now", self.source.run_trigger_now, message.database, message.name)

    @on(DeleteTrigger)
    def _delete_trigger(self, message: DeleteTrigger) -> None:
        key = trigger_key(message.database, message.name)
        running = " It is enabled: it will be stopped first, and its cache dropped." if message.enabled else ""
        self.confirm(
            f"Delete trigger {key}?",
            f"Plugin {message.plugin}, spec {message.spec}.{running} This cannot be undone.",
            lambda: self.engine_action("delete trigger", self.source.delete_trigger, message.database, message.name),
            yes="Delete",
        )

    @on(RetryActivation)
    def _retry_activation(self, message: RetryActivation) -> None:
        self.engine_action("retry activation", self.source.retry_activation, message.activation_id)

    @on(DeleteCacheKey)
    def _delete_cache_key(self, message: DeleteCacheKey) -> None:
        self.engine_action("delete cache key", self.source.delete_cache_key, message.scope_id, message.key)

    @on(ClearCacheScope)
    def _clear_cache_scope(self, message: ClearCacheScope) -> None:
        self.confirm(
            f"Clear cache scope {message.label}?",
            f"All {message.total_keys:,} key(s) of the {message.kind} scope are removed. "
            "Plugins see an empty cache from their next run.",
            lambda: self.engine_action("clear cache scope", self.source.clear_cache_scope, message.scope_id),
            yes="Clear",
        )

    @on(SetLoadRate)
    def _set_load_rate(self, message: SetLoadRate) -> None:
        self.engine_action("load rate", self.source.set_load_rate, message.lines_per_second)

    @on(ShowTriggerDetail)
    def _show_trigger_detail_asked(self, message: ShowTriggerDetail) -> None:
        self.open_trigger_detail(message.database, message.name)

    @on(ShowActivationDetail)
    def _show_activation_detail_asked(self, message: ShowActivationDetail) -> None:
        self.open_activation_detail(message.record)

    @on(ShowCacheValue)
    def _show_cache_value_asked(self, message: ShowCacheValue) -> None:
        self.open_cache_value(message.scope_id, message.scope_label, message.key)

    @on(ShowTriggersUsing)
    def _show_triggers_using(self, message: ShowTriggersUsing) -> None:
        self.show_triggers_filtered(message.filename)

    @on(SelectValueCache)
    def _select_value_cache(self, message: SelectValueCache) -> None:
        select = getattr(self.source, "select_value_cache", None)  # optional in the protocol
        if select is None:
            return
        try:
            select(message.cache_id)
        except Exception:  # noqa: BLE001 -- a source without system caches
            return
        if message.cache_id is not None:
            self.driver_kick()

    # ------------------------------------------------------------------ engine actions
    @work(thread=True, exit_on_error=False, group="engine-actions", description="engine action")
    def engine_action(self, label: str, fn: Callable[..., str], *args: Any) -> None:
        """Run a (blocking) source action in a thread; report with a toast and a log line."""
        try:
            msg = fn(*args)
        except Exception as e:  # noqa: BLE001 -- a failed action is a toast, never a crash
            self.post_message(ActionDone(label, False, f"{label} failed: {e}"))
            return
        self.post_message(ActionDone(label, True, msg or f"{label}: done"))

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        if message.ok:
            self.notify(message.message, title=message.action, timeout=4)
            self._console_log("INFO", message.message)
        else:
            self.notify(message.message, title=message.action, severity="error", timeout=8)
            self._console_log("ERROR", message.message)
            log.error("console action failed: %s", message.message)
        self.driver_kick()

    def driver_kick(self) -> None:
        """Collect soon (an action just changed something)."""
        if self.auto_tick:
            self.driver.kick()

    def _console_log(self, level: str, text: str) -> None:
        fn = getattr(self.source, "console_log", None)
        if fn is not None:
            fn(level, text)

    def confirm(self, title: str, body: str, on_yes: Callable[[], Any], *, yes: str = "Yes") -> None:
        def done(answer: bool | None) -> None:
            if answer:
                on_yes()

        self.push_screen(ConfirmScreen(title, body, yes=yes), done)

    # ------------------------------------------------------------------ detail screens (loaded in threads)
    @work(thread=True, exit_on_error=False, group="details", exclusive=True)
    def open_trigger_detail(self, database: str, name: str) -> None:
        try:
            detail = self.source.trigger_detail(database, name)
        except Exception as e:  # noqa: BLE001
            self.post_message(ActionDone("trigger detail", False, f"cannot load {database}/{name}: {e}"))
            return
        self.post_message(TriggerDetailLoaded(detail))

    @on(TriggerDetailLoaded)
    def _show_trigger_detail(self, message: TriggerDetailLoaded) -> None:
        self.push_screen(TriggerDetailScreen(message.detail, self.now(), self.tz))

    @work(thread=True, exit_on_error=False, group="details", exclusive=True)
    def open_activation_detail(self, record: ActivationRecord) -> None:
        try:
            fresh = self.source.activation(record.id) or record
            can_retry = fresh.status not in ("ok", "skipped") and self.source.can_retry(record.id)
        except Exception:  # noqa: BLE001 -- show what we have
            fresh, can_retry = record, False
        self.post_message(ActivationDetailLoaded(fresh, can_retry))

    @on(ActivationDetailLoaded)
    def _show_activation_detail(self, message: ActivationDetailLoaded) -> None:
        rec = message.record

        def done(retry: bool | None) -> None:
            if retry and not self.read_only:
                self.engine_action("retry activation", self.source.retry_activation, rec.id)

        self.push_screen(ActivationDetailScreen(rec, self.tz, message.can_retry, self.read_only), done)

    @work(thread=True, exit_on_error=False, group="details", exclusive=True)
    def open_cache_value(self, scope_id: str, scope_label: str, key: str) -> None:
        try:
            text = self.source.cache_value(scope_id, key)
        except KeyError:
            self.post_message(ActionDone("cache value", False, f"key {key!r} is gone (expired or deleted)"))
            return
        except Exception as e:  # noqa: BLE001
            self.post_message(ActionDone("cache value", False, f"cannot read {key!r}: {e}"))
            return
        self.post_message(CacheValueLoaded(scope_label, key, text))

    @on(CacheValueLoaded)
    def _show_cache_value(self, message: CacheValueLoaded) -> None:
        self.push_screen(CacheValueScreen(message.scope_label, message.key, message.text))

    def show_triggers_filtered(self, text: str) -> None:
        pane = self.pane("triggers")
        pane.filter_text = text  # type: ignore[attr-defined]
        self.action_show_pane("triggers")
        pane.repaint_if_needed(force=True)

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for k in KEYS:
            if not k.palette or (k.mutating and self.read_only):
                continue
            if k.scope == "app" and not self.check_action(k.action_name, ()):
                continue
            area = "go" if k.name.startswith("pane_") else ("console" if k.scope == "app" else k.scope)
            title = f"{area}: {k.description.lower()}" if area != "go" else f"go: {k.description}"
            keys = self.keymap.keys_of(k.id, k.keys)
            help_text = escape(f"{k.help} · key {pretty_keys(keys)}")  # palette help is markup
            yield SystemCommand(title, help_text, partial(self._run_key, k))

    async def _run_key(self, key: Key) -> None:
        if key.scope == "app":
            await self.run_action(key.action)
            return
        self.action_show_pane(key.scope)
        pane = self.pane(key.scope)
        pane.repaint_if_needed()
        if not await self.run_action(key.action, pane):
            self.notify(f"{SCOPE_TITLES[key.scope]}: {key.description} is not available here", timeout=3)


def _step(steps: tuple, current: float, direction: int) -> Any:
    """The next value in `steps` from `current` in `direction` (+1 up, -1 down)."""
    if direction > 0:
        bigger = [s for s in steps if s > current]
        return bigger[0] if bigger else steps[-1]
    smaller = [s for s in steps if s < current]
    return smaller[-1] if smaller else steps[0]


# ====================================================================== entry points
def _setup_logging(data_dir: Path, level: str) -> Path:
    """Everything goes to <data-dir>/pe-tui.log: the terminal belongs to the console."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "pe-tui.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    return path


def run_console(args: argparse.Namespace) -> int:
    """`pe tui` / `pe-tui`: start the engine (+ HTTP API) in its thread, run the console, stop cleanly."""
    from pe_engine.options import ConfigError, config_from
    from pe_engine.embedded import EngineThread
    from pe_engine.errors import PeError
    from pe_engine.http.server import BindError

    from .live import SUBSCRIPTION_MAXLEN, EngineBridge

    demo = bool(getattr(args, "demo", False))
    tmp: Path | None = None
    if args.data_dir is None:
        if demo:
            tmp = Path(tempfile.mkdtemp(prefix="pe-tui-demo-"))
            args.data_dir = tmp / "data"
        else:
            args.data_dir = Path("./pe-data")
    args.data_dir = Path(args.data_dir)
    if demo:
        if args.plugin_dir is None:
            args.plugin_dir = args.data_dir / "plugins"
        if args.wal_flush_interval is None:
            args.wal_flush_interval = 0.5  # every pane shows data within two seconds
    try:
        config = config_from(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log_path = _setup_logging(config.data_dir, getattr(args, "log_level", "INFO") or "INFO")
    start_demo: Callable[..., Any] | None = None  # the demo's load, started once the engine runs
    if demo:
        from . import demo as demo_mod

        demo_mod.install_plugins(config.plugin_dir)
        start_demo = demo_mod.start_demo

    def start(cfg: Any) -> tuple[Any, Any]:
        et = EngineThread(cfg, access_log=bool(getattr(args, "access_log", False)))
        sub = et.engine.bus.subscribe(SUBSCRIPTION_MAXLEN)  # before start: the start-up lines too
        et.start()
        return et, sub

    print(f"pe-tui: starting the engine (data: {config.data_dir.resolve()})…", file=sys.stderr, flush=True)
    try:
        try:
            et, sub = start(config)
        except BindError as e:
            if not demo:
                raise
            print(f"pe-tui: {config.http_bind} is busy ({e.strerror}); the demo takes a free port", file=sys.stderr)
            config.http_bind = f"{config.http_host_port[0]}:0"
            et, sub = start(config)
    except (OSError, PeError) as e:
        print(f"error: cannot start the engine: {e}", file=sys.stderr)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return 1
    load = None
    app: ConsoleApp | None = None
    source: Any = None
    try:
        if start_demo is not None:
            load = start_demo(et, rate=args.load_rate)
        bridge = EngineBridge(et, load=load, subscription=sub)
        source = bridge
        if getattr(args, "record", None):
            from .replay import RecordingSource

            source = RecordingSource(bridge, args.record)
        from .keymap import default_path

        app = ConsoleApp(source, read_only=args.read_only, refresh=args.refresh, admin_token=et.generated_token,
                         keymap=getattr(args, "keymap", None) or default_path())
        app.run()
    finally:
        if source is not None:
            source.close()
        if load is not None:
            load.stop()
        print("pe-tui: stopping the engine (flushing the WAL, saving caches)…", file=sys.stderr, flush=True)
        try:
            et.stop()
        except Exception as e:  # noqa: BLE001
            print(f"pe-tui: the engine did not stop cleanly: {e} (see {log_path})", file=sys.stderr)
            return 1
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    if et.generated_token and tmp is None:
        print(f"pe-tui: the admin token generated at this start: {et.generated_token}", file=sys.stderr)
    print("pe-tui: stopped cleanly", file=sys.stderr)
    return int(app.return_code or 0) if app is not None else 0
