"""Reading a Retry-After header: delta-seconds or an HTTP-date, as seconds to wait. Pure.

One reading for feeds and delivery; they differ only in the cap. A feed's server is taken at its
word here (`cap=None`): the poll schedule bounds the hint itself (`monitor.feeds.schedule`), and
honouring a long wait is what politeness to a publisher asks. A delivery is capped at an hour
(`monitor.delivery.retry.RETRY_AFTER_CAP_S`): a receiver asking for a day would otherwise hold
alerts back for a day.

Where the two readings differed, this one wins:
- An HTTP-date without a zone (`-0000` parses as naive) is GMT, as RFC 9110 says every HTTP-date
  is; a naive `now` (a server's `Date:` with `-0000`) is GMT too, so the subtraction never mixes
  naive and aware times. Delivery read a naive date in `now`'s zone, which is the same whenever
  `now` is UTC, as our clocks give it.
- Blank or unreadable values are None; a date in the past is 0 (retry now), never negative.
  Delta-seconds are ASCII digits (RFC 9110); other Unicode digits are unreadable, not a crash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(
    value: str | None, now: datetime, *, cap: float | None = None
) -> float | None:
    """Seconds to wait from a Retry-After value, at most `cap` when one is given."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # `isdigit` alone takes "²", which `float` refuses
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: year 99999999999
            return None
        seconds = max((_gmt(when) - _gmt(now)).total_seconds(), 0.0)
    return seconds if cap is None else min(seconds, cap)


def _gmt(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
