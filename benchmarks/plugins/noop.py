"""Benchmark plugin: does nothing (for `pe serve` runs, where no probe module exists)."""


def process_writes(influxdb3_local, table_batches, args=None):
    pass


def process_scheduled_call(influxdb3_local, call_time, args=None):
    pass
