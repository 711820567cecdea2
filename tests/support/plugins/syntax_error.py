"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": []
}

Not valid Python: loading it fails with a SyntaxError.
"""


def process_writes(influxdb3_local, table_batches, args=None)
    influxdb3_local.info("never runs")
