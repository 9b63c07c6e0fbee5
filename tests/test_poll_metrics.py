"""What a poll adds to /metrics, against a real SQLite store: the alerts its commit enqueued.

A poll counts its alerts per destination after its commit; when another feed's poll commits the
same story between this poll's lookup and its commit, settling leaves this poll's alert for it
out, and only what was inserted is counted. (Two feeds releasing one story at the same moment
under `newsmon run`: 31 alerts counted, 28 in the store and at the receiver, in 60 s.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import Any

from monitor.clock import FakeClock
from monitor.feeds.fetch import FetchResult
from monitor.metrics import Metrics
from monitor.model import FeedState, Rule
from monitor.pipeline.poll import Poller, poll_contained
from monitor.pipeline.rules import CurrentRules
from monitor.query.ruleset import RuleSet
from monitor.store import open_store
from tests.store_fixtures import spec

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = RuleSet.from_rules([Rule(id="troops", name="Troops", query="troop*")])

SHARED = "Troops cross the northern border at dawn"
LEASE = timedelta(minutes=2)


def rss(items: Sequence[tuple[str, str]]) -> bytes:
    published = format_datetime(NOW, usegmt=True)
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{head}</title>"
        f"<link>https://news.example.com/{guid}</link><pubDate>{published}</pubDate></item>"
        for guid, head in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Wire</title>"
        f"<link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()


def counted_poller(
    store: Any,
    fetch: Callable[[FeedState], Awaitable[FetchResult]],
    clock: FakeClock,
    metrics: Metrics,
    **kw: Any,
) -> Poller:
    """A poller of feeds for the rule `troops` to `hook`, counting into `metrics`."""
    return Poller(
        store=store,
        fetcher=fetch,
        rules=CurrentRules(RULES, ["hook"]),
        clock=clock,
        owner="me",
        archive=False,
        metrics=metrics,
        **kw,
    )


def test_alerts_left_out_at_the_commit_are_not_counted_as_enqueued(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    try:
        store.sync_feeds([spec("a"), spec("b")], NOW)
        clock = FakeClock(NOW)
        bodies = {
            "a": [rss([]), rss([("a1", SHARED), ("a2", "Troops parade in the capital today")])],
            "b": [rss([]), rss([("b1", SHARED)])],
        }

        async def fetch(feed: FeedState) -> FetchResult:
            return FetchResult(status=200, body=bodies[feed.id].pop(0), url=feed.url)

        metrics = Metrics()
        before_commit: dict[str, Callable[[], Any]] = {}

        async def io(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            if fn == store.commit_poll and args[0] in before_commit:
                await before_commit.pop(args[0])()  # another feed's poll commits first
            return fn(*args, **kwargs)

        poller = counted_poller(store, fetch, clock, metrics, io=io)

        async def rounds() -> None:
            for _ in range(2):  # the first poll of each feed is its silent baseline
                feeds = {f.id: f for f in store.claim_due_feeds(clock.now(), 10, LEASE, "me")}
                assert sorted(feeds) == ["a", "b"]
                # b's poll of the same story runs whole between a's lookup and a's commit.
                before_commit["a"] = partial(poller.poll, feeds["b"])
                await poller.poll(feeds["a"])
                clock.advance(3600)

        asyncio.run(rounds())
        stored = store.list_alerts(status=None, limit=100)
        assert len(stored) == 2  # the story once (b's), a's other item
        assert metrics.registry.get_sample_value(
            "newsmon_alerts_enqueued_total", {"destination": "hook"}
        ) == len(stored)
    finally:
        store.close()


def test_a_poll_that_crashes_on_a_bug_is_counted_as_crash(tmp_path: Path) -> None:
    # It was counted nowhere: only `poll_crashed` in the log said a feed's polls were failing.
    store = open_store(str(tmp_path / "state.db"))
    try:
        store.sync_feeds([spec("a")], NOW)
        clock = FakeClock(NOW)

        async def fetch(feed: FeedState) -> FetchResult:
            clock.advance(2)
            raise RuntimeError("a bug")

        metrics = Metrics()
        poller = counted_poller(store, fetch, clock, metrics)
        [feed] = store.claim_due_feeds(clock.now(), 10, LEASE, "me")
        report = asyncio.run(poll_contained(poller.poll, feed))
        assert report.error_kind == "crash"
        sample = metrics.registry.get_sample_value
        assert sample("newsmon_polls_total", {"status": "crash"}) == 1
        assert sample("newsmon_fetch_seconds_count", {}) == 0  # no fetch time to tell
    finally:
        store.close()
