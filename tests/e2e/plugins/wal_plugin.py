"""The official `examples/wal_plugin/wal_plugin.py` semantics (influxdata/influxdb3_plugins):
for every table in the flushed batch except `write_reports`, write
`write_reports,table_name=<t> row_count=<n>i` (doubled for `double_count_table`)."""


def process_writes(influxdb3_local, table_batches, args=None):
    for table_batch in table_batches:
        table_name = table_batch["table_name"]
        if table_name == "write_reports":
            continue
        row_count = len(table_batch["rows"])
        if args and args.get("double_count_table") == table_name:
            row_count *= 2
        line = LineBuilder("write_reports").tag("table_name", table_name).int64_field("row_count", row_count)
        influxdb3_local.write(line)
    influxdb3_local.info("wal_plugin.py done")
