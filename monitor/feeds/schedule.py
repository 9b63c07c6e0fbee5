"""When to poll a feed next: interval with jitter, raised by the server's hints; error backoff.

Pure: `now` and the random source are passed in, so tests drive them.

Caps (a hostile or confused server cannot park a feed for a year):
- Cache-Control max-age and RSS `<ttl>` raise the interval to at most `MAX_HINT_S` (24 h);
- Retry-After is honoured up to `MAX_RETRY_AFTER_S` (6 h) and is a floor: jitter never polls
  before it;
- error backoff doubles from the interval per consecutive error, up to `MAX_BACKOFF_S` (6 h);
- none of these ever lowers the configured interval, and a configured interval above a cap wins.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_HINT_S = 24 * 3600.0
MAX_RETRY_AFTER_S = 6 * 3600.0
MAX_BACKOFF_S = 6 * 3600.0
DEFAULT_JITTER = 0.1

_rng = random.Random()


def _hint(value: float | None, cap: float) -> float:
    return min(max(value, 0.0), cap) if value is not None else 0.0


def effective_interval(
    interval_s: float,
    *,
    cache_max_age: float | None = None,
    ttl_s: float | None = None,
    retry_after: float | None = None,
    max_interval_s: float = MAX_HINT_S,
) -> float:
    """The interval raised (never lowered) by the server's hints, each capped."""
    if interval_s <= 0:
        raise ValueError(f"a poll interval must be positive, not {interval_s!r}")
    raised = max(
        _hint(cache_max_age, MAX_HINT_S),
        _hint(ttl_s, MAX_HINT_S),
        _hint(retry_after, MAX_RETRY_AFTER_S),
    )
    return max(interval_s, min(raised, max_interval_s))


def _jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    return seconds * (1.0 + rng.uniform(-jitter, jitter)) if jitter > 0 else seconds


def next_poll_at(
    now: datetime,
    interval_s: float,
    *,
    jitter: float = DEFAULT_JITTER,
    cache_max_age: float | None = None,
    ttl_s: float | None = None,
    retry_after: float | None = None,
    max_interval_s: float = MAX_HINT_S,
    rng: random.Random | None = None,
) -> datetime:
    """The next poll after a successful fetch: the effective interval, spread by ±`jitter`."""
    base = effective_interval(
        interval_s,
        cache_max_age=cache_max_age,
        ttl_s=ttl_s,
        retry_after=retry_after,
        max_interval_s=max_interval_s,
    )
    delay = max(_jittered(base, jitter, rng or _rng), _hint(retry_after, MAX_RETRY_AFTER_S))
    return now + timedelta(seconds=delay)


def backoff_delay(
    interval_s: float,
    error_count: int,
    *,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> float:
    """Seconds before retrying after `error_count` consecutive errors (1 = the first), unjittered.

    interval, 2x, 4x, ... capped at `max_backoff_s`, but never below the interval itself.
    """
    if interval_s <= 0:
        raise ValueError(f"a poll interval must be positive, not {interval_s!r}")
    doublings = min(max(error_count, 1) - 1, 60)  # 2**60 already passes any cap; no overflow
    return max(interval_s, min(interval_s * 2.0**doublings, max_backoff_s))


def backoff_at(
    now: datetime,
    interval_s: float,
    error_count: int,
    rng: random.Random,
    retry_after: float | None = None,
    *,
    jitter: float = DEFAULT_JITTER,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> datetime:
    """The next attempt after a failed fetch: exponential backoff with jitter; Retry-After is a
    floor (capped at `MAX_RETRY_AFTER_S`)."""
    base = backoff_delay(interval_s, error_count, max_backoff_s=max_backoff_s)
    delay = _jittered(base, jitter, rng)
    return now + timedelta(seconds=max(delay, _hint(retry_after, MAX_RETRY_AFTER_S)))
