"""Writes a string into the float column `src.v`: the write-back fails (logged), the plugin does not."""


def process_writes(influxdb3_local, table_batches, args=None):
    for table_batch in table_batches:
        if table_batch["table_name"] == "src":
            influxdb3_local.write(LineBuilder("src").tag("from", "plugin").string_field("v", "text"))
            influxdb3_local.write_to_db(args["other_db"], LineBuilder("copied").int64_field("n", len(table_batch["rows"])))
