"""Poll-schedule arithmetic under a fake clock: intervals, jitter, hints, backoff and caps."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from monitor.clock import FakeClock
from monitor.feeds.schedule import (
    MAX_BACKOFF_S,
    MAX_HINT_S,
    MAX_RETRY_AFTER_S,
    backoff_at,
    backoff_delay,
    effective_interval,
    next_poll_at,
)

HOUR = 3600.0


@pytest.mark.parametrize(
    ("interval", "hints", "expected"),
    [
        (900, {}, 900),
        (900, {"cache_max_age": 60}, 900),  # hints never lower the interval
        (900, {"cache_max_age": 1800}, 1800),
        (900, {"cache_max_age": 10 * 86400}, MAX_HINT_S),  # capped at 24 h
        (900, {"ttl_s": 3600}, 3600),  # RSS <ttl>60</ttl>, passed in seconds
        (900, {"ttl_s": 10**9}, MAX_HINT_S),
        (900, {"retry_after": 7200}, 7200),
        (900, {"retry_after": 86400}, MAX_RETRY_AFTER_S),  # capped at 6 h
        (900, {"retry_after": -5}, 900),
        (900, {"cache_max_age": 1200, "ttl_s": 2400, "retry_after": 600}, 2400),  # the largest
        (2 * 86400, {"cache_max_age": 60}, 2 * 86400),  # a configured interval above a cap wins
        (900, {"cache_max_age": 7200, "max_interval_s": 3600}, 3600),
    ],
)
def test_effective_interval(interval: float, hints: dict[str, float], expected: float) -> None:
    assert effective_interval(interval, **hints) == expected


def test_next_poll_without_jitter_is_exact() -> None:
    clock = FakeClock()
    at = next_poll_at(clock.now(), 900, jitter=0, cache_max_age=1800)
    assert at - clock.now() == timedelta(seconds=1800)


def test_jitter_stays_within_ten_percent_and_spreads() -> None:
    clock, rng = FakeClock(), random.Random(7)
    delays = [
        (next_poll_at(clock.now(), 1000, rng=rng) - clock.now()).total_seconds()
        for _ in range(2000)
    ]
    assert min(delays) >= 900
    assert max(delays) <= 1100
    assert min(delays) < 920
    assert max(delays) > 1080  # really spread, not a constant offset


def test_jitter_is_deterministic_for_a_seeded_rng() -> None:
    now = FakeClock().now()
    first = next_poll_at(now, 600, rng=random.Random(1))
    assert first == next_poll_at(now, 600, rng=random.Random(1))


def test_retry_after_is_a_floor_that_jitter_never_undercuts() -> None:
    now, rng = FakeClock().now(), random.Random(3)
    for _ in range(500):
        assert next_poll_at(now, 900, retry_after=1000, rng=rng) - now >= timedelta(seconds=1000)


@pytest.mark.parametrize(
    ("errors", "expected"),
    [(0, 600), (1, 600), (2, 1200), (3, 2400), (4, 4800), (6, 19200), (7, MAX_BACKOFF_S)],
)
def test_backoff_doubles_then_caps(errors: int, expected: float) -> None:
    assert backoff_delay(600, errors) == expected


def test_backoff_never_below_the_interval_and_survives_huge_counts() -> None:
    assert backoff_delay(86400, 5) == 86400  # a daily feed is not polled more often on errors
    assert backoff_delay(60, 10**6) == MAX_BACKOFF_S


def test_backoff_at_grows_with_jitter_and_honours_retry_after() -> None:
    clock, rng = FakeClock(), random.Random(11)
    previous = 0.0
    for errors in range(1, 8):
        delay = (backoff_at(clock.now(), 300, errors, rng) - clock.now()).total_seconds()
        base = backoff_delay(300, errors)
        assert base * 0.9 <= delay <= base * 1.1
        assert delay >= previous * 0.9 * 0.9 or base == MAX_BACKOFF_S
        previous = delay
    at = backoff_at(clock.now(), 300, 1, rng, retry_after=2 * HOUR)
    assert at - clock.now() >= timedelta(hours=2)
    capped = backoff_at(clock.now(), 300, 1, rng, retry_after=30 * 86400)
    assert capped - clock.now() == timedelta(seconds=MAX_RETRY_AFTER_S)


def test_fake_clock_advances_schedule() -> None:
    clock, rng = FakeClock(), random.Random(5)
    due = next_poll_at(clock.now(), 600, jitter=0, rng=rng)
    clock.advance(599)
    assert clock.now() < due
    clock.advance(1)
    assert clock.now() >= due


@pytest.mark.parametrize("bad", [0, -1])
def test_non_positive_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        effective_interval(bad)
    with pytest.raises(ValueError, match="positive"):
        backoff_delay(bad, 1)
