"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {
            "name": "field",
            "example": "usage",
            "description": "Numeric field to sum.",
            "required": true
        }
    ]
}

Sums `field` over each table batch using only the zero-copy `"arrow"` entry (a pyarrow
RecordBatch; a pe extension), never the Python `rows`. Writes `arrow_sums,table_name=<t>
sum=<s>,rows=<n>i` and keeps a running total per table in the trigger cache.
"""
import pyarrow.compute as pc


def process_writes(influxdb3_local, table_batches, args=None):
    field = (args or {}).get("field", "value")
    for table_batch in table_batches:
        batch = table_batch["arrow"]
        if field not in batch.schema.names:
            continue
        total = pc.sum(batch.column(field)).as_py() or 0
        key = f"total:{table_batch['table_name']}"
        influxdb3_local.cache.put(key, influxdb3_local.cache.get(key, 0) + total)
        influxdb3_local.write(
            LineBuilder("arrow_sums")
            .tag("table_name", table_batch["table_name"])
            .float64_field("sum", float(total))
            .int64_field("rows", batch.num_rows)
        )
