"""Token buckets under a fake clock."""

from __future__ import annotations

import pytest

from monitor.clock import FakeClock
from monitor.delivery.ratelimit import TokenBucket


def test_burst_then_one_a_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.time_until_available() == pytest.approx(1.0)
    clock.advance(0.5)
    assert not bucket.try_acquire()
    assert bucket.time_until_available() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_acquire()
    clock.advance(100)
    assert bucket.available() == 3  # never more than the burst


def test_sends_over_a_minute_match_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    sent = 0
    for _ in range(600):  # 60 s in steps of 0.1 s
        while bucket.try_acquire():
            sent += 1
        clock.advance(0.1)
    assert 60 <= sent <= 62


def test_pause_blocks_until_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=5, clock=clock)
    bucket.pause(30)
    assert bucket.available() == 0
    assert bucket.time_until_available() == pytest.approx(30)
    clock.advance(29.9)
    assert not bucket.try_acquire()
    clock.advance(0.2)
    assert bucket.try_acquire()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1, FakeClock())
    with pytest.raises(ValueError):
        TokenBucket(1, 0.5, FakeClock())


def test_a_clock_set_back_an_hour_neither_starves_nor_lengthens_the_bucket() -> None:
    """The bucket counted time from its last refill: set back an hour, it refilled nothing (and
    a 30 s pause lasted an hour and 30 s) until the clock had caught up."""
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    assert bucket.try_acquire()
    assert bucket.try_acquire()
    clock.advance(-3600)
    assert bucket.available() == 0
    clock.advance(1.0)
    assert bucket.try_acquire()  # one second later, one token, as at any other time
    bucket.pause(30)
    clock.advance(-3600)
    assert bucket.time_until_available() == pytest.approx(30.0)
    clock.advance(29.9)
    assert bucket.available() == 0
    clock.advance(0.1)
    assert bucket.available() == 2


def test_the_streak_counts_failure_pauses_in_a_row_and_an_answer_ends_it() -> None:
    bucket = TokenBucket(rate=10.0, burst=20.0, clock=FakeClock())
    bucket.pause(5.0, failing=True)
    bucket.pause(10.0, failing=True)
    assert bucket.streak == 2
    bucket.pause(0.5)  # a 429's rate limit: not a failure of the destination
    assert bucket.streak == 2
    bucket.answered()
    assert bucket.streak == 0
