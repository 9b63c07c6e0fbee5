"""The one claim -> poll -> deliver cycle (monitor.process.cycle): what the daemon's claim and
cron's claim take from a real SQLite store, the pure `backing_off`, and what a poll or a delivery
run that a StoreError ended gives back at once (a real store, a real receiver on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs

from monitor.clock import FakeClock
from monitor.config import Config, load_config
from monitor.delivery.deliverer import Deliverer, DeliveryStats
from monitor.errors import StoreError
from monitor.model import FeedState
from monitor.pipeline.poll import Poller, PollReport
from monitor.process.bootstrap import Runtime, make_context, open_runtime
from monitor.process.cycle import CRON_CLAIM, Cycle, backing_off
from tests.daemon_support import write_rules
from tests.delivery_support import alert_row, enqueue
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver
from tests.store_fixtures import T0, ok_update

HOUR = timedelta(hours=1)
LEASE = timedelta(minutes=5)


def state(error_count: int, next_in: timedelta | None) -> FeedState:
    return FeedState(
        id="f",
        url="https://example.org/f.xml",
        name="f",
        tags=(),
        interval_s=300.0,
        backfill_s=0.0,
        error_count=error_count,
        next_poll_at=T0 + next_in if next_in is not None else None,
    )


@pytest.mark.parametrize(
    ("error_count", "next_in", "expected"),
    [
        (0, None, False),  # never polled
        (0, HOUR, False),  # fine, not due yet: cron polls it anyway
        (2, HOUR, True),  # failing, its backoff still running: cron leaves it
        (2, -HOUR, False),  # failing, its backoff over
        (2, timedelta(0), False),  # due this very moment
        (1, None, False),
    ],
)
def test_backing_off(error_count: int, next_in: timedelta | None, expected: bool) -> None:
    assert backing_off(state(error_count, next_in), T0) is expected


def test_the_daemon_claims_due_feeds_a_batch_at_a_time_cron_every_feed_but_the_failing(
    tmp_path: Path,
) -> None:
    rules = write_rules(tmp_path / "rules", {"quake": ("earthquake", [])})
    path = tmp_path / "newsmon.yaml"
    path.write_text(
        f"database_url: {tmp_path / 'state.db'}\nrules: {rules}\nparse_workers: 0\n"
        "poll_batch: 1\nfeed_lease: 3h\nfeeds:\n"
        + "".join(f"  - {{id: f{i}, url: 'https://example.org/f{i}.xml'}}\n" for i in range(1, 5))
    )
    config = load_config(path, env={})

    async def run() -> None:
        async with open_runtime(make_context(config, FakeClock(T0)), inline=True) as rt:
            store = rt.store
            # f3 failed and backs off for an hour; f4 polled fine and is due in an hour.
            store.claim_due_feeds(T0, 10, LEASE, "setup")
            failed = ok_update(T0, 3600, status="error", error="HTTP 503", error_count=1)
            store.commit_poll("f3", "setup", T0, failed, [], [])
            store.commit_poll("f4", "setup", T0, ok_update(T0, 3600), [], [])
            for feed_id in ("f1", "f2"):
                store.release_feed(feed_id, "setup")

            daemon = Cycle(rt)
            claimed = await daemon.claim(10)
            assert len(claimed) == 1  # poll_batch
            assert claimed[0].id in {"f1", "f2"}
            await daemon.release(claimed[0].id)

            cron = Cycle(rt, every_feed=True)
            assert sorted(f.id for f in await cron.claim(CRON_CLAIM)) == ["f1", "f2", "f4"]
            # Within cron's 3 h leases, only the failing feed is free again: released at once.
            later = store.claim_due_feeds(T0 + 2 * HOUR, 10, LEASE, "other")
            assert [f.id for f in later] == ["f3"]

    asyncio.run(run())


# -- after a StoreError: what this process still holds is given back at once --------------------
HOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class FailingOnce:
    """The poller or deliverer of a real runtime whose first call ends in a StoreError, as when
    the database goes away between the claim and the commit; later calls are the real ones."""

    def __init__(self, real: Poller, rt: Runtime) -> None:
        self.real = real
        self.rt = rt
        self.failed = False

    async def poll(self, feed: FeedState) -> PollReport:
        if not self.failed:
            self.failed = True
            raise StoreError("the database went away before the commit")
        return await self.real.poll(feed)


class DeliveryFailingOnce:
    """A delivery run that claims what is due through the runtime's leases, then loses the
    store before settling any of it; later runs are the real deliverer's."""

    def __init__(self, real: Deliverer, rt: Runtime) -> None:
        self.real = real
        self.rt = rt
        self.failed = False

    async def run_once(self) -> DeliveryStats:
        if not self.failed:
            self.failed = True
            rt = self.rt
            rows = rt.leases.claim_due_alerts(
                rt.ctx.clock.now(), 10, rt.config.delivery_lease, rt.ctx.owner, ["hook"]
            )
            assert rows, "the run must have claimed alerts before the store went away"
            raise StoreError("the database went away before the delivery was recorded")
        return await self.real.run_once()


