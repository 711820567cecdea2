"""The rules behind the masking: which argument names are secret, which query parameters the
access log hides, and the one-line-per-interval log that a flood of failures goes through."""
from __future__ import annotations

import logging

import pytest

from pe_engine.http.access_log import redact_target
from pe_engine.http.ratelog import RateLimitedLog
from pe_engine.processing.triggers.secrets import is_secret_key, masked_arguments


@pytest.mark.parametrize("name", ["token", "API_KEY", "apiKey", "db_password", "PASSWD", "client_secret",
                                  "aws_credentials", "Authorization", "oauth_url"])
def test_secret_looking_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["window", "table", "threshold", "host", "p"])
def test_plain_names(name: str) -> None:
    assert not is_secret_key(name)


def test_masked_arguments_is_a_copy() -> None:
    args = {"api_key": "s3cr3t", "window": "5m"}
    assert masked_arguments(args) == {"api_key": "***", "window": "5m"}
    assert args["api_key"] == "s3cr3t"
    assert masked_arguments(None) is None


@pytest.mark.parametrize(("target", "logged"), [
    ("/query?db=a&u=me&p=tok&q=SELECT+1", "/query?db=a&u=***&p=***&q=SELECT+1"),
    ("/api/v3/query_sql?token=abc&db=x", "/api/v3/query_sql?token=***&db=x"),
    ("/x?Api%5FKey=abc&P=zzz", "/x?Api%5FKey=***&P=***"),
    ("/x?trigger_arguments=%7B%22k%22%3A%22v%22%7D", "/x?trigger_arguments=***"),
    ("/x?flag&p", "/x?flag&p"),  # no value, nothing to hide
    ("/health", "/health"),
])
def test_redact_target(target: str, logged: str) -> None:
    assert redact_target(target) == logged


def test_rate_limited_log_says_how_many_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("pe.test.ratelog"), interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="pe.test.ratelog"):
        assert rl.warning("emfile", "out of fds")
        for _ in range(1000):
            assert not rl.warning("emfile", "out of fds")
        assert rl.warning("other", "another cause")
        now[0] = 61.0
        assert rl.warning("emfile", "out of fds")
    assert [r.getMessage() for r in caplog.records] == [
        "out of fds", "another cause", "out of fds (1000 more since the last such line)"]
