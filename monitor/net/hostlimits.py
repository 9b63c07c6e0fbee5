"""Concurrency bounds for fetching: at most `per_host` requests to one host, `total` overall.

Coordinates asyncio tasks; no I/O of its own. A task first waits for its host's slot and only then
for a global one, so a queue of feeds on one slow host never holds global slots that other hosts
could use. Per-host semaphores are dropped when no task uses them, so the table does not grow with
every host ever polled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _HostSlot:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.users = 0


class HostLimiter:
    """`async with limiter.slot(host): ...` runs the body under both bounds."""

    def __init__(self, per_host: int = 2, total: int = 50) -> None:
        if per_host < 1 or total < 1:
            raise ValueError(f"limits must be at least 1 (per_host={per_host}, total={total})")
        self.per_host = per_host
        self.total = total
        self._global = asyncio.Semaphore(total)
        self._hosts: dict[str, _HostSlot] = {}
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
            entry = self._hosts[key] = _HostSlot(self.per_host)
        entry.users += 1
        try:
            async with entry.semaphore, self._global:
                self._running += 1
                try:
                    yield
                finally:
                    self._running -= 1
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._hosts[key]
