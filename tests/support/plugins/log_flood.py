"""
{
    "plugin_type": ["onwrite", "scheduled"],
    "onwrite_args_config": [
        {
            "name": "lines",
            "example": "10000",
            "description": "Log lines per call (default 10000).",
            "required": false
        }
    ],
    "scheduled_args_config": [
        {
            "name": "lines",
            "example": "10000",
            "description": "Log lines per call (default 10000).",
            "required": false
        }
    ]
}

Writes `lines` INFO log lines per call (10,000 by default): the log ring and the store have to
stay bounded and the engine responsive.
"""


def _flood(influxdb3_local, args):
    n = int((args or {}).get("lines", "10000"))
    for i in range(n):
        influxdb3_local.info("flood line", i, "of", n)


def process_writes(influxdb3_local, table_batches, args=None):
    _flood(influxdb3_local, args)


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _flood(influxdb3_local, args)
