"""GET /metrics: the engine's counters in the Prometheus text exposition format.

Nothing is counted here. `EngineCollector` reads, at scrape time, the counters the engine
already keeps (`EngineStats`, the activation log's per-trigger aggregates, the value caches'
and the plugin cache's sizes) and the app's `HttpCounters`, so a write or an activation pays
nothing for being observable. Each app gets its own `CollectorRegistry` (`install`), never
prometheus_client's global one: two servers in one process (tests, the console) report apart.
As in InfluxDB 3 Core, the endpoint needs a token when auth is on.
"""
from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator, Sequence
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Sample

from .. import __version__
from ..processing.activations import TriggerStats
from ..processing.cache.records import CacheStats
from ..storage.caches.base import CacheSummary
from ..storage.stats import EngineStats
from .counters import HTTP_COUNTERS, HttpCounters
from .keys import ENGINE
from .status import BUILD

# The run-time percentiles the activation log keeps, as summary quantiles.
QUANTILES = (("0.5", "run_time_p50"), ("0.95", "run_time_p95"), ("0.99", "run_time_p99"))


# -- what the collector reads (the Engine satisfies these structurally) --------------------------
class DescribedCache(Protocol):
    def describe(self) -> CacheSummary: ...


class ValueCacheSource(Protocol):
    def caches(self) -> Sequence[DescribedCache]: ...


class ActivationSource(Protocol):
    def stats(self) -> dict[tuple[str, str], TriggerStats]: ...


class PluginCacheSource(Protocol):
    def stats(self) -> CacheStats: ...


class ProcessingSource(Protocol):
    @property
    def activations(self) -> ActivationSource: ...

    @property
    def caches(self) -> PluginCacheSource: ...


class MetricsSource(Protocol):
    @property
    def stats(self) -> EngineStats: ...

    @property
    def value_caches(self) -> ValueCacheSource: ...

    @property
    def processing(self) -> ProcessingSource | None: ...


