"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {"name": "target_measurement", "example": "cpu_rollup", "description": "Table the per-host rollup is written to.", "required": false},
        {"name": "fields", "example": "usage_user.usage_system", "description": "Dot-separated numeric fields to average.", "required": false}
    ]
}
"""
# WAL transformer / downsampler: every flush of `cpu` becomes one rollup row per host
# (average and maximum of the selected fields, number of samples) in another table.


def process_writes(influxdb3_local, table_batches, args=None):
    if not table_batches:
        return
    args = args or {}
    target = args.get("target_measurement", "cpu_rollup")
    fields = [f for f in args.get("fields", "usage_user.usage_system").split(".") if f]

    per_host = {}
    for batch in table_batches:
        if batch["table_name"] == target:
            continue  # never feed our own output back in
        for row in batch["rows"]:
            host = row.get("host")
            if host is None:
                continue
            acc = per_host.setdefault(host, {"n": 0, "sum": {f: 0.0 for f in fields}, "max": {}})
            acc["n"] += 1
            for f in fields:
                v = row.get(f)
                if isinstance(v, (int, float)):
                    acc["sum"][f] += v
                    acc["max"][f] = max(v, acc["max"].get(f, v))

    written = 0
    for host, acc in sorted(per_host.items()):
        line = LineBuilder(target).tag("host", host).int64_field("samples", acc["n"])
        for f in fields:
            line.float64_field(f"{f}_avg", round(acc["sum"][f] / acc["n"], 3))
            if f in acc["max"]:
                line.float64_field(f"{f}_max", float(acc["max"][f]))
        influxdb3_local.write(line)
        written += 1
    influxdb3_local.info(f"rolled up {sum(a['n'] for a in per_host.values())} rows into {written} {target} rows")
