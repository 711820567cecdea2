"""
{
    "plugin_type": ["scheduled"],
    "scheduled_args_config": [
        {
            "name": "source_measurement",
            "example": "cpu",
            "description": "Table to downsample.",
            "required": true
        },
        {
            "name": "target_measurement",
            "example": "cpu_1m",
            "description": "Table the downsampled rows are written to.",
            "required": true
        },
        {
            "name": "field",
            "example": "usage",
            "description": "Numeric field to average.",
            "required": true
        },
        {
            "name": "window",
            "example": "1h",
            "description": "How far back from the call time to look (s, min, h, d).",
            "required": false
        },
        {
            "name": "interval",
            "example": "1min",
            "description": "DATE_BIN bucket width (s, min, h, d).",
            "required": false
        }
    ]
}

Scheduled downsampler in the style of `influxdata/downsampler`: averages one field per tag set
over `DATE_BIN(interval)` buckets of `[call_time - window, call_time)` and writes the buckets to
the target table with `record_count`. Plugins cannot rely on module state, so the number of runs
is kept in the trigger cache.
"""
from datetime import timezone

_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


def _seconds(text):
    text = text.strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * _UNITS[unit]
    raise ValueError(f"invalid duration: {text!r} (use s, min, h or d)")


def process_scheduled_call(influxdb3_local, call_time, args=None):
    if not args or any(k not in args for k in ("source_measurement", "target_measurement", "field")):
        influxdb3_local.error("source_measurement, target_measurement and field are required")
        return
    source = args["source_measurement"]
    target = args["target_measurement"]
    field = args["field"]
    window = _seconds(args.get("window", "1h"))
    interval = _seconds(args.get("interval", "1min"))

    end_s = int(call_time.astimezone(timezone.utc).timestamp())  # call_time is naive local time
    start_s = end_s - window

    tables = [r["table_name"] for r in influxdb3_local.query("SHOW TABLES") if r.get("table_type") == "BASE TABLE"]
    if source not in tables:
        influxdb3_local.info(f"no table {source} yet; nothing to downsample")
        return

    tag_rows = influxdb3_local.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = $measurement AND data_type = 'Dictionary(Int32, Utf8)'",
        {"measurement": source},
    )
    tags = [r["column_name"] for r in tag_rows]
    group = "".join(f', "{t}"' for t in tags)
    sql = (
        f"SELECT DATE_BIN(INTERVAL '{interval} seconds', time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket"
        f"{group}, avg(\"{field}\") AS \"{field}\", count(*) AS record_count "
        f"FROM \"{source}\" "
        f"WHERE time >= to_timestamp_seconds({start_s}) AND time < to_timestamp_seconds({end_s}) "
        f"GROUP BY bucket{group} ORDER BY bucket"
    )
    rows = influxdb3_local.query(sql)
    for row in rows:
        line = LineBuilder(target)
        for t in tags:
            if row.get(t) is not None:
                line.tag(t, row[t])
        line.float64_field(field, float(row[field]))
        line.int64_field("record_count", int(row["record_count"]))
        line.time_ns(int(row["bucket"]))
        influxdb3_local.write(line)

    runs = influxdb3_local.cache.get("runs", default=0) + 1
    influxdb3_local.cache.put("runs", runs)
    influxdb3_local.info(f"downsampled {len(rows)} bucket(s) from {source} into {target} (run {runs})")
