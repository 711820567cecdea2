"""Request plugin importing a package installed through the package API."""


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    import importlib

    name = query_parameters.get("module", "pe_e2e_tiny")
    mod = importlib.import_module(name)
    return {"module": name, "value": mod.VALUE, "file": mod.__file__}
