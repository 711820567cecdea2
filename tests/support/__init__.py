"""Shared test support (importable as `support`: pyproject adds tests/ to pythonpath).

- servers: `pe serve` subprocesses (plain and with a plugin dir), the test plugins, a wheel builder;
- http: a raw HTTP client for the e2e tests;
- waiting: poll a condition until it holds or a timeout (async and blocking);
- engines: in-process Engine helpers of the processing tests;
- fixtures: every shared fixture (registered once by tests/conftest.py);
- plugins/: the test plugins, one file per behaviour.
"""