def cycle_config(tmp_path: Path, receiver_url: str) -> Config:
    rules = write_rules(tmp_path / "rules", {"quake": ("earthquake", [])})
    path = tmp_path / "newsmon.yaml"
    path.write_text(
        f"database_url: {tmp_path / 'state.db'}\nrules: {rules}\nparse_workers: 0\n"
        'allow_networks: ["127.0.0.1/32"]\n'
        "feeds:\n  - {id: f1, url: 'https://example.org/f1.xml'}\n"
        f"destinations:\n  - {{name: hook, type: webhook, url: '{receiver_url}', "
        "secret_env: HOOK_SECRET}\n"
    )
    return load_config(path, env={"HOOK_SECRET": HOOK_SECRET})


def test_a_feed_whose_poll_lost_the_store_is_claimed_again_at_once_not_after_its_lease(
    tmp_path: Path,
) -> None:
    config = cycle_config(tmp_path, "http://127.0.0.1:9/hook")

    async def run() -> None:
        async with open_runtime(make_context(config, FakeClock(T0)), inline=True) as rt:
            failing = FailingOnce(rt.poller, rt)
            cycle = Cycle(dataclasses.replace(rt, poller=cast("Poller", failing)))
            [feed] = await cycle.claim(10)
            with pytest.raises(StoreError):
                await cycle.poll(feed)
            # Same instant, well within the lease: the feed is ours to give back, and due.
            assert [f.id for f in await cycle.claim(10)] == ["f1"]
            # Another process still cannot take it while this one holds it again.
            assert rt.store.claim_due_feeds(T0, 10, LEASE, "other") == []

    with capture_logs() as logs:
        asyncio.run(run())
    released = [e for e in logs if e["event"] == "feed_released_after_store_error"]
    assert [e["feed"] for e in released] == ["f1"]


def test_alerts_a_failed_delivery_run_had_claimed_go_out_on_the_next_run_not_after_the_lease(
    tmp_path: Path,
) -> None:
    with Receiver() as rx:
        config = cycle_config(tmp_path, rx.url)

        async def run() -> DeliveryStats:
            async with open_runtime(make_context(config, FakeClock(T0)), inline=True) as rt:
                ids = enqueue(rt.store, T0, "hook", ["s1", "s2"])
                failing = DeliveryFailingOnce(rt.deliverer, rt)
                cycle = Cycle(dataclasses.replace(rt, deliverer=cast("Deliverer", failing)))
                with pytest.raises(StoreError):
                    await cycle.deliver()
                assert rt.leases.held == 2
                # Same instant: without giving the leases back, nothing would be due for 2 min.
                stats = await cycle.deliver()
                assert rt.leases.held == 0
                assert {alert_row(rt.store, i).status for i in ids} == {"delivered"}
                return stats

        stats = asyncio.run(run())
    assert stats.delivered == 2
    assert len(rx.requests) == 2


