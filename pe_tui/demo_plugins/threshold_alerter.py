"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {"name": "field", "example": "used_percent", "description": "Field to watch.", "required": true},
        {"name": "threshold", "example": "90", "description": "Alert when the field is above this value.", "required": true},
        {"name": "trigger_count", "example": "3", "description": "Consecutive breaches before an alert.", "required": false},
        {"name": "target_database", "example": "demo_alerts", "description": "Database the alerts are written to.", "required": false}
    ]
}
"""
# Threshold alerter: counts consecutive breaches per host in the trigger's cache and,
# after `trigger_count` of them, writes an `alerts` row to another database.


def process_writes(influxdb3_local, table_batches, args=None):
    if not table_batches:
        return
    args = args or {}
    field = args.get("field", "used_percent")
    threshold = float(args.get("threshold", "90"))
    needed = int(args.get("trigger_count", "3"))
    target_db = args.get("target_database", "demo_alerts")
    cache = influxdb3_local.cache
    active = cache.get("alerts:active", default={}, use_global=True)

    for batch in table_batches:
        for row in batch["rows"]:
            host, value = row.get("host"), row.get(field)
            if host is None or not isinstance(value, (int, float)):
                continue
            key = f"{host}:{field}"
            if value <= threshold:
                if cache.delete(key) and host in active:
                    active.pop(host, None)
                    influxdb3_local.info(f"{host}: {field} back to {value:.1f} (threshold {threshold:g})")
                continue
            count = cache.get(key, default=0) + 1
            cache.put(key, count, ttl=300)
            if count == needed:
                line = (
                    LineBuilder("alerts")
                    .tag("host", host)
                    .tag("field", field)
                    .tag("level", "WARN")
                    .float64_field("value", float(value))
                    .float64_field("threshold", threshold)
                    .string_field("message", f"{field} above {threshold:g} for {count} flushes")
                )
                influxdb3_local.write_to_db(target_db, line)
                active[host] = round(float(value), 1)
                influxdb3_local.warn(f"ALERT {host}: {field} = {value:.1f} > {threshold:g} ({count} in a row)")
    cache.put("alerts:active", active, use_global=True)
