"""Request plugin over `influxdb3_local.cache`: POST {"key","value","global"?} stores, GET ?key= reads."""
import json


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if request_body:
        req = json.loads(request_body)
        influxdb3_local.cache.put(req["key"], req["value"], use_global=bool(req.get("global")))
        return {"stored": req["key"]}
    key = query_parameters["key"]
    use_global = query_parameters.get("global") == "1"
    return {"key": key, "value": influxdb3_local.cache.get(key, default=None, use_global=use_global)}
