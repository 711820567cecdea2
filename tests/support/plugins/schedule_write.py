"""Schedule plugin that writes one row per call (`ticks,trigger=<args.name> n=1i`)."""


def process_scheduled_call(influxdb3_local, call_time, args=None):
    name = (args or {}).get("name", "tick")
    influxdb3_local.write(LineBuilder("ticks").tag("trigger", name).int64_field("n", 1))
    influxdb3_local.info(f"scheduled call at {call_time.isoformat()}")
