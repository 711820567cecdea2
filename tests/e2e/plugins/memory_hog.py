"""Tries to allocate 4 GiB in 16 MiB pieces (stopped by the trigger's memory limit)."""


def process_writes(influxdb3_local, table_batches, args=None):
    hoard = []
    for _ in range(256):
        hoard.append(bytearray(16 * 1024 * 1024))
    influxdb3_local.info(f"allocated {len(hoard) * 16} MiB")
