"""A process's heartbeat in the store (the daemon's, and a `check --deliver` run's): while it
beats, every lease it holds is its own; when it stops (SIGKILL, OOM, a lost machine), the others
take its feeds and alerts over within `HOLDER_TTL_S`, not after the leases (2 minutes by
default). Does I/O (the store).

- At start, holders registered on this host (the same hostname, boot and pid namespace) whose
  process is gone (a SIGKILLed predecessor on the same SQLite file or in the same container) are
  ended at once: a restart takes over their work immediately.
- `run()` renews the holder row every `HEARTBEAT_S` until `close()`, including during the
  shutdown drain, so work in flight is never taken over while the process finishes it.
- A beat that fails (the store is down) is logged and tried again at the next beat; the row then
  expires and the work may move to another process, which the commit and mark fencing allows for.
  Until a beat succeeds again `writing` is False, and /readyz says the store is not usable.
- `life()` says whether the row has lived all along since a moment, judged on a clock that
  never steps and counts a suspend: a value that changes at a lapse, None while the row may have
  expired. The deliverer posts no more of a batch it claimed before a lapse.

Times come from the injected clock; the pause between beats from the injected `sleep`. A
`StoreClock` is set to the store's clock at every beat (and by the bootstrap, through
`set_to_store`, before its first write of a time): on PostgreSQL, replicas whose clocks
differ (by more than the holder TTL, 10 s) otherwise saw each other's holder rows as expired and
took each other's work, all the time.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import structlog

from monitor.clock import Clock, StoreClock, elapsed
from monitor.errors import StoreError
from monitor.store.coord import HEARTBEAT_S, HOLDER_TTL_S, dead_predecessors, pid_alive
from monitor.store.roles import Coordination

log = structlog.get_logger("newsmon.lifeline")

# The store's clock is read over a round trip: an offset that moved less than this is noise
# and left as it was (times read from the clock then never step back by a few milliseconds).
OFFSET_STEP = timedelta(seconds=0.5)
SKEW_SAID = timedelta(seconds=2)  # an offset past this is logged, once per change
# A reading that took longer than this (a store that hung, then answered) may be off by half of
# it: it is not used (a 2-minute hang read as a 59 s skew, and set the clock 59 s ahead).
ROUND_TRIP_MAX = timedelta(seconds=2)
# Our row's life is judged on other processes' clocks, set to the store's within OFFSET_STEP:
# it is taken to end this much before its TTL, on our monotonic clock.
LIFE_MARGIN_S = 1.0


def host_identity() -> str:
    """Where a pid means the same process: the hostname, this boot and this pid namespace.

    Two containers may share a hostname (host networking) but not their pids, and a machine that
    rebooted reuses pids: only holders with the same identity are judged by their pid."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8])
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:  # not Linux: the hostname alone (one process namespace per host)
        pass
    return "/".join(parts)


def set_to_store(clock: StoreClock, store: Coordination) -> None:
    """Set `clock` to the store's: its offset from this machine's, read mid round trip. The
    bootstrap calls it before its first write of a time (new feeds' due times), the heartbeat at
    every beat."""
    before = clock.base.now()
    server = store.store_time()
    if server is None:
        return
    after = clock.base.now()
    if after - before > ROUND_TRIP_MAX:
        return
    offset = server - (before + (after - before) / 2)
    if abs(offset - clock.offset) < OFFSET_STEP:
        clock.anchor()
        return
    clock.offset = offset
    clock.anchor()
    if abs(offset) >= SKEW_SAID:
        log.warning(
            "clock_skew",
            seconds=round(offset.total_seconds(), 1),
            hint="this machine's clock differs from the database server's; newsmon uses the"
            " server's (keep the machines on NTP)",
        )


class Lifeline:
    def __init__(
        self,
        store: Coordination,
        owner: str,
        clock: Clock,
        *,
        interval_s: float = HEARTBEAT_S,
        ttl_s: float = HOLDER_TTL_S,
        host: str | None = None,
        pid: int | None = None,
        alive: Callable[[int], bool] = pid_alive,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        monotonic: Callable[[], float] = elapsed,
    ) -> None:
        if ttl_s < 2 * interval_s:
            raise ValueError("the holder row must outlast at least two heartbeats")
        self.store = store
        self.owner = owner
        self.clock = clock
        self.interval_s = interval_s
        self.ttl = timedelta(seconds=ttl_s)
        self.host = host or host_identity()
        self.pid = os.getpid() if pid is None else pid
        self._alive = alive
        self._sleep = sleep
        self._closed = False
        # False while the last beat failed: the store answers reads (a full disk, a read-only
        # file) or nothing, but this process cannot record its work (for /readyz).
        self.writing = True
        self._monotonic = monotonic
        # Our row surely lives until this monotonic time (the last beat's start, its TTL, less
        # LIFE_MARGIN_S); a beat that starts later finds it may have expired meanwhile: a lapse,
        # after which another process may hold what we had leased.
        self._live_until: float | None = None
        self._lapses = 0

    def life(self) -> int | None:
        """Which unbroken stretch of our row's life this is: it changes at a lapse (a stall past
        the TTL, a store that did not take our beats), and None while the row may have expired
        now. The deliverer posts what it claimed only while this stays as it was at the claim:
        a replica stalled past the TTL between two posts, its batch taken over, sent the next
        one again on waking."""
        if self._live_until is None or self._monotonic() > self._live_until:
            return None
        return self._lapses

    def take_over_dead_predecessors(self) -> list[str]:
        """End the holders on this host whose process is gone; their leases are free now."""
        if isinstance(self.clock, StoreClock):
            self._set(self.clock)
        now = self.clock.now()
        live = self.store.live_holders(self.host, now)
        dead = dead_predecessors(live, self.owner, self.pid, self._alive)
        for owner in dead:
            self.store.end_holder(owner, now)
        if dead:
            log.info("dead_holders_taken_over", holders=dead)
        return dead

    async def open(self) -> None:
        """Before the first claim: end this host's dead holders (their leases are ours to take at
        once), then write our own row. Store calls off the event loop."""
        await asyncio.to_thread(self.take_over_dead_predecessors)
        await asyncio.to_thread(self.beat)

    def beat(self) -> None:
        started = self._monotonic()
        if isinstance(self.clock, StoreClock):
            self._set(self.clock)
        now = self.clock.now()
        self.store.beat_holder(self.owner, self.host, self.pid, now, now + self.ttl)
        if self._live_until is not None and started > self._live_until:
            self._lapses += 1
        self._live_until = started + self.ttl.total_seconds() - LIFE_MARGIN_S

    def _set(self, clock: StoreClock) -> None:
        set_to_store(clock, self.store)

    async def run(self) -> None:
        """Beat every `interval_s` until `close()`."""
        while not self._closed:
            try:
                await asyncio.to_thread(self.beat)
            except StoreError as exc:
                self.writing = False
                log.warning("heartbeat_failed", error=str(exc))
            else:
                self.writing = True
            await self._sleep(self.interval_s)

    def close(self) -> None:
        """Stop beating and end the holder row: whatever is still leased is free at once."""
        self._closed = True
        try:
            self.store.end_holder(self.owner, self.clock.now())
        except StoreError as exc:  # the row expires by itself within the TTL
            log.warning("holder_end_failed", error=str(exc))
