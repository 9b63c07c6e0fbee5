"""The Daemon's own logic with injected work (no store, no network): waking the deliverer, log
context per poll, and the stop sequence (grace period, cancel and release, a second signal)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.contextvars import get_contextvars

from monitor.clock import Clock
from monitor.model import FeedState
from monitor.process.daemon import FORCED_EXIT, Daemon, StopLatch

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def feed(feed_id: str) -> FeedState:
    return FeedState(
        id=feed_id,
        url=f"http://127.0.0.1:9/{feed_id}",
        name=feed_id,
        tags=(),
        interval_s=60,
        backfill_s=0,
        next_poll_at=T0,
    )


class Work:
    """Records what the daemon asked for; polls and deliveries block until told to finish."""

    def __init__(self, feeds: list[FeedState], poll_s: float = 0.0) -> None:
        self.due = list(feeds)
        self.poll_s = poll_s
        self.polled: list[tuple[str, dict[str, Any]]] = []
        self.released: list[str] = []
        self.deliveries: list[dict[str, Any]] = []
        self.deliver_gate = asyncio.Event()
        self.deliver_gate.set()
        self.stops = 0
        self.steps: list[timedelta] = []
        self.daemon: Daemon | None = None

    async def claim(self, limit: int) -> list[FeedState]:
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def poll(self, f: FeedState) -> None:
        self.polled.append((f.id, dict(get_contextvars())))
        await asyncio.sleep(self.poll_s)
        assert self.daemon is not None
        self.daemon.wake_delivery()

    async def release(self, feed_id: str) -> None:
        self.released.append(feed_id)

    async def deliver(self) -> None:
        self.deliveries.append(dict(get_contextvars()))
        await self.deliver_gate.wait()

    async def nothing(self, *_args: object) -> None:
        return None

    def on_stop(self) -> None:
        self.stops += 1

    async def set_back(self, step: timedelta) -> None:
        self.steps.append(step)

    def make(
        self, grace: float = 2.0, stop: StopLatch | None = None, wall: Clock | None = None
    ) -> Daemon:
        self.daemon = Daemon(
            claim_feeds=self.claim,
            poll_feed=self.poll,
            release_feed=self.release,
            deliver=self.deliver,
            reload_rules=self.nothing,
            housekeeping=self.nothing,
            stats=self.nothing,
            concurrency=4,
            grace_period=timedelta(seconds=grace),
            on_stop=self.on_stop,
            tick=0.05,
            stop=stop,
            wall_clock=wall,
            clock_set_back=self.set_back,
        )
        return self.daemon


# ASYNC109: a polling helper: its deadline fails the test
async def until(check: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_polls_carry_their_feed_in_the_log_context_and_deliveries_do_not() -> None:
    async def scenario() -> int:
        work = Work([feed("wire"), feed("city")])
        daemon = work.make()
        running = asyncio.ensure_future(daemon.run())
        await until(lambda: len(work.polled) == 2 and work.deliveries)
        daemon.request_stop()
        code = await running
        assert sorted((fid, ctx["feed"]) for fid, ctx in work.polled) == [
            ("city", "city"),
            ("wire", "wire"),
        ]
        # Woken from inside a poll, yet the delivery task has a context of its own.
        assert all("feed" not in ctx for ctx in work.deliveries)
        return code

    assert asyncio.run(scenario()) == 0


def test_a_wake_while_delivering_runs_the_deliverer_once_more_not_once_per_wake() -> None:
    async def scenario() -> None:
        work = Work([])
        daemon = work.make()
        work.deliver_gate.clear()
        daemon.wake_delivery()
        await until(lambda: len(work.deliveries) == 1)
        for _ in range(5):
            daemon.wake_delivery()
        work.deliver_gate.set()
        await until(lambda: len(work.deliveries) == 2)
        await asyncio.sleep(0.1)
        assert len(work.deliveries) == 2

    asyncio.run(scenario())


def test_a_wake_as_a_delivery_run_ends_is_a_run_not_lost() -> None:
    # A wake between the run's end and the task set's done callback (a poll finishing then)
    # saw the task still counted, asked it to run "once more", and nobody read that.
    async def scenario() -> None:
        work = Work([])
        daemon = work.make()

        async def deliver_then_woken() -> None:
            await work.deliver()
            if len(work.deliveries) == 1:  # runs once this task has ended, before its callback
                asyncio.get_running_loop().call_soon(daemon.wake_delivery)

        daemon._deliver = deliver_then_woken
        daemon.wake_delivery()
        await until(lambda: len(work.deliveries) == 2, timeout=2)

    asyncio.run(scenario())


def test_stop_waits_for_a_poll_within_the_grace_period_and_claims_nothing_more() -> None:
    async def scenario() -> None:
        work = Work([feed("slow")], poll_s=0.5)
        daemon = work.make(grace=3.0)
        running = asyncio.ensure_future(daemon.run())
        await until(lambda: work.polled)
        work.due = [feed("late")]  # due now, but the daemon is stopping
        daemon.request_stop()
        assert await running == 0
        assert [fid for fid, _ in work.polled] == ["slow"]
        assert work.released == []  # it finished: nothing to give back
        assert work.stops == 1

    asyncio.run(scenario())


def test_past_the_grace_period_a_poll_is_cancelled_and_its_feed_released() -> None:
    async def scenario() -> None:
        work = Work([feed("stuck")], poll_s=30.0)
        daemon = work.make(grace=0.2)
        running = asyncio.ensure_future(daemon.run())
        await until(lambda: work.polled)
        started = time.monotonic()
        daemon.request_stop()
        assert await running == 0
        assert time.monotonic() - started < 1.5
        assert work.released == ["stuck"]

    asyncio.run(scenario())


def test_a_second_stop_cancels_at_once_and_exits_130() -> None:
    async def scenario() -> None:
        work = Work([feed("stuck")], poll_s=30.0)
        daemon = work.make(grace=60.0)
        running = asyncio.ensure_future(daemon.run())
        await until(lambda: work.polled)
        daemon.request_stop()
        await asyncio.sleep(0.1)
        started = time.monotonic()
        daemon.request_stop()
        assert await running == FORCED_EXIT
        assert time.monotonic() - started < 1.0
        assert work.released == ["stuck"]
        assert work.stops == 1  # the hook runs once, at the first signal

    asyncio.run(scenario())


def test_a_stop_asked_from_another_thread_is_a_graceful_stop() -> None:
    # `newsmon run`'s log reader gone: the write that finds out may be in any thread.
    async def scenario() -> int:
        work = Work([feed("wire")])
        latch = StopLatch()
        daemon = work.make(stop=latch)
        running = asyncio.ensure_future(daemon.run())
        await until(lambda: work.polled)
        asking = threading.Thread(target=latch.set)
        asking.start()
        asking.join(5)
        latch.set()  # asked twice: still one stop, not the forced one
        code = await asyncio.wait_for(running, 5)
        assert work.stops == 1
        return code

    assert asyncio.run(scenario()) == 0


def test_a_stop_asked_while_starting_claims_nothing() -> None:
    async def scenario() -> int:
        work = Work([feed("wire")])
        latch = StopLatch()
        latch.set()
        daemon = work.make(stop=latch)
        code = await asyncio.wait_for(daemon.run(), 5)
        assert work.polled == []
        assert work.stops == 1
        return code

    assert asyncio.run(scenario()) == 0


class ShiftedWall:
    """The machine's wall clock, which someone sets back: as APScheduler reads it (its modules'
    `datetime.now`) and as the daemon is told it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shift = timedelta(0)
        wall = self

        class Shifted(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + wall.shift

        for module in ("apscheduler.schedulers.base", "apscheduler.triggers.interval"):
            monkeypatch.setattr(f"{module}.datetime", Shifted)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


def test_the_ticks_go_on_when_the_wall_clock_is_set_back_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """APScheduler times the ticks by the wall clock: set back an hour, it polled and delivered
    nothing for that hour (a tick 0.05 s apart was due an hour later)."""
    wall = ShiftedWall(monkeypatch)

    async def scenario() -> None:
        work = Work([])
        daemon = work.make(wall=wall)
        running = asyncio.ensure_future(daemon.run())
        await until(lambda: len(work.deliveries) >= 3)
        wall.shift = -timedelta(hours=1)
        before = len(work.deliveries)
        await asyncio.sleep(2.0)
        after = len(work.deliveries) - before
        daemon.request_stop()
        assert await running == 0
        assert after >= 10  # a tick every 0.05 s: about 40; none without the fix
        [step] = work.steps  # told once, for the store's due times
        assert abs(step - timedelta(hours=1)) < timedelta(seconds=1)

    asyncio.run(scenario())


def test_a_commit_that_keeps_failing_backs_off_though_the_claims_answer() -> None:
    # A damaged page or a full disk: the claim answers and the poll's commit fails. The claim
    # reset the backoff, so the feed (given back, still due) was fetched again at every tick.
    from structlog.testing import capture_logs

    from monitor.errors import StoreError
    from monitor.process.outage import StoreBackoff

    class Failing(Work):
        async def claim(self, limit: int) -> list[FeedState]:
            return [feed("wire")]  # given back after the failed commit, and due

        async def poll(self, f: FeedState) -> None:
            self.polled.append((f.id, {}))
            if len(self.polled) <= 5:
                raise StoreError("database disk image is malformed")

    async def scenario() -> list[Any]:
        work = Failing([])
        daemon = work.make()
        daemon._poll_backoff = StoreBackoff("poll", first=0.1, cap=10.0)
        with capture_logs() as logs:
            running = asyncio.ensure_future(daemon.run())
            await asyncio.sleep(1.2)  # 0.1 + 0.2 + 0.4: the fourth try at about 0.7 s
            tries = len(work.polled)
            await until(lambda: len(work.polled) >= 7)  # the sixth commits: back to every tick
            daemon.request_stop()
            assert await running == 0
        assert tries <= 6, tries  # every tick (0.05 s) after each 0.1 s wait: over 10
        return logs

    logs = asyncio.run(scenario())
    down = [e["retry_in_s"] for e in logs if e["event"] == "store_unavailable"]
    assert down == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert [e["failures"] for e in logs if e["event"] == "store_available"] == [5]
