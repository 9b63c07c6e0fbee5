"""Clocks. Time-based logic takes a `Clock` so tests can drive it. Pure."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def elapsed() -> float:
    """Seconds on a clock that never steps and goes on while the machine sleeps (Linux's
    CLOCK_BOOTTIME; elsewhere `time.monotonic`). Python's monotonic clock stands still during a
    suspend: a machine that slept two minutes read its times two minutes behind on waking."""
    return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else time.monotonic()


_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


class StoreClock:
    """This machine's clock set to the shared store's: replicas on several machines compare
    their times in the store (leases, heartbeats, due times), so each reads the same clock.
    `base` plus the offset the heartbeat last measured (monitor.process.lifeline); 0 until then,
    and always 0 on SQLite, whose processes share one machine's clock.

    Between two readings of the store's clock it runs on `monotonic` from the last one (`anchor`):
    a step of this machine's clock (NTP, a VM resumed) moves nothing until the next reading
    measures it. Read straight from `base`, a step an hour ahead made every feed this replica
    polled before its next heartbeat due an hour late, for every replica. `monotonic` defaults to
    `elapsed` with the system clock; with another `base` (a test's) and no `monotonic`,
    the clock follows `base`."""

    def __init__(
        self, base: Clock | None = None, monotonic: Callable[[], float] | None = None
    ) -> None:
        self.base: Clock = base or SystemClock()
        self.offset = timedelta(0)
        self._monotonic = monotonic or (elapsed if base is None else None)
        self._anchor: tuple[datetime, float] | None = None

    def anchor(self) -> None:
        """Run from this moment's time (`base` plus `offset`) on the monotonic clock, until the
        next anchor; the store's clock was just read."""
        if self._monotonic is not None:
            self._anchor = (self.base.now() + self.offset, self._monotonic())

    def now(self) -> datetime:
        if self._anchor is None or self._monotonic is None:
            return self.base.now() + self.offset
        at, since = self._anchor
        return at + timedelta(seconds=self._monotonic() - since)


def wall_now(clock: Clock) -> datetime:
    """This machine's time, for what others compare with theirs (a webhook's signed timestamp,
    an email's Date): a `StoreClock`'s base, which NTP keeps right, not the database's."""
    return clock.base.now() if isinstance(clock, StoreClock) else clock.now()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when
