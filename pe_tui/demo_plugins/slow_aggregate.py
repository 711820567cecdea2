"""
{
    "plugin_type": ["scheduled"],
    "scheduled_args_config": [
        {"name": "min_seconds", "example": "0.3", "description": "Shortest simulated run.", "required": false},
        {"name": "max_seconds", "example": "2.5", "description": "Longest simulated run.", "required": false}
    ]
}
"""
# A slow plugin: an hourly-style aggregation that takes seconds (simulated with sleep
# around a real query), to show run-time percentiles, async mode and deadlines.
import random
import time


def process_scheduled_call(influxdb3_local, call_time, args=None):
    args = args or {}
    lo = float(args.get("min_seconds", "0.3"))
    hi = float(args.get("max_seconds", "2.5"))
    t0 = time.perf_counter()
    try:
        rows = influxdb3_local.query("SELECT count(*) AS n FROM mem")
        n = rows[0]["n"] if rows else 0
    except Exception:
        n = 0
    pause = random.triangular(lo, hi, lo + (hi - lo) * 0.25)
    time.sleep(pause)
    took = time.perf_counter() - t0
    if took > 0.8 * hi:
        influxdb3_local.warn(f"aggregation over {n} mem rows was slow: {took:.2f}s")
    else:
        influxdb3_local.info(f"aggregated {n} mem rows in {took:.2f}s")
    influxdb3_local.cache.put("last_run", {"at": call_time.isoformat(), "rows": n, "seconds": round(took, 3)})
