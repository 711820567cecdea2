"""Valid Python without any entry point."""


def something_else(influxdb3_local, table_batches, args=None):
    pass
