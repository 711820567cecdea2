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

from support.servers import ISOLATION_MODES

pytest_plugins = ["support.fixtures", "support.numpy_site"]

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
    config.addinivalue_line("markers", "thread_only(reason): a plugin_isolation test that runs in thread mode only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses `plugin_isolation` (directly or through eng, plugin_server, ...) runs
    once per mode; `@pytest.mark.thread_only("why")` keeps one to thread mode (the reason is required)."""
    if "plugin_isolation" not in metafunc.fixturenames:
        return
    if any("plugin_isolation" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize") if m.args):
        return  # the test chose its modes itself
    only = metafunc.definition.get_closest_marker("thread_only")
    if only is not None and not (only.args and isinstance(only.args[0], str) and only.args[0].strip()):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.thread_only needs a reason")
    modes = ["thread"] if only is not None else list(ISOLATION_MODES)
    metafunc.parametrize("plugin_isolation", modes, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
