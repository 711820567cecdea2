"""
{
    "plugin_type": ["onwrite", "scheduled", "http"],
    "onwrite_args_config": [
        {
            "name": "message",
            "example": "boom",
            "description": "Text of the ValueError raised (default: boom).",
            "required": false
        }
    ],
    "scheduled_args_config": [
        {
            "name": "message",
            "example": "boom",
            "description": "Text of the ValueError raised (default: boom).",
            "required": false
        }
    ],
    "http_args_config": [
        {
            "name": "message",
            "example": "boom",
            "description": "Text of the ValueError raised (default: boom).",
            "required": false
        }
    ]
}

Always fails: queues a write to `raises_queued` first (which must be discarded because the call
fails), then raises `ValueError(<message>)`. Used for error behaviours and HTTP 500s.
"""


def _fail(influxdb3_local, args):
    influxdb3_local.write(LineBuilder("raises_queued").int64_field("n", 1))
    raise ValueError((args or {}).get("message", "boom"))


def process_writes(influxdb3_local, table_batches, args=None):
    _fail(influxdb3_local, args)


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _fail(influxdb3_local, args)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    _fail(influxdb3_local, args)
