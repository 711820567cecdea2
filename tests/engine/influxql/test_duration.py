"""InfluxQL duration literals."""

import pytest

from pe_engine.influxql.duration import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1ns", 1),
        ("5u", 5_000),
        ("5µ", 5_000),
        ("10ms", 10_000_000),
        ("10s", 10_000_000_000),
        ("1m", 60_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("2d", 172_800_000_000_000),
        ("1w", 604_800_000_000_000),
    ],
)
def test_parses(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "1h 30m", "-1s"])
def test_rejects(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)