# -- the collector -------------------------------------------------------------------------------
class EngineCollector:
    """A prometheus_client custom collector: one pass over the engine's state per scrape."""

    def __init__(self, source: MetricsSource, http: HttpCounters) -> None:
        self.source = source
        self.http = http

    def collect(self) -> Iterator[Metric]:
        yield from self._build()
        yield from self._writes(self.source.stats)
        yield from self._queries(self.source.stats)
        yield from self._value_caches()
        processing = self.source.processing
        if processing is not None:
            yield from self._activations(processing.activations.stats())
            yield from self._plugin_cache(processing.caches.stats())

    def _build(self) -> Iterator[Metric]:
        yield InfoMetricFamily("pe_build", "Version of this server.",
                               value={"version": __version__, "build": BUILD,
                                      "python": platform.python_version()})
        yield GaugeMetricFamily("pe_start_time_seconds", "When the engine started (Unix time).",
                                value=self.source.stats.started_at)

    def _writes(self, s: EngineStats) -> Iterator[Metric]:
        yield CounterMetricFamily("pe_http_write_requests", "Write requests received on /api/v3/write_lp, "
                                  "/api/v2/write and /write, whatever their answer.", value=self.http.write_requests)
        yield CounterMetricFamily("pe_writes", "Writes that stored lines (HTTP, plugins, in-process callers).",
                                  value=s.writes)
        yield CounterMetricFamily("pe_lines_written", "Lines of line protocol stored.", value=s.lines)
        yield CounterMetricFamily("pe_lines_rejected", "Lines of line protocol rejected (parse, type or "
                                  "schema-limit errors).", value=s.rejected_lines)
        yield SummaryMetricFamily("pe_wal_flush_duration_seconds", "Time to write and fsync one WAL record.",
                                  count_value=s.flushes, sum_value=s.flush_seconds_total)
        yield GaugeMetricFamily("pe_wal_flush_last_duration_seconds", "Time the last WAL flush took.",
                                value=s.last_flush_seconds)
        yield CounterMetricFamily("pe_snapshots", "Parquet snapshots written.", value=s.snapshots)
        yield CounterMetricFamily("pe_snapshot_failures", "Parquet snapshot attempts that failed (each is "
                                  "retried).", value=s.snapshot_failures)

    def _queries(self, s: EngineStats) -> Iterator[Metric]:
        yield CounterMetricFamily("pe_queries", "SQL queries run (HTTP, Flight, plugins).", value=s.queries)
        yield SummaryMetricFamily("pe_http_query_duration_seconds", "Time /api/v3/query_sql queries spent in "
                                  "the engine, result encoding excluded.",
                                  count_value=self.http.queries, sum_value=self.http.query_seconds)

    def _value_caches(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily("pe_value_cache_entries", "Entries held by a last-value cache (keys) or a "
                                    "distinct-value cache (combinations).",
                                    labels=["kind", "database", "table", "name"])
        for cache in self.source.value_caches.caches():
            d = cache.describe()
            entries.add_metric([d.kind.value, d.db, d.table, d.name], d.keys)
        yield entries

    def _activations(self, stats: dict[tuple[str, str], TriggerStats]) -> Iterator[Metric]:
        labels = ["database", "trigger"]
        by_status = CounterMetricFamily("pe_activations", "Activations by trigger and status.",
                                        labels=[*labels, "status"])
        run = SummaryMetricFamily("pe_plugin_run_seconds", "Plugin run time per trigger; the quantiles are "
                                  "over its latest runs.", labels=labels)
        cpu = CounterMetricFamily("pe_plugin_cpu_seconds", "CPU time plugins used, per trigger.", labels=labels)
        for (db, trigger), st in sorted(stats.items()):
            for status, n in sorted(st.by_status.items()):
                by_status.add_metric([db, trigger, str(status)], n)
            for quantile, attr in QUANTILES:
                value = getattr(st, attr)
                if value is not None:
                    run.samples.append(Sample(run.name, {"database": db, "trigger": trigger,
                                                         "quantile": quantile}, value))
            run.add_metric([db, trigger], st.runs, st.run_time_total)
            cpu.add_metric([db, trigger], st.cpu_time_total)
        yield from (by_status, run, cpu)

    def _plugin_cache(self, stats: CacheStats) -> Iterator[Metric]:
        keys = GaugeMetricFamily("pe_plugin_cache_keys", "Keys in the plugin cache (influxdb3_local.cache) per "
                                 "namespace: scope trigger (database, trigger name), global, or test (name).",
                                 labels=["scope", "database", "name"])
        for ns, n in stats.keys_by_namespace.items():
            keys.add_metric(list(_namespace_labels(ns)), n)
        yield keys
        yield GaugeMetricFamily("pe_plugin_cache_bytes", "Approximate size of every plugin cache value.",
                                value=stats.approx_bytes)


def _namespace_labels(ns: tuple[str, ...]) -> tuple[str, str, str]:
    """(scope, database, name) of a plugin-cache namespace."""
    scope = ns[0] if ns else ""
    if scope == "trigger" and len(ns) == 3:
        return scope, ns[1], ns[2]
    return scope, "", "/".join(ns[1:])


# -- wiring ---------------------------------------------------------------------------------------
METRICS_REGISTRY = web.AppKey("pe.metrics_registry", CollectorRegistry)


def install(app: web.Application) -> None:
    """Give the app its counters and its registry (call after the engine is stored on it)."""
    counters = HttpCounters()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(app[ENGINE], counters))
    app[HTTP_COUNTERS] = counters
    app[METRICS_REGISTRY] = registry


async def metrics(request: web.Request) -> web.Response:
    """The exposition the scraper asked for (Accept: OpenMetrics or the classic text format)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    registry = request.app[METRICS_REGISTRY]
    body = await asyncio.get_running_loop().run_in_executor(None, encoder, registry)
    return web.Response(body=body, headers={"Content-Type": content_type})
