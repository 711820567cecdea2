"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {
            "name": "double_count_table",
            "example": "cpu",
            "description": "Name of a table whose row count is reported doubled.",
            "required": false
        }
    ]
}

The official InfluxDB 3 `examples/wal_plugin/wal_plugin.py`, same semantics: for every table
written in a WAL flush (except `write_reports` itself), write
`write_reports,table_name=<table> row_count=<rows>i`; the count is doubled for the table named
by the `double_count_table` argument. Meant for an `all_tables` trigger.
"""


def process_writes(influxdb3_local, table_batches, args=None):
    for table_batch in table_batches:
        # Skip our own output, or every report would trigger another report.
        if table_batch["table_name"] == "write_reports":
            continue

        row_count = len(table_batch["rows"])

        # Double row count if table name matches args table_name
        if args and "double_count_table" in args and table_batch["table_name"] == args["double_count_table"]:
            row_count *= 2

        line = LineBuilder("write_reports") \
            .tag("table_name", table_batch["table_name"]) \
            .int64_field("row_count", row_count)
        influxdb3_local.write(line)

    influxdb3_local.info("wal_plugin.py done")
