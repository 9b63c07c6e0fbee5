"""The one claim -> poll -> deliver cycle (monitor.process.cycle): what the daemon's claim and
cron's claim take from a real SQLite store, and the pure `backing_off`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.model import FeedState
from monitor.process.bootstrap import make_context, open_runtime
from monitor.process.cycle import CRON_CLAIM, Cycle, backing_off
from tests.daemon_support import write_rules
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
