"""Pure-Python infinite loop (stopped only by the trigger's deadline)."""


def process_writes(influxdb3_local, table_batches, args=None):
    n = 0
    while True:
        n += 1
