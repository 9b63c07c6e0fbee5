"""HostLimiter: per-host and global concurrency bounds."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from monitor.net.hostlimits import HostLimiter
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
