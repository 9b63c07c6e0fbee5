"""Token buckets: how fast one destination may be sent to. Pure (the clock is injected).

A bucket holds up to `burst` tokens and gains `rate` tokens a second; each message takes one.
Slack accepts about one message a second per incoming webhook with short bursts; a generic
webhook gets a higher default. A 429 pauses the bucket until its Retry-After has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.clock import Clock

SLACK_RATE = 1.0
SLACK_BURST = 3.0
WEBHOOK_RATE = 10.0
WEBHOOK_BURST = 20.0


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._updated: datetime = clock.now()
        self._paused_until: datetime | None = None
        self._failing = False  # paused because the destination failed, not to slow down
        self.streak = 0  # failed attempts in a row (the circuit breaker's pause follows it)

    def _refill(self) -> datetime:
        now = self._clock.now()
        elapsed = (now - self._updated).total_seconds()
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._updated = now
        elif elapsed < 0:
            # The clock was set back: count from now, and move a pause back with it. Left
            # ahead, the bucket refilled nothing (and a pause lasted) until the clock caught up.
            if self._paused_until is not None:
                self._paused_until += now - self._updated
            self._updated = now
        return now

    def available(self) -> int:
        """Whole tokens that may be taken now (0 while paused)."""
        now = self._refill()
        if self._paused_until is not None and now < self._paused_until:
            return 0
        return int(self._tokens)

    def try_acquire(self) -> bool:
        """Take one token if there is one."""
        if self.available() < 1:
            return False
        self._tokens -= 1.0
        return True

    def time_until_available(self) -> float:
        """Seconds until one token may be taken (0.0 when one may be taken now)."""
        now = self._refill()
        wait = max(0.0, (1.0 - self._tokens) / self.rate)
        if self._paused_until is not None:
            wait = max(wait, (self._paused_until - now).total_seconds())
        return wait

    def answered(self) -> None:
        """The destination answered (delivered, or refused for good): its streak ends."""
        self.streak = 0

    def failing(self) -> bool:
        """True while paused after a failure (a circuit breaker, not a rate limit to wait out)."""
        until = self._paused_until
        return self._failing and until is not None and self._clock.now() < until

    def pause(self, seconds: float, *, failing: bool = False) -> None:
        """Send nothing for `seconds` (a 429's Retry-After, or after a failure with
        `failing=True`); the bucket is emptied too."""
        now = self._refill()
        self._failing = failing
        if failing:
            self.streak += 1
        until = now + timedelta(seconds=max(seconds, 0.0))
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until
        self._tokens = 0.0
