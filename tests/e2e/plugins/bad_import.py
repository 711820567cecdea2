"""Fails when run: imports a module that does not exist."""
import pe_e2e_no_such_module_xyz  # noqa: F401


def process_writes(influxdb3_local, table_batches, args=None):
    pass
