"""StoreBackoff: a job that hits a StoreError waits 1, 2, 4 … 30 s, and runs again at once when the
store answers. A fake monotonic clock, no sleeping."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from structlog.testing import capture_logs

from monitor.errors import StoreError
from monitor.process.outage import StoreBackoff

pytestmark = pytest.mark.fault


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_up_to_the_cap_and_reset_on_success() -> None:
    clock = Clock()
    backoff = StoreBackoff("poll", first=1.0, cap=8.0, clock=clock)
    calls: list[float] = []
    failing = True

    async def work() -> str:
        calls.append(clock.now)
        if failing:
            raise StoreError("database is down")
        return "done"

    async def tick() -> str | None:
        return await backoff.run(work)

    with capture_logs() as logs:
        for _ in range(40):  # 20 s of one-second ticks... of half a second
            assert asyncio.run(tick()) is None
            clock.now += 0.5
        failing = False
        while (result := asyncio.run(tick())) is None:
            clock.now += 0.5
    assert result == "done"
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(calls)]
    assert gaps[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(gaps) <= 8.0
    down = [e for e in logs if e["event"] == "store_unavailable"]
    assert [e["retry_in_s"] for e in down[:5]] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert down[0]["job"] == "poll"
    assert down[0]["error"] == "database is down"
    assert [e["event"] for e in logs][-1] == "store_available"
    assert backoff.ready()
    assert backoff.delay == 0.0


def test_other_errors_are_not_swallowed() -> None:
    backoff = StoreBackoff("deliver")

    async def work() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(backoff.run(work))
    assert backoff.ready()
