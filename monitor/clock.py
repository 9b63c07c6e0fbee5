"""Clocks. Time-based logic takes a `Clock` so tests can drive it. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class StoreClock:
    """This machine's clock set to the shared store's: replicas on several machines compare
    their times in the store (leases, heartbeats, due times), so each reads the same clock.
    `base` plus the offset the heartbeat last measured (monitor.process.lifeline); 0 until then,
    and always 0 on SQLite, whose processes share one machine's clock."""

    def __init__(self, base: Clock | None = None) -> None:
        self.base: Clock = base or SystemClock()
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return self.base.now() + self.offset


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
