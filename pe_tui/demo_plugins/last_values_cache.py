"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {"name": "ttl", "example": "60", "description": "Seconds a cached value lives.", "required": false},
        {"name": "history", "example": "20", "description": "Recent values kept per host and table.", "required": false}
    ]
}
"""
# Cache-heavy plugin: keeps the last row of every host and table (trigger scope), a short
# history per series, and a per-host summary in the global scope for the host_status endpoint.


def process_writes(influxdb3_local, table_batches, args=None):
    if not table_batches:
        return
    args = args or {}
    ttl = float(args.get("ttl", "60"))
    keep = int(args.get("history", "20"))
    cache = influxdb3_local.cache
    seen = 0
    for batch in table_batches:
        table = batch["table_name"]
        if table not in ("cpu", "mem", "disk"):
            continue
        for row in batch["rows"]:
            host = row.get("host")
            if host is None:
                continue
            seen += 1
            values = {k: v for k, v in row.items() if k not in ("host", "region", "cpu", "path")}
            cache.put(f"{table}:{host}", values, ttl=ttl)
            metric = {"cpu": "usage_user", "mem": "used_percent", "disk": "used_percent"}[table]
            hist = cache.get(f"history:{table}:{host}", default=[])
            hist.append(round(float(row.get(metric, 0.0)), 2))
            cache.put(f"history:{table}:{host}", hist[-keep:], ttl=ttl * 5)
            summary = cache.get(f"host:{host}", default={}, use_global=True)
            summary[table] = round(float(row.get(metric, 0.0)), 1)
            summary["time"] = row.get("time")
            cache.put(f"host:{host}", summary, ttl=ttl, use_global=True)
    total = cache.get("counters:rows_seen", default=0, use_global=True) + seen
    cache.put("counters:rows_seen", total, use_global=True)
