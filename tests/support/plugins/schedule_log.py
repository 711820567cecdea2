"""Schedule plugin: logs the call time it was given."""


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info(f"tick call_time={call_time.isoformat()} tz={call_time.tzinfo}")
