"""HostLimiter: per-host and global concurrency bounds."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from monitor.errors import FeedError
from monitor.net.hostlimits import HostLimiter, HostStuckError
from tests.test_fetch_support import run


async def _load(limiter: HostLimiter, hosts: list[str]) -> tuple[Counter[str], int]:
    running: Counter[str] = Counter()
    peak_per_host: Counter[str] = Counter()
    peak_total = 0

    async def job(host: str) -> None:
        nonlocal peak_total
        async with limiter.slot(host):
            running[host] += 1
            peak_per_host[host] = max(peak_per_host[host], running[host])
            peak_total = max(peak_total, sum(running.values()))
            await asyncio.sleep(0.01)
            running[host] -= 1

    await asyncio.gather(*(job(h) for h in hosts))
    return peak_per_host, peak_total


@pytest.mark.parametrize(
    ("per_host", "total", "host_count", "want_host_peak", "want_total_peak"),
    [
        (2, 50, 3, 2, 6),  # the per-host bound binds
        (2, 5, 10, 1, 5),  # the global bound binds first (each host may get only one)
        (3, 4, 2, 2, 4),  # interleaved arrivals share the global slots
    ],
)
def test_per_host_and_global_bounds_hold(
    per_host: int, total: int, host_count: int, want_host_peak: int, want_total_peak: int
) -> None:
    limiter = HostLimiter(per_host=per_host, total=total)
    hosts = [f"h{n % host_count}.example" for n in range(20 * host_count)]
    peak_per_host, peak_total = run(_load(limiter, hosts))
    assert want_host_peak <= max(peak_per_host.values()) <= per_host
    assert peak_total == want_total_peak
    assert limiter.hosts_tracked() == 0  # nothing kept once every task is done
    assert limiter.running == 0


def test_host_names_are_compared_case_insensitively() -> None:
    limiter = HostLimiter(per_host=1, total=10)
    peak, _ = run(_load(limiter, ["Feeds.Example", "feeds.example.", "FEEDS.EXAMPLE"] * 3))
    assert sum(peak.values()) == 3  # each spelling saw one at a time: they shared one slot
    assert max(peak.values()) == 1


def test_one_busy_host_does_not_hold_global_slots() -> None:
    # 20 tasks for one host wait on their host slot, not on the global bound, so another
    # host still starts at once.
    limiter = HostLimiter(per_host=1, total=2)

    async def go() -> float:
        release = asyncio.Event()
        order: list[str] = []

        async def busy() -> None:
            async with limiter.slot("busy.example"):
                await release.wait()

        async def other() -> None:
            async with limiter.slot("other.example"):
                order.append("other")

        tasks = [asyncio.create_task(busy()) for _ in range(20)]
        await asyncio.sleep(0)
        await asyncio.wait_for(other(), timeout=1)
        release.set()
        await asyncio.gather(*tasks)
        return len(order)

    assert run(go()) == 1


def test_slot_is_released_on_error() -> None:
    limiter = HostLimiter(per_host=1, total=1)

    async def go() -> None:
        with pytest.raises(RuntimeError):
            async with limiter.slot("a.example"):
                raise RuntimeError("boom")
        async with limiter.slot("a.example"):
            pass

    run(asyncio.wait_for(go(), timeout=1))
    assert limiter.hosts_tracked() == 0


@pytest.mark.parametrize(("per_host", "total"), [(0, 5), (2, 0)])
def test_limits_must_be_positive(per_host: int, total: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HostLimiter(per_host, total)


def _end(outcome: str) -> None:
    if outcome == "timeout":
        raise FeedError("timeout", "no complete answer")


async def _attempt(limiter: HostLimiter, host: str, hold: float = 0.0, outcome: str = "") -> str:
    """One task through the host's slot, holding it `hold` seconds: "ran", "timed out" (its
    fetch ended in a timeout: `outcome` "timeout") or "gave up" (HostStuckError)."""
    try:
        async with limiter.slot(host):
            await asyncio.sleep(hold)
            _end(outcome)
    except HostStuckError:
        return "gave up"
    except FeedError:
        return "timed out"
    return "ran"


async def _round(
    limiter: HostLimiter, hold: float, outcome: str = "", waiters: int = 3
) -> tuple[list[str], float]:
    """Two tasks hold "hung.example" for `hold` seconds (ending as `outcome` says); then
    `waiters` more ask for it. What each waiter got, and how long they took."""
    loop = asyncio.get_running_loop()
    holders = [
        asyncio.create_task(_attempt(limiter, "hung.example", hold, outcome)) for _ in range(2)
    ]
    await asyncio.sleep(0)
    started = loop.time()
    outcomes = await asyncio.gather(*(_attempt(limiter, "hung.example") for _ in range(waiters)))
    waited = loop.time() - started
    await asyncio.gather(*holders)
    return list(outcomes), waited


def test_waiters_give_up_on_a_host_that_makes_no_progress() -> None:
    # The two fetches in flight hang (1.5 s here, a deadline each in the daemon): the others do
    # not queue behind them, a deadline each, holding the daemon's polls in flight meanwhile (60
    # feeds of one hung host kept every other feed from being polled).
    limiter = HostLimiter(per_host=2, total=50, patience=0.3)
    outcomes, waited = run(_round(limiter, hold=1.5, waiters=5))
    assert outcomes == ["gave up"] * 5
    assert waited < 1.0
    assert limiter.hosts_tracked() == 0
    assert HostStuckError("h", 2, 0.3).kind == "timeout"  # a feed error like any other


def test_waiters_wait_for_a_host_that_makes_progress() -> None:
    # 20 fetches of 50 ms through 2 slots take about 0.5 s, longer than the patience, but each
    # slot turns over well within it: nobody gives up.
    limiter = HostLimiter(per_host=2, total=50, patience=0.3)

    async def go() -> list[str]:
        return list(await asyncio.gather(*(_attempt(limiter, "busy", 0.05) for _ in range(20))))

    assert run(go()) == ["ran"] * 20


def test_a_timed_out_fetch_is_no_progress() -> None:
    # Fetches that each end in a timeout within the patience do not keep the waiters waiting.
    limiter = HostLimiter(per_host=1, total=50, patience=0.3)

    async def go() -> tuple[list[str], float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        tries = (_attempt(limiter, "slow.example", 0.1, "timeout") for _ in range(20))
        outcomes = await asyncio.gather(*tries)
        return list(outcomes), loop.time() - started

    outcomes, ended = run(go())
    assert outcomes.count("timed out") <= 4  # about 0.3 s of 0.1 s timeouts, one at a time
    assert outcomes.count("gave up") >= 16
    assert ended < 1.0  # not 20 x 0.1 s


def test_a_stalled_host_is_remembered_until_a_fetch_finishes() -> None:
    # Round one: the fetches in flight time out, the waiters give up after the patience. Round
    # two, the host's table entry long gone: its feeds due again take the free slots and the
    # rest give up at once, not after another patience each round. Then fetches finish and
    # the host is waited for again.
    limiter = HostLimiter(per_host=2, total=50, patience=0.3)

    async def go() -> list[tuple[list[str], float]]:
        first = await _round(limiter, 0.5, "timeout")
        assert limiter.hosts_tracked() == 0
        second = await _round(limiter, 0.5, "timeout")
        third = await _round(limiter, 0.05)  # the host answers again
        fourth = await _round(limiter, 0.05)
        return [first, second, third, fourth]

    (first, w1), (second, w2), (third, _), (fourth, _) = run(go())
    assert first == second == ["gave up"] * 3
    assert 0.25 < w1 < 0.5
    assert w2 < 0.1  # remembered: no second patience
    assert third == ["gave up"] * 3  # still stalled when they asked: the answers came after
    assert fourth == ["ran"] * 3
