"""Body turns (monitor.net.bodies) against real HTTP servers on 127.0.0.1: the large bodies held at
once never outnumber the turns, a waiting fetch goes on once a turn frees, and one that gets no
turn before its deadline fails as `memory_busy`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from monitor.clock import FakeClock
from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult, fetch
from monitor.metrics import Metrics
from monitor.model import FeedState
from monitor.net.bodies import ALLOWANCE, BodyTurns
from monitor.net.feedclient import make_feed_client
from monitor.net.guard import AddressGuard
from monitor.net.hostlimits import HostLimiter
from monitor.pipeline.poll import FetchPolicy, Poller, http_fetcher
from tests.test_fetch_support import LocalServer, respond, run

LOCAL = AddressGuard(["127.0.0.1/32"])
R = TypeVar("R")


def big_feed(n: int, size: int = 2 * ALLOWANCE) -> bytes:
    """A valid RSS document of about `size` bytes: past the allowance, so it needs a turn."""
    text = "x" * 1000
    items = "".join(
        f"<item><guid>{n}-{i}</guid><title>Item {i}</title><description>{text}</description></item>"
        for i in range(size // 1060)
    )
    return f"<rss version='2.0'><channel><title>Big {n}</title>{items}</channel></rss>".encode()


SMALL = b"<rss version='2.0'><channel><title>Small</title></channel></rss>"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    for n in range(6):
        srv.routes[f"/big{n}"] = respond(200, big_feed(n), {"Content-Type": "application/rss+xml"})
    srv.routes["/small"] = respond(200, SMALL, {"Content-Type": "application/rss+xml"})
    yield srv
    srv.close()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` (ASYNC110: the turns and tasks count, they signal nothing)."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_a_waiting_fetch_goes_on_once_a_turn_is_given_back(server: LocalServer) -> None:
    turns = BodyTurns(2)

    async def go() -> None:
        async with make_feed_client(LOCAL) as client:
            tasks = [
                asyncio.create_task(fetch(client, server.url(f"/big{n}"), turns=turns))
                for n in range(4)
            ]
            await until(lambda: sum(t.done() for t in tasks) == 2 and turns.waiting == 2)
            await asyncio.sleep(0.2)  # the two waiting stay so: no turn comes back by itself
            finished = [t for t in tasks if t.done()]
            assert len(finished) == 2, "two turns, two large bodies"
            assert (turns.in_use, turns.waiting, turns.waits) == (2, 2, 2)
            for held in finished:
                result = held.result()
                assert result.body == big_feed(tasks.index(held))
                assert result.turn is not None
                assert result.turn.held
            # A small body needs no turn: it does not queue behind the large ones.
            small = await asyncio.wait_for(fetch(client, server.url("/small"), turns=turns), 2)
            assert small.body == SMALL
            assert small.turn is None
            first = finished[0].result()
            assert first.turn is not None
            first.turn.release()
            first.turn.release()  # twice is once
            await until(lambda: sum(t.done() for t in tasks) == 3)
            assert (turns.in_use, turns.waiting) == (2, 1)
            for t in finished[1:]:
                result = t.result()
                assert result.turn is not None
                result.turn.release()
            rest = await asyncio.wait_for(asyncio.gather(*tasks), 5)
            for n, result in enumerate(rest):
                assert result.body == big_feed(n)
                if result.turn is not None:
                    result.turn.release()
            assert (turns.in_use, turns.waiting, turns.waits) == (0, 0, 2)

    run(go())


def test_a_fetch_that_gets_no_turn_before_its_deadline_fails_as_memory_busy(
    server: LocalServer,
) -> None:
    seconds = iter([100.0, 112.5])  # the clock read when the wait starts and when it ends
    turns = BodyTurns(1, clock=lambda: next(seconds))

    async def go() -> FeedError:
        async with make_feed_client(LOCAL) as client:
            holder = await fetch(client, server.url("/big0"), turns=turns)
            assert holder.turn is not None
            assert turns.in_use == 1
            with pytest.raises(FeedError) as info:
                await fetch(client, server.url("/big1"), turns=turns, deadline=1)
            assert (turns.in_use, turns.waiting, turns.waits) == (1, 0, 1)
            holder.turn.release()
            assert turns.in_use == 0
            # The turn it could not get is free for the next one.
            again = await fetch(client, server.url("/big1"), turns=turns, deadline=5)
            assert again.body == big_feed(1)
            assert again.turn is not None
            again.turn.release()
            return info.value

    error = run(go())
    assert error.kind == "memory_busy"
    assert "within 1 s" in str(error)
    assert "waited 12.5 s for one of the 1 turns" in str(error)
    assert "body_memory" in str(error)


def test_a_failed_read_gives_its_turn_back(server: LocalServer) -> None:
    turns = BodyTurns(1)
    body = big_feed(9)

    def cut(h: Any) -> None:  # says the whole length, sends most of it, hangs up
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) - 1000])

    server.routes["/cut"] = cut

    async def go() -> None:
        async with make_feed_client(LOCAL) as client:
            for path in ("/cut", "/big0"):
                with pytest.raises(FeedError):
                    await fetch(client, server.url(path), turns=turns, max_bytes=ALLOWANCE * 3 // 2)
                assert (turns.in_use, turns.waiting) == (0, 0)
            result = await fetch(client, server.url("/big0"), turns=turns, deadline=2)
            assert result.turn is not None
            result.turn.release()

    run(go())


def test_polls_hold_no_more_large_bodies_than_turns(server: LocalServer) -> None:
    """Six feeds of 2 MiB, two turns, a slow decision (parse and match): at most two bodies are
    held at once, and every poll still ends `ok`. Without the turns all six are."""
    policy = FetchPolicy(max_body=4 * ALLOWANCE, body_memory=8 * ALLOWANCE, deadline=20)
    turns = policy.body_turns()
    assert turns.count == 2
    held = 0
    peak = 0

    async def slow_cpu(func: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        await asyncio.sleep(0.2)
        return await asyncio.to_thread(func, *args, **kwargs)

    async def go() -> list[str]:
        async with make_feed_client(LOCAL) as client:
            fetcher = http_fetcher(client, HostLimiter(per_host=10, total=10), policy, turns)

            async def counted(feed: FeedState) -> FetchResult:
                nonlocal held, peak
                result = await fetcher(feed)
                if result.body is not None and len(result.body) > ALLOWANCE:
                    held += 1
                    peak = max(peak, held)
                return result

            def decided(func: Callable[..., R]) -> Callable[..., R]:
                def call(*args: Any, **kwargs: Any) -> R:
                    nonlocal held
                    try:
                        return func(*args, **kwargs)
                    finally:
                        held -= 1

                return call

            async def cpu(func: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
                return await slow_cpu(decided(func), *args, **kwargs)

            poller = Poller(
                store=None, fetcher=counted, rules=None, clock=FakeClock(), owner="", cpu=cpu
            )
            feeds = [
                FeedState(f"big{n}", server.url(f"/big{n}"), f"big{n}", (), 60.0, 0.0)
                for n in range(6)
            ]
            reports = await asyncio.gather(*(poller.poll(f) for f in feeds))
            return [r.status for r in reports]

    assert run(go()) == ["ok"] * 6
    assert peak == 2
    assert (turns.in_use, turns.waiting) == (0, 0)  # every poll gave its turn back


def test_metrics_read_the_turns_when_scraped() -> None:
    turns = BodyTurns(3)
    metrics = Metrics()
    metrics.watch_body_turns(turns)

    async def go() -> str:
        claims = [turns.claim() for _ in range(4)]
        for claim in claims[:3]:
            await claim.grow(2 * ALLOWANCE)
        waiter = asyncio.create_task(claims[3].grow(2 * ALLOWANCE))
        await asyncio.sleep(0)
        text = metrics.render().decode()
        claims[0].release()
        await waiter
        return text

    text = run(go())
    assert "newsmon_body_turns 3.0" in text
    assert "newsmon_body_turns_in_use 3.0" in text
    assert "newsmon_body_turns_waiting 1.0" in text
    after = metrics.render().decode()
    assert "newsmon_body_turn_waits_total 1.0" in after
    assert "newsmon_body_turns_waiting 0.0" in after


@pytest.mark.parametrize(
    ("body_memory", "max_body", "count"),
    [(64 << 20, 10 << 20, 6), (1, 10 << 20, 1), (64 << 20, 512 << 10, 128)],
)
def test_turns_are_the_whole_bodies_the_budget_holds(
    body_memory: int, max_body: int, count: int
) -> None:
    assert BodyTurns.for_budget(body_memory, max_body).count == count
