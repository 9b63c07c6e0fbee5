"""Retry-After, read once for feeds and delivery (monitor.net.retry_after), as tables.

The feed reading has no cap (the schedule bounds the hint); delivery caps at an hour.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.delivery.retry import RETRY_AFTER_CAP_S
from monitor.net.retry_after import parse_retry_after

FEED_NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
DELIVERY_NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


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
        ("\u00b2", None),  # a digit to `str.isdigit`, not to `float`: it raised ValueError
        # A year past what datetime holds: email.utils raised OverflowError (a check traceback)
        ("Mon, 01 Jan 99999999999 00:00:00 GMT", None),
    ],
)
def test_feed_reading(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, FEED_NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("86400", 3600.0),  # capped at 1 h
        ("Thu, 01 Jan 2026 12:02:00 GMT", 120.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),  # in the past
        ("Fri, 02 Jan 2026 12:00:00 GMT", 3600.0),  # capped
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Thu, 99 Foo 2026", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: not delta-seconds
        ("Mon, 01 Jan 99999999999 00:00:00 GMT", None),
    ],
)
def test_delivery_reading(value: str | None, expected: float | None) -> None:
    got = parse_retry_after(value, DELIVERY_NOW, cap=RETRY_AFTER_CAP_S)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("cap", [None, RETRY_AFTER_CAP_S])
def test_the_cap_is_the_only_difference(cap: float | None) -> None:
    assert parse_retry_after("86400", FEED_NOW, cap=cap) == (cap if cap is not None else 86400.0)
    assert parse_retry_after("  ", FEED_NOW, cap=cap) is None


@pytest.mark.parametrize(
    ("value", "now"),
    [
        ("Fri, 27 Nov 2026 12:05:00 -0000", FEED_NOW),  # a date without a zone
        # `Date:` with -0000, read as a naive `now`: DTZ001 is the case under test
        ("Fri, 27 Nov 2026 12:05:00 GMT", datetime(2026, 11, 27, 12, 0)),  # noqa: DTZ001
        ("Fri, 27 Nov 2026 12:05:00 -0000", datetime(2026, 11, 27, 12, 0)),  # noqa: DTZ001
    ],
)
def test_a_date_without_a_zone_is_gmt(value: str, now: datetime) -> None:
    assert parse_retry_after(value, now) == 300.0
