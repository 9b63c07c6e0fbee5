"""Parsing the response headers that steer the schedule: Retry-After and Cache-Control."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.feeds.fetch import parse_max_age, parse_retry_after

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Fri, 27 Nov 2026 12:05:00 GMT", 300.0),
        ("Fri, 27 Nov 2026 11:00:00 GMT", 0.0),  # in the past: retry now, never negative
        ("-5", None),
        ("1.5", None),
        ("soon", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("max-age=600", 600.0),
        ("public, max-age=3600, must-revalidate", 3600.0),
        ('max-age="90"', 90.0),
        ("MAX-AGE=60", 60.0),
        ("max-age=abc", None),
        ("no-cache, max-age=600", None),
        ("max-age=600, no-store", None),
        ("private", None),
    ],
)
def test_parse_max_age(value: str | None, expected: float | None) -> None:
    assert parse_max_age(value) == expected
