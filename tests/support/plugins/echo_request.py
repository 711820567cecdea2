"""Request plugin: answers with what it was given (query, headers, body, args)."""
import json


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    try:
        body = json.loads(request_body) if request_body else None
    except ValueError:
        body = request_body.decode("utf-8", "replace")
    influxdb3_local.info("echo_request called")
    return {
        "query": query_parameters,
        "headers": request_headers,
        "body": body,
        "body_type": type(request_body).__name__,
        "args": args,
    }
