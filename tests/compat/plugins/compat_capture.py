"""A webhook for the compatibility suite: every request it gets becomes one `captured` row, so a
test can see what an official plugin sent (alerts chained through the notifier, webhooks)."""


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    body = request_body.decode("utf-8") if isinstance(request_body, (bytes, bytearray)) else str(request_body)
    line = LineBuilder("captured").tag("hook", (args or {}).get("hook", "default"))
    line.string_field("body", body)
    line.string_field("content_type", request_headers.get("content-type", ""))
    influxdb3_local.write(line)
    return {"ok": True, "bytes": len(body)}
