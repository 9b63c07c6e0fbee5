"""Concurrency bounds for fetching: at most `per_host` requests to one host, `total` overall.

Coordinates asyncio tasks; no I/O of its own. A task first waits for its host's slot and only then
for a global one, so a queue of feeds on one slow host never holds global slots that other hosts
could use. Per-host semaphores are dropped when no task uses them, so the table does not grow with
every host ever polled.

A task gives up waiting for its host (`HostStuckError`, a `timeout` feed error) once that host
has gone `patience` seconds with every slot busy and no fetch finished, a timed-out one not
counting. The patience is the fetch deadline and a second (`patience_for`): every fetch that
answers within its deadline finishes within it, so a host that is slow but answers is always
waited for, and only one whose fetches time out is given up on. The polls of a host that hangs
would otherwise queue behind one another, a deadline each, and hold the caller's own
concurrency (the daemon's polls in flight), so that 60 feeds of one hung host kept every other
feed from being polled at all. A host stays stalled, past the life of its table entry, until
one of its fetches finishes: its feeds that come due again get the free slots and the rest
give up at once, instead of waiting out the patience every round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from monitor.errors import FeedError

PATIENCE_S = 31.0  # patience_for the default 30 s fetch deadline


def patience_for(deadline: float) -> float:
    """How long a task waits for a host that finishes no fetch: each fetch holding a slot began
    at or before the last progress and, answering within `deadline`, ends within it."""
    return deadline + 1.0


_STALLED_KEPT = 10_000  # hosts remembered as stalled at most (the oldest forgotten first)


class HostStuckError(FeedError):
    """Not fetched: the host's other fetches have made no progress for `patience` seconds."""

    def __init__(self, host: str, per_host: int, patience: float) -> None:
        super().__init__(
            "timeout",
            f"not fetched: {host} finished none of its last fetches in {patience:g} s with all "
            f"{per_host} of its connections busy (this feed waits for its next poll, so that "
            "the other feeds stay on time)",
        )


class _HostSlot:
    __slots__ = ("progress", "semaphore", "stalled", "users")

    def __init__(self, size: int, progress: float, stalled: bool) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.users = 0
        # When a fetch last finished or a slot was free; `stalled`: a fetch timed out or a task
        # gave up since, so a free slot is no sign of progress.
        self.progress = progress
        self.stalled = stalled


class HostLimiter:
    """`async with limiter.slot(host): ...` runs the body under both bounds.

    `patience`: seconds a task waits for its host while that host makes no progress; `clock`
    is injectable for tests (the waits themselves are the event loop's)."""

    def __init__(
        self,
        per_host: int = 2,
        total: int = 50,
        *,
        patience: float = PATIENCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_host < 1 or total < 1:
            raise ValueError(f"limits must be at least 1 (per_host={per_host}, total={total})")
        self.per_host = per_host
        self.total = total
        self.patience = patience
        self._clock = clock
        self._global = asyncio.Semaphore(total)
        self._hosts: dict[str, _HostSlot] = {}
        self._stalled: dict[str, float] = {}  # host -> its progress, for hosts with no entry
        self._running = 0

    @property
    def running(self) -> int:
        """How many bodies run right now (for metrics and tests)."""
        return self._running

    def hosts_tracked(self) -> int:
        """How many hosts have a waiting or running task."""
        return len(self._hosts)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        key = host.strip().rstrip(".").lower()
        entry = self._hosts.get(key)
        if entry is None:
            stalled = self._stalled.pop(key, None)
            entry = _HostSlot(self.per_host, stalled or self._clock(), stalled is not None)
            self._hosts[key] = entry
        entry.users += 1
        try:
            await self._host_turn(entry, key)
            try:
                async with self._global:
                    self._running += 1
                    finished = False
                    try:
                        yield
                        finished = True
                    except FeedError as e:
                        finished = e.kind != "timeout"  # a timed-out fetch is no progress
                        raise
                    finally:
                        self._running -= 1
                        if finished:
                            entry.progress = self._clock()
                            entry.stalled = False
                        else:
                            entry.stalled = True
            finally:
                entry.semaphore.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._hosts[key]
                if entry.stalled:
                    self._remember_stalled(key, entry.progress)

    async def _host_turn(self, entry: _HostSlot, host: str) -> None:
        """Take one of the host's slots, or raise HostStuckError once it has made no progress
        for `patience` seconds."""
        if not entry.semaphore.locked():
            if not entry.stalled:  # a free slot: the host keeps up, its patience starts now
                entry.progress = self._clock()
            await entry.semaphore.acquire()
            return
        while True:
            left = entry.progress + self.patience - self._clock()
            if left <= 0:
                entry.stalled = True
                raise HostStuckError(host, self.per_host, self.patience)
            try:
                async with asyncio.timeout(left):
                    await entry.semaphore.acquire()
            except TimeoutError:
                continue  # a fetch may have finished meanwhile: judge again
            return

    def _remember_stalled(self, host: str, progress: float) -> None:
        if len(self._stalled) >= _STALLED_KEPT:
            del self._stalled[next(iter(self._stalled))]
        self._stalled[host] = progress
