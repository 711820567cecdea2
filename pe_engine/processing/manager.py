"""ProcessingEngine: triggers, plugins, caches and activations wired to the storage engine.

It owns no threads of its own beyond the plugin worker pool and the watchdog;
everything else runs on the engine's event loop. Every change of state goes to
the store first, so a restart brings back the same triggers in the same state.
It sees the rest of the engine only through `ports.ProcessingHost`.

One WAL activation: `on_flush` (a flush subscriber) -> `TriggerRuntime.submit`
-> `Executor.submit` -> `TriggerRuntime._done` -> `activation_finished` here.
"""
from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import AlreadyExists, BadRequest, NotFound, PeError
from ..events import ActivationFinished, TriggerChanged
from ..lineprotocol.builder import LineBuilder
from .activations import ActivationLog, ActivationRecord, TriggerStats
from .cache.store import PluginCacheStore
from .dry_run import DryRunContext
from .enums import ActivationStatus, Isolation, TriggerAction, TriggerKind
from .executor import Outcome
from .executors.process import PoolSettings, ProcessExecutor
from .executors.routing import RoutingExecutor
from .executors.thread import ThreadExecutor
from .invocations import Job, RequestCall, ScheduleCall, WalCall
from .limits import Watchdog, WorkerPool
from .logs import LogBuffer
from .plugins.files import InvalidPluginPath
from .plugins.model import GH_PREFIX, PluginError
from .plugins.registry import PluginRegistry
from .ports import Clock, FlushedBatch, ProcessingHost, SystemClock
from .responses import PluginResponse
from .runtime import TriggerRuntime
from .scheduler import Scheduler, first_fire
from .state import StateKeeper
from .trigger_view import TriggerView
from .triggers.definition import TriggerDef
from .triggers.errors import TriggerSpecError
from .triggers.settings import TriggerSettings
from .triggers.specs import RequestSpec, parse_trigger_spec

if TYPE_CHECKING:
    from .packages import PackageInstaller

log = logging.getLogger("pe.processing")


@dataclass
class ProcessingConfig:
    plugin_dir: Path | None = None
    plugin_repo: str | None = None
    plugin_threads: int = 8
    plugin_isolation: str = "thread"  # Isolation; a trigger's `isolation` setting overrides it
    plugin_processes: int = 4
    restrict_trigger_types: tuple[str, ...] | None = None  # e.g. ("wal", "schedule")
    package_install_disabled: bool = False
    cache_snapshot_interval: float = 30.0
    history_flush_interval: float = 1.0
    watch_plugins: bool = True
    virtual_env: Path | None = None


class TriggerRunning(PeError):
    status = 500


