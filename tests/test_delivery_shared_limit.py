"""The destination's rate limit shared through the store: two deliverers (two replicas, or a
daemon and a cron `check --deliver`) on one database send no more than the configured rate
together, and a 429's Retry-After at one pauses the destination for the other. A fake clock; a
real SQLite store and a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path

from monitor.clock import FakeClock
from monitor.delivery.deliverer import Deliverer
from monitor.delivery.destinations import Destination
from tests.delivery_support import SECRET, T0, enqueue, open_sqlite, plain_client
from tests.receiver import Receiver, Reply


def seed(path: Path, now: datetime, destination: str, stories: list[str]) -> None:
    """Alerts in the shared outbox, put there through a store of the poller's kind: the
    deliverers' own stores are typed as the delivery role only."""
    store = open_sqlite(path)
    try:
        enqueue(store, now, destination, stories)
    finally:
        store.close()


def pair(path: Path, dest: Destination, clock: FakeClock) -> list[Deliverer]:
    return [
        Deliverer(
            store=open_sqlite(path),
            destinations={dest.name: dest},
            client_factory=plain_client,
            clock=clock,
            rng=random.Random(7),
            owner=f"replica-{i}",
            deadline=2.0,
            lease=timedelta(seconds=30),
        )
        for i in (1, 2)
    ]


def test_two_deliverers_share_the_rate(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    with Receiver([Reply(200)]) as rx:
        dest = Destination.create("hook", "webhook", rx.url, [SECRET], rate=1.0, burst=2.0)
        a, b = pair(tmp_path / "s.db", dest, clock)
        seed(tmp_path / "s.db", T0, "hook", [f"s{i}" for i in range(10)])

        released = 0

        async def scenario() -> list[tuple[int, int]]:
            nonlocal released
            sent = []
            for step in range(9):  # 9 seconds, both asking every second, first in turns
                order = (b, a) if step % 2 else (a, b)
                done = {d.owner: await d.run_once() for d in order}
                released += sum(r.released for r in done.values())
                sent.append((done[a.owner].delivered, done[b.owner].delivered))
                clock.advance(1.0)
            await a.aclose()
            await b.aclose()
            return sent

        sent = asyncio.run(scenario())
    # Each alone could send 2 + 1/s (its own bucket); together they send the burst at once and
    # then one a second: after t seconds at most 2 + t, and every alert exactly once.
    total = 0
    for step, (got_a, got_b) in enumerate(sent):
        total += got_a + got_b
        assert total <= 2 + step, sent
    assert total == 10
    assert len(rx.requests) == 10
    assert len({r.headers["webhook-id"] for r in rx.requests}) == 10
    # Refused once, a deliverer takes tokens before it claims: it gives back rows only at its
    # first refusal (at most its own burst, 2), not at every refused turn.
    assert released <= 4
    assert sum(a for a, _ in sent) > 0  # both did some
    assert sum(b for _, b in sent) > 0


def test_a_429_retry_after_at_one_deliverer_pauses_the_other(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    replies = [Reply(429, headers={"Retry-After": "30"}), Reply(200)]
    with Receiver(replies) as rx:
        dest = Destination.create("hook", "webhook", rx.url, [SECRET], rate=5.0, burst=5.0)
        a, b = pair(tmp_path / "s.db", dest, clock)
        seed(tmp_path / "s.db", T0, "hook", ["s1", "s2", "s3"])

        async def scenario() -> list[int]:
            first = await a.run_once()
            assert first.retried == 1  # s1 got the 429; a pauses, the rest are released
            sent = []
            for seconds in (1, 10, 29):
                clock.set(T0 + timedelta(seconds=seconds))
                sent.append((await b.run_once()).delivered)
            clock.set(T0 + timedelta(seconds=31))
            sent.append((await b.run_once()).delivered)
            await a.aclose()
            await b.aclose()
            return sent

        sent = asyncio.run(scenario())
    # b had a full bucket of its own: only the shared pause kept it from sending for 30 s
    assert sent[:3] == [0, 0, 0]
    assert sent[3] >= 2
    assert len(rx.requests) == 1 + sent[3]
