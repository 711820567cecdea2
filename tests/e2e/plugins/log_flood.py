"""Floods the log on every call."""


def process_writes(influxdb3_local, table_batches, args=None):
    for i in range(20_000):
        influxdb3_local.info("flood", i, "x" * 100)
    influxdb3_local.warn("flood done")
