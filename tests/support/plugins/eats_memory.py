"""
{
    "plugin_type": ["onwrite", "scheduled", "http"],
    "onwrite_args_config": [
        {
            "name": "total_mb",
            "example": "4096",
            "description": "How much to allocate in total, in MB (default 4096).",
            "required": false
        }
    ],
    "scheduled_args_config": [
        {
            "name": "total_mb",
            "example": "4096",
            "description": "How much to allocate in total, in MB (default 4096).",
            "required": false
        }
    ],
    "http_args_config": [
        {
            "name": "total_mb",
            "example": "4096",
            "description": "How much to allocate in total, in MB (default 4096).",
            "required": false
        }
    ]
}

Allocates (and touches, so the pages are really resident) 50 MB chunks up to `total_mb`; only
a memory limit stops it early. Returns/finishes normally if it gets there.
"""

CHUNK = 50 * 1024 * 1024


def _eat(influxdb3_local, args):
    total = int((args or {}).get("total_mb", "4096")) * 1024 * 1024
    chunks = []
    eaten = 0
    while eaten < total:
        chunks.append(bytearray(CHUNK))  # calloc'd pages: zero-filled on touch below
        chunk = chunks[-1]
        for i in range(0, CHUNK, 4096):
            chunk[i] = 1
        eaten += CHUNK
    influxdb3_local.info(f"allocated {eaten // (1024 * 1024)} MB")
    return eaten


def process_writes(influxdb3_local, table_batches, args=None):
    _eat(influxdb3_local, args)


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _eat(influxdb3_local, args)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"allocated": _eat(influxdb3_local, args)}
