"""
{
    "plugin_type": ["onwrite", "scheduled", "http"],
    "onwrite_args_config": [],
    "scheduled_args_config": [],
    "http_args_config": []
}

Loops forever in pure Python (no sleeps, no C calls that block), so only the engine's deadline
can stop it. Each call first records one `infinite_loop_started` hit in the global cache.
"""


def _spin(influxdb3_local):
    cache = influxdb3_local.cache
    cache.put("infinite_loop_started", cache.get("infinite_loop_started", 0, use_global=True) + 1, use_global=True)
    n = 0
    while True:
        n += 1


def process_writes(influxdb3_local, table_batches, args=None):
    _spin(influxdb3_local)


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _spin(influxdb3_local)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    _spin(influxdb3_local)
