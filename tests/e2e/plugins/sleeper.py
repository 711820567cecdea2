"""Sleeps (inside C code) far past any deadline."""
import time


def process_writes(influxdb3_local, table_batches, args=None):
    time.sleep(20)
