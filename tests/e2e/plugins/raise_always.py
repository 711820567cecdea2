"""Every entry point raises."""


def process_writes(influxdb3_local, table_batches, args=None):
    raise ValueError("boom")


def process_scheduled_call(influxdb3_local, call_time, args=None):
    raise ValueError("boom")


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    raise ValueError("boom")
