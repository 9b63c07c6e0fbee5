"""The daemon's claim loop with a backlog: a replica refills its fetch slots as polls finish instead
of waiting for the next tick (which capped it at `concurrency` polls per tick), and stops
refilling once a claim comes back short."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from monitor.model import FeedState
from monitor.process.daemon import Daemon

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def feed(i: int) -> FeedState:
    return FeedState(
        id=f"f{i}", url=f"https://example.org/{i}.xml", name="", tags=(), interval_s=60.0,
        backfill_s=0.0, next_poll_at=T0,
    )  # fmt: skip


class Queue:
    """Due feeds handed out by claims, as the store would; records each claim's limit."""

    def __init__(self, due: int) -> None:
        self.due = [feed(i) for i in range(due)]
        self.claims: list[int] = []
        self.polled: list[str] = []

    async def claim(self, limit: int) -> list[FeedState]:
        self.claims.append(limit)
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def poll(self, state: FeedState) -> None:
        await asyncio.sleep(0.002)
        self.polled.append(state.id)


async def nothing(*_args: object) -> None:
    return None


def daemon(queue: Queue, concurrency: int) -> Daemon:
    return Daemon(
        claim_feeds=queue.claim,
        poll_feed=queue.poll,
        release_feed=nothing,
        deliver=nothing,
        reload_rules=nothing,
        housekeeping=nothing,
        stats=nothing,
        concurrency=concurrency,
        grace_period=timedelta(seconds=1),
    )


async def run_one_tick(queue: Queue, concurrency: int) -> None:
    d = daemon(queue, concurrency)
    await d.poll_tick()  # the only tick: everything after it is refills
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not queue.due and not len(d._polls):
            break


def test_a_backlog_is_polled_by_refills_without_waiting_for_ticks() -> None:
    queue = Queue(due=120)
    asyncio.run(run_one_tick(queue, concurrency=10))
    assert sorted(queue.polled) == sorted(f"f{i}" for i in range(120))
    assert len(queue.claims) > 12  # one tick's claim alone would have polled 10
    assert max(queue.claims) <= 10  # never more than the free slots


def test_a_short_claim_ends_the_refills() -> None:
    queue = Queue(due=4)
    asyncio.run(run_one_tick(queue, concurrency=10))
    assert len(queue.polled) == 4
    assert queue.claims == [10]  # the claim came back short: no backlog, no refill
