"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {
            "name": "field",
            "example": "temp",
            "description": "Numeric field to watch.",
            "required": true
        },
        {
            "name": "threshold",
            "example": "30",
            "description": "An alert is written when the field is above this value.",
            "required": true
        },
        {
            "name": "alert_table",
            "example": "alerts",
            "description": "Table the alerts go to (default: alerts).",
            "required": false
        }
    ]
}

Threshold check in the style of `influxdata/threshold_deadman_checks` (WAL path): for every row
whose `field` is above `threshold`, write one alert row (tags of the source row, the value, the
threshold) to `alert_table`. Counters live in the trigger cache: `checked` (rows seen) and
`breaches` (alerts written), so they survive between calls (module globals would not).
"""


def process_writes(influxdb3_local, table_batches, args=None):
    if not table_batches:
        return
    if not args or "field" not in args or "threshold" not in args:
        influxdb3_local.error("arguments 'field' and 'threshold' are required")
        return
    field = args["field"]
    threshold = float(args["threshold"])
    alert_table = args.get("alert_table", "alerts")

    cache = influxdb3_local.cache
    checked = cache.get("checked", default=0)
    breaches = cache.get("breaches", default=0)
    for table_batch in table_batches:
        if table_batch["table_name"] == alert_table:
            continue
        for row in table_batch["rows"]:
            if field not in row:
                continue
            checked += 1
            value = row[field]
            if value > threshold:
                breaches += 1
                line = LineBuilder(alert_table).tag("source", table_batch["table_name"])
                for key, v in row.items():
                    if isinstance(v, str) and key != field:
                        line.tag(key, v)
                line.float64_field("value", float(value))
                line.float64_field("threshold", threshold)
                line.time_ns(row["time"])
                influxdb3_local.write(line)
                influxdb3_local.warn(f"{table_batch['table_name']}.{field}={value} above {threshold}")
    cache.put("checked", checked)
    cache.put("breaches", breaches)
