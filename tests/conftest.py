"""Suite-wide setup: the shared fixtures (support.fixtures), the --run-slow option, hypothesis profiles.

Helpers live in tests/support (importable as `support`: pyproject's pythonpath); test modules
import helpers from there, never from sibling files (the suite runs with --import-mode=importlib).

Hypothesis profiles: "ci" (the default) bounds the example counts of the property tests so the
suite stays fast; PE_HYPOTHESIS_PROFILE=thorough runs many more examples (a long local fuzz run).
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["support.fixtures"]

# deadline=None: the C and Python parsers run in a loaded box (2 cores shared with servers under test).
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("PE_HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked @pytest.mark.slow (soak, many crash cycles)")


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; repeated so the marker is known with any ini file.
    config.addinivalue_line("markers", "slow: long-running tests (soak, many crash cycles); run with --run-slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
