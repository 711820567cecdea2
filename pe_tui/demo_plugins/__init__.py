"""Example plugins the `pe-tui --demo` showcase writes into its plugin directory.

They are ordinary InfluxDB 3 processing-engine plugins (entry points
`process_writes`, `process_scheduled_call`, `process_request`; `influxdb3_local`;
`LineBuilder` from builtins), shipped as package data and read with
importlib.resources. Nothing here is imported by the console itself.
"""
