"""
{
    "plugin_type": ["onwrite", "scheduled", "http"],
    "onwrite_args_config": [],
    "scheduled_args_config": [],
    "http_args_config": []
}

Defines none of the three entry points (a typo'd name instead), so every trigger type fails with
InfluxDB's "the <entry point> function is not present in the plugin" text.
"""


def process_write(influxdb3_local, table_batches, args=None):  # sic: missing "s"
    influxdb3_local.info("never called")
