"""
{
    "plugin_type": ["http"],
    "http_args_config": []
}
"""
# HTTP endpoint (request:host_status): GET /api/v3/engine/host_status?host=host-03
# answers from the global cache the last_values plugin keeps warm; no query needed.
import json


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    cache = influxdb3_local.cache
    host = query_parameters.get("host")
    if not host and request_body:
        try:
            host = json.loads(request_body).get("host")
        except ValueError:
            return {"error": "body is not JSON"}, 400
    if not host:
        report = cache.get("fleet:last_report", default=None, use_global=True)
        return {"fleet": report, "alerts": cache.get("alerts:active", default={}, use_global=True)}
    status = cache.get(f"host:{host}", default=None, use_global=True)
    if status is None:
        return {"error": f"no recent data for {host}"}, 404
    influxdb3_local.info(f"status of {host} served")
    return {"host": host, **status}