class ProcessingEngine:
    def __init__(self, host: ProcessingHost, config: ProcessingConfig | None = None, *, clock: Clock | None = None):
        self.host = host
        self.config = config or ProcessingConfig()
        self.clock: Clock = clock or SystemClock()
        self.bus = host.bus
        self.registry = PluginRegistry(
            self.config.plugin_dir, plugin_repo=self.config.plugin_repo, on_change=self._plugin_changed
        )
        self.caches = PluginCacheStore()
        self.activations = ActivationLog()
        self.logs = LogBuffer(self.bus)
        self.pool = WorkerPool(self.config.plugin_threads)
        self.watchdog = Watchdog()
        self.installer = _installer(self.config)
        threads = ThreadExecutor(
            host=host, plugins=self.registry, pool=self.pool, watchdog=self.watchdog, new_id=self.activations.new_id
        )
        self.executor = RoutingExecutor(
            Isolation(self.config.plugin_isolation),
            threads,
            lambda: ProcessExecutor(
                host=host,
                plugins=self.registry,
                new_id=self.activations.new_id,
                settings=PoolSettings(max_workers=self.config.plugin_processes),
            ),
        )
        self.dry_runs = DryRunContext(
            executor=self.executor,
            load=self.registry.load,
            catalog=host.catalog,
            test_cache=lambda name: self.caches.test_cache(name or "_shared_test"),
        )
        self.scheduler: Scheduler | None = None
        self.triggers: dict[tuple[str, str], TriggerDef] = {}
        self.runtimes: dict[tuple[str, str], TriggerRuntime] = {}
        self.routes: dict[str, TriggerRuntime] = {}
        self._draining: dict[tuple[str, str], TriggerRuntime] = {}  # stopped, with calls still running
        self.state = StateKeeper(
            host.store, registry=self.registry, caches=self.caches, activations=self.activations, logs=self.logs
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._write_backs: set[asyncio.Future[None]] = set()  # queued plugin writes being written
        self._stop = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.executor.bind(self.loop)
        builtins.LineBuilder = LineBuilder  # type: ignore[attr-defined]  # plugins use it without importing (reference §2.1)
        store = self.host.store
        restored = await self.state.restore()
        if self.config.virtual_env is not None:
            await self._use_virtual_env(self.config.virtual_env)
        self.executor.start()  # process isolation: warm workers, after the plugin env is on sys.path
        self.scheduler = Scheduler(self._fire_schedule, self.clock)
        self.scheduler.start()
        for d in await store.load_triggers():
            try:
                trig = TriggerDef.from_json(d)
            except Exception as e:  # never refuse to start over one bad row
                log.error("skipping unreadable trigger %s: %s", d.get("name"), e)
                continue
            self.triggers[(trig.database, trig.name)] = trig
            if not trig.disabled:
                self._start_trigger(trig, restart=True)
        self._update_users()
        self.host.subscribe(self)  # after the value caches: WAL triggers see cached rows
        self._register_system_tables()
        self._tasks.append(asyncio.create_task(self._periodic(), name="pe-processing-periodic"))
        if self.config.watch_plugins and self.config.plugin_dir is not None:
            self._tasks.append(asyncio.create_task(self._watch(), name="pe-plugin-watch"))
        self.started = True
        if restored:
            self.logs.add("", "", "INFO", f"restored {restored} plugin cache entries from the last snapshot")

    async def _use_virtual_env(self, venv: Path) -> None:
        """Like InfluxDB: a missing environment is created (`python -m venv`, in a thread: it
        takes seconds), then its site-packages become importable by plugins."""
        from .packages import venv_python

        loop = asyncio.get_running_loop()
        if not venv_python(venv).exists():
            log.info("creating the plugin virtual environment at %s", venv)
            await loop.run_in_executor(None, self.installer.ensure_venv)
            log.info("created the plugin virtual environment at %s", venv)
        await self.packages_changed()

    async def packages_changed(self) -> None:
        """After the plugin environment is set up or a package install: plugins in threads see
        the new packages (numpy included, for pyarrow), worker processes are replaced."""
        import sys

        from .numpy_bridge import enable_numpy

        loop = asyncio.get_running_loop()
        for sp in await loop.run_in_executor(None, self.installer.site_packages):
            if sp not in sys.path:
                sys.path.append(sp)
        await loop.run_in_executor(None, enable_numpy)
        self.executor.recycle()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self._stop.set()
        self.host.unsubscribe(self)
        if self.scheduler:
            await self.scheduler.stop()
        for rt in self.runtimes.values():
            rt.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._save_history()
        await self.snapshot_caches()
        await self.state.save_plugin_versions()
        self.executor.shutdown()

    async def _periodic(self) -> None:
        last_cache = self.clock.monotonic()
        while True:
            await asyncio.sleep(self.config.history_flush_interval)
            try:
                await self._save_history()
                if self.clock.monotonic() - last_cache >= self.config.cache_snapshot_interval:
                    last_cache = self.clock.monotonic()
                    await self.snapshot_caches()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("saving processing-engine state failed")

    async def _save_history(self) -> None:
        await self.state.save_history()

    async def snapshot_caches(self) -> int:
        return await self.state.snapshot_caches()

    async def _watch(self) -> None:
        try:
            await self.registry.watch(self._stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("plugin file watcher stopped")

    def _plugin_changed(self, filename: str, version: Any, error: str | None) -> None:
        if error:
            self.logs.add("", "", "ERROR", f"plugin {filename} failed to load; the last good version keeps running: {error}")
        elif version is not None:
            self.logs.add("", "", "INFO", f"plugin {filename} reloaded (version {version.content_hash[:12]})")

    # ------------------------------------------------------------------ triggers
    def get(self, database: str, name: str) -> TriggerDef:
        try:
            return self.triggers[(database, name)]
        except KeyError:
            raise NotFound(f"trigger not found: {name} (database {database})") from None

    def find_trigger(self, name: str, database: str | None = None) -> TriggerDef:
        """By name alone when it is unique (the upload endpoints only name the trigger)."""
        found = [t for (d, n), t in self.triggers.items() if n == name and (database is None or d == database)]
        if not found:
            raise NotFound(f"trigger not found: {name}")
        if len(found) > 1:
            raise BadRequest(f"trigger name {name} exists in several databases: pass db")
        return found[0]

    def trigger_view(self, database: str, name: str) -> TriggerView:
        """A snapshot of one trigger's definition and live state (call on the engine loop)."""
        return self._view(self.get(database, name), self.activations.stats(database))

    def trigger_views(self, database: str | None = None) -> list[TriggerView]:
        """Snapshots of every trigger (of one database), sorted by (database, name)."""
        stats = self.activations.stats(database)
        return [self._view(t, stats) for t in self.list_triggers(database)]

    def _view(self, t: TriggerDef, stats: dict[tuple[str, str], TriggerStats]) -> TriggerView:
        key = (t.database, t.name)
        scheduled = self.scheduler is not None and t.spec.is_schedule and not t.disabled
        rt = self.runtimes.get(key)
        return TriggerView.build(
            t,
            stats=stats.get(key),
            scheduled=scheduled,
            next_fire_ns=self.scheduler.next_fire(*key) if scheduled and self.scheduler is not None else None,
            running=rt is not None,
            queued=len(rt.queue) if rt is not None else 0,
            dropped=rt.dropped if rt is not None else 0,
        )

    def describe(self, t: TriggerDef) -> dict:
        """A trigger with its state and statistics, for the CLI and HTTP listing."""
        return self._view(t, self.activations.stats(t.database)).to_json()

    def describe_plugins(self) -> list[dict]:
        out = []
        for info in self.registry.files():
            out.append(info.to_json() if hasattr(info, "to_json") else dict(vars(info)))
        return out

    def list_triggers(self, database: str | None = None) -> list[TriggerDef]:
        return [t for (d, _), t in sorted(self.triggers.items()) if database is None or d == database]

    async def create_trigger(
        self,
        database: str,
        name: str,
        plugin_filename: str,
        spec: str,
        arguments: dict[str, str] | None = None,
        settings: TriggerSettings | None = None,
        disabled: bool = False,
    ) -> TriggerDef:
        self.host.catalog.get_db(database)  # 404 when the database does not exist
        if (database, name) in self.triggers:
            raise AlreadyExists(f"trigger {name} already exists in database {database}")
        try:
            parsed = parse_trigger_spec(spec)
        except TriggerSpecError as e:
            raise PeError(str(e)) from None
        allowed = self.config.restrict_trigger_types
        if allowed and parsed.kind not in allowed:
            raise PeError(f"server is configured to reject {parsed.kind} plugin triggers")
        try:
            await self.registry.prepare(plugin_filename)
        except InvalidPluginPath:
            raise  # a name no file system could hold: the client's 400, not InfluxDB's 500
        except PluginError as e:
            raise PeError(str(e)) from None
        trig = TriggerDef(
            database=database,
            name=name,
            plugin_filename=plugin_filename,
            spec=parsed,
            arguments=arguments or None,
            settings=settings or TriggerSettings(),
            disabled=disabled,
            created_at=self.clock.time(),
        )
        await self.host.store.save_trigger(database, name, trig.to_json())
        self.triggers[(database, name)] = trig
        if not disabled:
            self._start_trigger(trig)
        self._update_users()
        self._changed(trig, TriggerAction.CREATED)
        return trig

    async def delete_trigger(self, database: str, name: str, force: bool = False) -> None:
        trig = self.get(database, name)
        if not trig.disabled and not force:
            raise TriggerRunning(
                f"trigger {name} is enabled and running: disable it first or delete with force=true"
            )
        self._stop_trigger(trig)
        await self.host.store.delete_trigger(database, name)
        del self.triggers[(database, name)]
        self.caches.drop_trigger(database, name)
        self._update_users()
        self._changed(trig, TriggerAction.DELETED)

    async def drop_database(self, database: str) -> None:
        """A deleted database takes its triggers and their caches with it (as in InfluxDB).

        The store rows are already gone (`Store.delete_database`, in the tombstone's transaction);
        this is the in-memory side, and it never stops half-way: every trigger of the database
        leaves the table first, then each is stopped on its own, a failure logged and skipped."""
        doomed = [trig for (db, _), trig in self.triggers.items() if db == database]
        for trig in doomed:
            del self.triggers[(trig.database, trig.name)]
        for trig in doomed:
            try:
                self._stop_trigger(trig)
            except Exception:
                log.exception("deleting database %s: stopping trigger %s failed", database, trig.name)
            self._changed(trig, TriggerAction.DELETED, "database deleted")
        try:
            self.caches.drop_database(database)
        except Exception:
            log.exception("deleting database %s: dropping its plugin caches failed", database)
        self._update_users()

    async def enable_trigger(self, database: str, name: str) -> TriggerDef:
        trig = self.get(database, name)
        if trig.disabled:
            try:  # like InfluxDB, which reads the plugin at every trigger start
                if not trig.plugin_filename.startswith(GH_PREFIX):
                    self.registry.resolve(trig.plugin_filename)  # the file must still be there
                await self.registry.prepare(trig.plugin_filename)
            except PluginError as e:
                raise PeError(f"cannot enable trigger {name}: {e}") from None
            # Memory first, in one step, so no reader sees the flag without the runtime.
            trig.disabled = False
            trig.disabled_reason = None
            self._start_trigger(trig)
            await self.host.store.save_trigger(database, name, trig.to_json())
            self._changed(trig, TriggerAction.ENABLED)
        return trig

    async def disable_trigger(self, database: str, name: str, reason: str | None = None) -> TriggerDef:
        trig = self.get(database, name)
        if not trig.disabled:
            trig.disabled = True
            trig.disabled_reason = reason
            self._stop_trigger(trig)
            self.caches.drop_trigger(database, name)  # InfluxDB drops a stopped trigger's cache
            await self.host.store.save_trigger(database, name, trig.to_json())
            self._changed(trig, TriggerAction.DISABLED_BY_ERROR if reason else TriggerAction.DISABLED, reason)
        return trig

    async def disable_by_error(self, trig: TriggerDef, reason: str) -> None:
        self.logs.add(trig.database, trig.name, "ERROR", reason)
        await self.disable_trigger(trig.database, trig.name, reason=reason)

    async def update_trigger_plugin(self, database: str, name: str, content: str) -> None:
        """PUT /api/v3/plugins/files: replace a trigger's plugin code (file, or __init__.py of a directory)."""
        trig = self.get(database, name)
        self.refuse_upload_over_repository(trig)
        path = self.registry.resolve(trig.plugin_filename)
        rel = trig.plugin_filename.rstrip("/")
        target = f"{rel}/__init__.py" if path.is_dir() else rel
        self.registry.write_file(target, content)
        self.registry.load(trig.plugin_filename)
        self._changed(trig, TriggerAction.UPDATED)

    @staticmethod
    def refuse_upload_over_repository(trig: TriggerDef) -> None:
        """A `gh:` plugin is fetched from the plugin repository: an upload cannot replace it
        (it would only write a stray file named `gh:...` into the plugin directory)."""
        if trig.plugin_filename.startswith(GH_PREFIX):
            raise BadRequest(
                f"trigger {trig.name}'s plugin {trig.plugin_filename} comes from a repository and cannot be "
                "replaced by upload: change it in the repository, or point the trigger at a local plugin file"
            )

    def _start_trigger(self, trig: TriggerDef, restart: bool = False) -> None:
        key = (trig.database, trig.name)
        assert self.loop is not None, "start() first"
        rt = TriggerRuntime(
            trig,
            executor=self.executor,
            sink=self,
            logs=self.logs,
            cache=self.caches.trigger_cache(trig.database, trig.name),
            loop=self.loop,
        )
        old = self._draining.pop(key, None)
        if old is not None and old.running:
            rt.predecessor, old.successor = old, rt
        self.runtimes[key] = rt
        spec = trig.spec
        if isinstance(spec, RequestSpec):
            path = spec.path
            if path in self.routes and self.routes[path].trigger is not trig:
                self.logs.add(trig.database, trig.name, "WARN", f"request path {path} was served by another trigger; this one takes it over")
            self.routes[path] = rt
        elif spec.is_schedule:
            assert self.scheduler is not None
            last = self.state.last_fired.get(key)
            first = first_fire(spec, last, trig.settings.catch_up, self.clock.time_ns(), restart)
            self.scheduler.add(trig.database, trig.name, spec, first)

    def _stop_trigger(self, trig: TriggerDef) -> None:
        key = (trig.database, trig.name)
        rt = self.runtimes.pop(key, None)
        if rt is not None:
            rt.stop()
            if rt.running:
                self._draining[key] = rt
        spec = trig.spec
        if isinstance(spec, RequestSpec) and rt is not None and self.routes.get(spec.path) is rt:
            del self.routes[spec.path]
        if spec.is_schedule and self.scheduler is not None:
            self.scheduler.remove(*key)

    def runtime_drained(self, rt: TriggerRuntime) -> None:
        key = (rt.trigger.database, rt.trigger.name)
        if self._draining.get(key) is rt:
            del self._draining[key]

    def _update_users(self) -> None:
        users: dict[str, set[str]] = {}
        for (db, name), t in self.triggers.items():
            users.setdefault(t.plugin_filename, set()).add(f"{db}/{name}")
        self.registry.set_users_map(users)

    def _changed(self, trig: TriggerDef, action: TriggerAction, detail: str | None = None) -> None:
        self.bus.publish(TriggerChanged(database=trig.database, trigger=trig.name, action=action, detail=detail))

    # ------------------------------------------------------------------ events -> jobs
    def on_flush(self, flushed: Sequence[FlushedBatch]) -> None:
        """FlushSubscriber: called on the loop right after a WAL flush; must stay cheap."""
        if not self.runtimes:
            return
        for fw in flushed:
            # A WalCall is immutable: triggers that want the same tables of a flush share one.
            calls: dict[tuple[str, ...], WalCall] = {}
            for (db, _), rt in self.runtimes.items():
                if db != fw.database:
                    continue
                spec = rt.trigger.spec
                # Only the tables this trigger wants; none (or not a WAL trigger): no call for
                # this flush, like InfluxDB 3.11.
                wanted = tuple(name for name in fw.tables if spec.matches_table(name))
                if not wanted:
                    continue
                call = calls.get(wanted)
                if call is None:
                    call = calls[wanted] = WalCall(fw.seq, fw.database, {name: fw.tables[name] for name in wanted})
                rt.submit(Job.of(call))

    def _fire_schedule(self, database: str, name: str, fire_ns: int) -> bool:
        """The scheduler's callback: a tick is due. False when the trigger no longer runs."""
        key = (database, name)
        rt = self.runtimes.get(key)
        if rt is None:
            return False
        self.state.mark_fired(key, fire_ns)
        rt.submit(Job.of(ScheduleCall(fire_ns)))
        return True

    async def handle_request(
        self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> PluginResponse:
        rt = self.routes.get(path)
        if rt is None:
            return PluginResponse(404, b'{error: "not found"}', "application/json")
        headers = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
        fut: asyncio.Future[PluginResponse] = asyncio.get_running_loop().create_future()
        rt.submit(Job.of(RequestCall(dict(query), headers, body), future=fut))
        return await fut

    async def run_now(self, database: str, name: str) -> None:
        """Console `r`: run a scheduled trigger now, with now as its call time."""
        trig = self.get(database, name)
        rt = self.runtimes.get((database, name))
        if rt is None:
            raise BadRequest(f"trigger {name} is disabled")
        if not trig.spec.is_schedule:
            raise BadRequest(f"trigger {name} is not a schedule trigger")
        rt.submit(Job.of(ScheduleCall(self.clock.time_ns())))

    async def retry_activation(self, activation_id: int) -> None:
        """Console `R`: run a failed activation again with its original input."""
        kept = self.activations.failed_input(activation_id)
        if kept is None:
            raise NotFound(f"the input of activation {activation_id} is no longer kept")
        database, name, job = cast("tuple[str, str, Job]", kept)  # the tuple activation_finished kept
        rt = self.runtimes.get((database, name))
        if rt is None:
            raise BadRequest(f"trigger {name} is disabled or gone")
        rt.submit(job.again())

    # ------------------------------------------------------------------ outcomes (RuntimeSink)
    def activation_finished(self, trigger: TriggerDef, job: Job, outcome: Outcome) -> None:
        rec = outcome.record
        self.activations.record(rec)
        if rec.status != ActivationStatus.OK and job.kind != TriggerKind.REQUEST:
            self.activations.keep_failed_input(rec.id, (trigger.database, trigger.name, job))
        if outcome.queued_writes:
            for db, lines in outcome.queued_writes.items():
                task = asyncio.ensure_future(self._write_back(trigger, job.kind, db, lines))
                self._write_backs.add(task)
                task.add_done_callback(self._write_backs.discard)
        self.bus.publish(ActivationFinished(record=rec))

    def activation_dropped(self, trigger: TriggerDef, job: Job, dropped: int) -> None:
        t = trigger
        rec = ActivationRecord(
            id=self.activations.new_id(), database=t.database, trigger=t.name, kind=job.kind,
            plugin=t.plugin_filename, scheduled_at=job.scheduled_at, dispatched_at=job.dispatched_wall,
            started_at=None, status=ActivationStatus.DROPPED, rows_in=job.rows_in,
            error="the trigger's queue was full; the oldest waiting event was dropped",
        )
        self.activations.record(rec)
        if dropped == 1 or dropped % 100 == 0:
            self.logs.add(t.database, t.name, "WARN", f"queue full: {dropped} event(s) dropped so far")
        self.bus.publish(ActivationFinished(record=rec))

    async def wait_write_backs(self) -> None:
        """Until every queued write of the activations finished so far is written (or failed)."""
        while self._write_backs:
            await asyncio.gather(*list(self._write_backs), return_exceptions=True)

    def disable_after_error(self, trigger: TriggerDef, reason: str) -> None:
        asyncio.ensure_future(self.disable_by_error(trigger, reason))

    async def _write_back(self, trig: TriggerDef, kind: str, db: str, lines: list[str]) -> None:
        try:
            res = await self.host.write_lp(db, "\n".join(lines), "ns", accept_partial=False)
            if res.errors:
                e = res.errors[0]
                raise PeError(f"line {e.line_number}: {e.message}")
        except Exception as e:
            self.logs.add(
                trig.database, trig.name, "ERROR",
                f"error running {kind} plugin: error writing back lines to {db}: {e}",
            )

    # ------------------------------------------------------------------ system tables
    def _register_system_tables(self) -> None:
        from .system_tables import register_processing_tables

        register_processing_tables(self, self.host.system_tables)


def _installer(config: ProcessingConfig) -> "PackageInstaller":
    from .packages import PackageInstaller

    return PackageInstaller(disabled=config.package_install_disabled, target=config.virtual_env)
