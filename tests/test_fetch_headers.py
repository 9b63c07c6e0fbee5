"""Parsing the Cache-Control header that steers the schedule (Retry-After: test_retry_after)."""

from __future__ import annotations

import pytest

from monitor.feeds.fetch import parse_max_age


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
