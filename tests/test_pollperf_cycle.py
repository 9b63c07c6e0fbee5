"""`check --deliver` keeps at most `concurrency` polls in flight, as the daemon does (issue 9).

With every feed started at once, fetched bodies queued for the parse threads and set the cold
round's peak memory; the bound caps them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from monitor.clock import FakeClock
from monitor.pipeline.poll import PollReport
from monitor.process.cycle import Cycle


class _Poller:
    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self.polled: list[str] = []

    async def poll(self, feed: Any) -> PollReport:
        self.active += 1
        self.most = max(self.most, self.active)
        await asyncio.sleep(0.005)
        self.active -= 1
        self.polled.append(feed.id)
        return PollReport(feed_id=feed.id, status="ok", new_items=0, alerts_enqueued=0)


def _runtime(feeds: int, concurrency: int) -> tuple[Any, _Poller]:
    states = [SimpleNamespace(id=f"f{i}", error_count=0, next_poll_at=None) for i in range(feeds)]
    store = SimpleNamespace(claim_due_feeds=lambda *a, **kw: states, release_feed=lambda *a: None)
    poller = _Poller()
    rt = SimpleNamespace(
        ctx=SimpleNamespace(clock=FakeClock(datetime(2026, 11, 27, tzinfo=UTC)), owner="t"),
        store=store,
        config=SimpleNamespace(concurrency=concurrency, feed_lease=60),
        poller=poller,
        metrics=None,
    )
    return rt, poller


async def poll_all(rt: Any) -> None:
    """`check --deliver`'s claim and polls (the cycle without its delivery)."""
    cycle = Cycle(rt, every_feed=True)
    await cycle.poll_all(await cycle.claim(1_000_000))


def test_poll_all_bounds_polls_in_flight_by_concurrency() -> None:
    rt, poller = _runtime(feeds=40, concurrency=3)
    asyncio.run(poll_all(rt))
    assert sorted(poller.polled) == sorted(f"f{i}" for i in range(40))
    assert poller.most == 3


def test_poll_all_runs_polls_concurrently_up_to_the_bound() -> None:
    rt, poller = _runtime(feeds=10, concurrency=50)
    asyncio.run(poll_all(rt))
    assert poller.most == 10
