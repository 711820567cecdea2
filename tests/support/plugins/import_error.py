"""
{
    "plugin_type": ["onwrite", "scheduled", "http"],
    "onwrite_args_config": [],
    "scheduled_args_config": [],
    "http_args_config": []
}

Imports a package that is not installed, so every activation fails with
`ModuleNotFoundError: No module named 'pe_missing_dependency_xyz'` before the entry point runs.
"""
import pe_missing_dependency_xyz  # noqa: F401


def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("unreachable")


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("unreachable")


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return "unreachable"
