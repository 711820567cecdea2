"""What a plugin sees: `influxdb3_local`, its table batches and its cache (InfluxDB 3's
`influxdb3_py_api`). The face re-exports the public names."""
from __future__ import annotations

from .batches import TableBatch, batch_to_rows, table_to_rows
from .cache import TriggerCache
from .local import SHUTDOWN_MESSAGE, PluginApi, QueryError

__all__ = ["TableBatch", "batch_to_rows", "table_to_rows", "TriggerCache", "SHUTDOWN_MESSAGE", "PluginApi", "QueryError"]
