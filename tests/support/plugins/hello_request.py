"""
{
    "plugin_type": ["http"],
    "http_args_config": [
        {
            "name": "greeting",
            "example": "Hello",
            "description": "Word the answer starts with (default: Hello).",
            "required": false
        }
    ]
}

HTTP plugin: `GET /api/v3/engine/<path>?name=Ada` answers `{"message": "Hello, Ada!"}`; a POST
with a JSON body `{"name": ...}` works too. Counts calls in the trigger cache.
"""
import json


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    name = query_parameters.get("name")
    if request_body:
        try:
            name = json.loads(request_body).get("name", name)
        except (ValueError, AttributeError):
            return {"error": "request body must be a JSON object"}, 400
    greeting = (args or {}).get("greeting", "Hello")
    calls = influxdb3_local.cache.get("calls", default=0) + 1
    influxdb3_local.cache.put("calls", calls)
    influxdb3_local.info(f"hello_request called for {name or 'world'}")
    return {"message": f"{greeting}, {name or 'world'}!", "calls": calls}
