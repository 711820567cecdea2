"""`system.processing_engine_*` and `system.plugin_files`, built on demand from live state."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from .triggers.secrets import masked_value

if TYPE_CHECKING:
    from .activations import ActivationLog
    from .logs import LogBuffer
    from .plugins.registry import PluginRegistry
    from .ports import SystemTableRegistry
    from .trigger_view import TriggerView


class TablesSource(Protocol):
    """The live state these tables read (the processing engine)."""

    @property
    def logs(self) -> "LogBuffer": ...

    @property
    def registry(self) -> "PluginRegistry": ...

    @property
    def activations(self) -> "ActivationLog": ...

    def trigger_views(self, database: str | None = None) -> "list[TriggerView]": ...

TS = pa.timestamp("ns")


def register_processing_tables(pe: TablesSource, tables: "SystemTableRegistry") -> None:
    def triggers(db: str) -> pa.Table:
        ts = pe.trigger_views(db)
        return pa.table(
            {
                "trigger_name": pa.array([t.name for t in ts], pa.string()),
                "plugin_filename": pa.array([t.plugin_filename for t in ts], pa.string()),
                "trigger_specification": pa.array([t.spec.catalog_json() for t in ts], pa.string()),
                "disabled": pa.array([t.disabled for t in ts], pa.bool_()),
                "error_behavior": pa.array([t.settings.error_behavior for t in ts], pa.string()),
            }
        )

    def arguments(db: str) -> pa.Table:
        rows = [(t.name, k, masked_value(k, v)) for t in pe.trigger_views(db) for k, v in (t.arguments or {}).items()]
        return pa.table(
            {
                "trigger_name": pa.array([r[0] for r in rows], pa.string()),
                "argument_key": pa.array([r[1] for r in rows], pa.string()),
                "argument_value": pa.array([r[2] for r in rows], pa.string()),
            }
        )

    def logs(db: str) -> pa.Table:
        # Like InfluxDB Core: the same process-wide buffer in every database.
        es = pe.logs.entries()
        times = pa.array([e.time_ns for e in es], pa.int64()).cast(TS)
        return pa.table(
            {
                "event_time": times,
                "time": times,
                "trigger_name": pa.array([e.trigger for e in es], pa.string()),
                "log_level": pa.array([e.level for e in es], pa.string()),
                "log_text": pa.array([e.text for e in es], pa.string()),
            }
        )

    def plugin_files(db: str) -> pa.Table | None:
        if db != "_internal":  # InfluxDB serves it only there
            return None
        rows = []
        for t in pe.trigger_views():
            for fi in pe.registry.trigger_files(t.plugin_filename):
                rows.append((t.name, fi.file_name, fi.file_path, fi.size_bytes, fi.last_modified_ms))
        return pa.table(
            {
                "plugin_name": pa.array([r[0] for r in rows], pa.string()),
                "file_name": pa.array([r[1] for r in rows], pa.string()),
                "file_path": pa.array([r[2] for r in rows], pa.string()),
                "size_bytes": pa.array([r[3] for r in rows], pa.int64()),
                "last_modified": pa.array([r[4] for r in rows], pa.int64()),
            }
        )

    def activations(db: str) -> pa.Table:
        recs = pe.activations.recent(limit=10_000, database=db)
        def col(name, typ):
            return pa.array([getattr(r, name) for r in recs], typ)
        def ts(name):
            return pa.array([None if getattr(r, name) is None else int(getattr(r, name) * 1e9) for r in recs], pa.int64()).cast(TS)
        return pa.table(
            {
                "id": col("id", pa.int64()),
                "trigger_name": col("trigger", pa.string()),
                "kind": col("kind", pa.string()),
                "plugin_filename": col("plugin", pa.string()),
                "status": col("status", pa.string()),
                "scheduled_at": ts("scheduled_at"),
                "started_at": ts("started_at"),
                "dispatch_latency_ms": pa.array([None if r.dispatch_latency is None else r.dispatch_latency * 1e3 for r in recs], pa.float64()),
                "run_time_ms": pa.array([None if r.run_time is None else r.run_time * 1e3 for r in recs], pa.float64()),
                "cpu_time_ms": pa.array([None if r.cpu_time is None else r.cpu_time * 1e3 for r in recs], pa.float64()),
                "memory_peak_bytes": col("memory_peak", pa.int64()),
                "rows_in": col("rows_in", pa.int64()),
                "lines_out": col("lines_out", pa.int64()),
                "attempt": col("attempt", pa.int64()),
                "error": col("error", pa.string()),
            }
        )

    tables.register("processing_engine_triggers", triggers)
    tables.register("processing_engine_trigger_arguments", arguments)
    tables.register("processing_engine_logs", logs)
    tables.register("plugin_files", plugin_files)
    tables.register("processing_engine_activations", activations)

