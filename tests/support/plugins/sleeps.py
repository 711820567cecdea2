"""
{
    "plugin_type": ["onwrite", "scheduled", "http"],
    "onwrite_args_config": [
        {
            "name": "seconds",
            "example": "5",
            "description": "How long to block in time.sleep (default 5).",
            "required": false
        }
    ],
    "scheduled_args_config": [
        {
            "name": "seconds",
            "example": "5",
            "description": "How long to block in time.sleep (default 5).",
            "required": false
        }
    ],
    "http_args_config": [
        {
            "name": "seconds",
            "example": "5",
            "description": "How long to block in time.sleep (default 5).",
            "required": false
        }
    ]
}

Blocks inside one C call (`time.sleep`) for `seconds`, longer than any sane deadline: an async
exception cannot be delivered until the call returns, so the engine has to write the thread off.
"""
import time


def _block(influxdb3_local, args):
    influxdb3_local.info("going to sleep")
    time.sleep(float((args or {}).get("seconds", "5")))
    influxdb3_local.write(LineBuilder("sleeps_done").int64_field("n", 1))


def process_writes(influxdb3_local, table_batches, args=None):
    _block(influxdb3_local, args)


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _block(influxdb3_local, args)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    _block(influxdb3_local, args)
    return "awake"
