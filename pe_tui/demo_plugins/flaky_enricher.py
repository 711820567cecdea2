"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {"name": "fail_rate", "example": "0.08", "description": "Share of calls that fail (demo of error handling).", "required": false}
    ]
}
"""
# A plugin that fails now and then: it "looks up" each host in an inventory service
# that sometimes times out, and enriches disk rows with the rack the host lives in.
import random


def process_writes(influxdb3_local, table_batches, args=None):
    if not table_batches:
        return
    fail_rate = float((args or {}).get("fail_rate", "0.08"))
    roll = random.random()
    if roll < fail_rate / 2:
        raise ConnectionError("inventory service timed out after 2.0s")
    if roll < fail_rate:
        raise KeyError(f"host-{random.randint(21, 99):02d} is not in the inventory")
    n = 0
    for batch in table_batches:
        for row in batch["rows"]:
            host = row.get("host")
            if host is None or "used_percent" not in row:
                continue
            rack = f"r{int(host.rsplit('-', 1)[-1]) % 4 + 1}"
            influxdb3_local.write(
                LineBuilder("disk_enriched").tag("host", host).tag("rack", rack)
                .float64_field("used_percent", float(row["used_percent"]))
            )
            n += 1
    influxdb3_local.info(f"enriched {n} disk rows")
