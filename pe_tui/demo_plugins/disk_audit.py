"""
{
    "plugin_type": ["scheduled"],
    "scheduled_args_config": [
        {"name": "limit", "example": "85", "description": "Warn for disks fuller than this (percent).", "required": false}
    ]
}
"""
# Scheduled audit (cron:): which hosts have a disk above the limit right now.


def process_scheduled_call(influxdb3_local, call_time, args=None):
    limit = float((args or {}).get("limit", "85"))
    try:
        rows = influxdb3_local.query(
            "SELECT host, max(used_percent) AS used FROM disk "
            "WHERE time > now() - INTERVAL '30 seconds' GROUP BY host ORDER BY used DESC"
        )
    except Exception as e:
        influxdb3_local.warn(f"disk audit skipped: {e}")
        return
    full = [r for r in rows if r["used"] is not None and r["used"] > limit]
    for r in full:
        influxdb3_local.warn(f"{r['host']}: disk {r['used']:.1f}% used (limit {limit:g}%)")
    influxdb3_local.info(f"disk audit: {len(rows)} hosts checked, {len(full)} above {limit:g}%")
