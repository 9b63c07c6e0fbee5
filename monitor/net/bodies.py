"""Turns to hold a large feed body: the memory of bodies in flight, bounded whatever the
concurrency. Pure bookkeeping on the event loop (an asyncio wait, no I/O).

    turns = BodyTurns.for_budget(body_memory=64 MiB, max_body=10 MiB)   # 6 turns
    claim = turns.claim()            # one per fetch
    await claim.grow(size)           # before the body held passes `allowance` bytes: a turn
    ...                              # the body read, hashed, parsed
    claim.release()                  # once the body is dropped (idempotent)

Every fetch may hold up to `allowance` (1 MiB) of body without asking; to hold more it takes one
of `count` turns, and keeps it until its body has been parsed and dropped. So the bodies in
memory are at most `count` × max_body plus `allowance` per fetch in flight, instead of
`concurrency` × max_body (40 feeds serving fresh 10 MB documents put the daemon at about 700 MB).
A fetch waiting for a turn holds at most its allowance and stops reading, so TCP flow control
holds the server; the turn holders wait for nothing a waiter holds (a parse, never a fetch
slot), so there is no deadlock. The wait counts against the fetch's deadline like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

ALLOWANCE = 1024 * 1024  # bytes of body any fetch may hold without a turn


class BodyTurns:
    """`count` turns to hold a body past `allowance` bytes; `clock` (seconds) for the waits."""

    def __init__(
        self,
        count: int,
        *,
        allowance: int = ALLOWANCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1:
            raise ValueError(f"at least one turn is needed, not {count}")
        self.count = count
        self.allowance = allowance
        self._clock = clock
        self._free = asyncio.Semaphore(count)
        self.in_use = 0  # turns held now
        self.waiting = 0  # fetches waiting for a turn now
        self.waits = 0  # fetches that had to wait, ever
        self.waited_s = 0.0  # seconds they waited, all together (those that got one)

    @classmethod
    def for_budget(
        cls, body_memory: int, max_body: int, *, clock: Callable[[], float] = time.monotonic
    ) -> BodyTurns:
        """As many turns as whole `max_body` bodies fit in `body_memory`, at least one."""
        return cls(max(1, body_memory // max(max_body, 1)), clock=clock)

    def claim(self) -> BodyClaim:
        return BodyClaim(self)

    async def _take(self, claim: BodyClaim) -> None:
        if not self._free.locked():
            await self._free.acquire()  # free: no wait (and none counted)
            self.in_use += 1
            return
        self.waits += 1
        self.waiting += 1
        since = self._clock()
        try:
            await self._free.acquire()
        except BaseException:  # the fetch's deadline (a cancellation) came first
            claim.gave_up = True
            raise
        finally:
            self.waiting -= 1
            claim.waited_s = self._clock() - since
        self.waited_s += claim.waited_s
        self.in_use += 1

    def _give_back(self) -> None:
        self.in_use -= 1
        self._free.release()


class BodyClaim:
    """One fetch's share: its allowance, and a turn once its body grows past it."""

    __slots__ = ("_turns", "gave_up", "held", "waited_s")

    def __init__(self, turns: BodyTurns) -> None:
        self._turns = turns
        self.held = False
        self.waited_s = 0.0  # how long the wait for a turn took
        self.gave_up = False  # the wait ended without a turn (the deadline passed)

    @property
    def turns(self) -> BodyTurns:
        return self._turns

    async def grow(self, size: int) -> None:
        """Before the body held grows to `size` bytes: past the allowance, wait for a turn."""
        if size > self._turns.allowance and not self.held:
            await self._turns._take(self)
            self.held = True

    def release(self) -> None:
        """Give the turn back, if held; safe to call again."""
        if self.held:
            self.held = False
            self._turns._give_back()