def test_a_one_shot_run_keeps_a_small_sqlite_page_cache_and_the_daemon_sqlites_default(
    tmp_path: Path,
) -> None:
    # The cache was ≈1.7 MB of a cold cron round's peak memory (docs/performance.md).
    from monitor.process.bootstrap import ONE_SHOT_PAGE_CACHE_KIB
    from monitor.store.sqlite import SQLiteStore

    rules = write_rules(tmp_path / "rules", {"quake": ("earthquake", [])})
    path = tmp_path / "newsmon.yaml"
    path.write_text(
        f"database_url: {tmp_path / 'state.db'}\nrules: {rules}\nparse_workers: 0\n"
        "feeds:\n  - {id: f1, url: 'https://example.org/f1.xml'}\n"
    )
    config = load_config(path, env={})

    async def cache_size(inline: bool) -> int:
        async with open_runtime(make_context(config, FakeClock(T0)), inline=inline) as rt:
            assert isinstance(rt.store, SQLiteStore)
            return int(rt.store._read("PRAGMA cache_size")[0][0])

    assert asyncio.run(cache_size(True)) == -ONE_SHOT_PAGE_CACHE_KIB == -512
    assert asyncio.run(cache_size(False)) == -2000  # SQLite's own default, in KiB


# -- a bug in one feed's poll ---------------------------------------------------------------------


class CrashingOn:
    """A real runtime's poller whose poll of one feed raises what no poll should (a bug)."""

    def __init__(self, real: Poller, feed_id: str) -> None:
        self.real = real
        self.feed_id = feed_id

    async def poll(self, feed: FeedState) -> PollReport:
        if feed.id == self.feed_id:
            raise RuntimeError("a bug in one feed's poll")
        return await self.real.poll(feed)


def test_a_bug_in_one_feeds_poll_fails_that_feed_and_cron_goes_on(tmp_path: Path) -> None:
    with feed_server() as srv, Receiver() as rx:
        srv.put("/ok.xml", rss([("q1", "Earthquake hits the coast", "A strong earthquake.")]))
        rules = write_rules(tmp_path / "rules", {"quake": ("earthquake", [])})
        path = tmp_path / "newsmon.yaml"
        path.write_text(
            f"database_url: {tmp_path / 'state.db'}\nrules: {rules}\nparse_workers: 0\n"
            'allow_networks: ["127.0.0.1/32"]\nfeeds:\n'
            f"  - {{id: bad, url: '{srv.url('/bad.xml')}'}}\n"
            f"  - {{id: ok, url: '{srv.url('/ok.xml')}', backfill: 1d}}\n"
            f"destinations:\n  - {{name: hook, type: webhook, url: '{rx.url}', "
            "secret_env: HOOK_SECRET}\n"
        )
        config = load_config(path, env={"HOOK_SECRET": HOOK_SECRET})

        async def run() -> list[str]:
            async with open_runtime(make_context(config), inline=True) as rt:
                crashing = CrashingOn(rt.poller, "bad")
                cycle = Cycle(dataclasses.replace(rt, poller=cast("Poller", crashing)))
                outcome = await cycle.run_once()
                assert [f for f, _ in outcome.failures] == ["bad"]
                assert "unexpected error" in outcome.failures[0][1]
                assert "a bug in one feed's poll" in outcome.failures[0][1]
                assert outcome.delivered == 1  # the other feed's alert went out in this run
                # The crashed feed's lease was given back: another process may poll it now.
                now = rt.ctx.clock.now()
                return [f.id for f in rt.store.claim_due_feeds(now, 10, LEASE, "other")]

        with capture_logs() as logs:
            claimable = asyncio.run(run())
    assert "bad" in claimable
    crashed = [e for e in logs if e["event"] == "poll_crashed"]
    assert [e["feed"] for e in crashed] == ["bad"]
    assert len(rx.requests) == 1
