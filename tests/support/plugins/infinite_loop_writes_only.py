"""Pure-Python infinite loop with only process_writes (stopped only by the trigger's deadline); a
request trigger on it fails with "process_request function is not present" (infinite_loop.py has all three)."""


def process_writes(influxdb3_local, table_batches, args=None):
    n = 0
    while True:
        n += 1
