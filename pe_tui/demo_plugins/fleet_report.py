"""
{
    "plugin_type": ["scheduled"],
    "scheduled_args_config": [
        {"name": "window", "example": "1 minute", "description": "SQL interval the report covers.", "required": false},
        {"name": "top", "example": "3", "description": "How many of the busiest hosts to name.", "required": false}
    ]
}
"""
# Scheduled report (every:): the busiest hosts of the last minute, written to `fleet_report`
# and kept in the global cache for other plugins.


def process_scheduled_call(influxdb3_local, call_time, args=None):
    args = args or {}
    window = args.get("window", "1 minute")
    top = int(args.get("top", "3"))
    try:
        rows = influxdb3_local.query(
            "SELECT host, avg(usage_user) AS cpu, count(*) AS samples FROM cpu "
            f"WHERE time > now() - INTERVAL '{window}' GROUP BY host ORDER BY cpu DESC"
        )
    except Exception as e:  # no cpu table yet right after start
        influxdb3_local.warn(f"no report: {e}")
        return
    if not rows:
        influxdb3_local.info("no cpu samples in the window")
        return
    fleet_avg = sum(r["cpu"] for r in rows) / len(rows)
    busiest = ", ".join(f"{r['host']} {r['cpu']:.1f}%" for r in rows[:top])
    influxdb3_local.info(f"{len(rows)} hosts, fleet cpu {fleet_avg:.1f}%; busiest: {busiest}")
    influxdb3_local.write(
        LineBuilder("fleet_report")
        .int64_field("hosts", len(rows))
        .int64_field("samples", sum(int(r["samples"]) for r in rows))
        .float64_field("cpu_avg", round(fleet_avg, 2))
        .string_field("busiest", rows[0]["host"])
    )
    influxdb3_local.cache.put(
        "fleet:last_report",
        {"at": call_time.isoformat(), "hosts": len(rows), "cpu_avg": round(fleet_avg, 2),
         "busiest": [r["host"] for r in rows[:top]]},
        use_global=True,
    )
