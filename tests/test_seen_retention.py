"""An item that stays in its feed past `retention` keeps its seen key, so it never alerts twice.

Seen keys are pruned `retention` (90 days) after their time; an item still in its feed must not
come back as new. A poll that finds it restarts its key once the key is `retention`/4 old (one
write about every three weeks), and a key is pruned only after its feed parsed a document more
than `retention` after the key's time: a feed answering 304 keeps its keys. Real stores (SQLite,
and PostgreSQL with `source .ci/postgres.sh`), the real poller, a fake clock.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.feeds.fetch import FetchResult
from monitor.model import FeedState, Rule
from monitor.offload import run_inline
from monitor.pipeline.decide import PollPolicy, decide
from monitor.pipeline.poll import Poller
from monitor.pipeline.rules import CurrentRules
from monitor.query.ruleset import RuleSet
from monitor.store import sqlite as sqlite_store
from monitor.store.sqlite import SQLiteStore
from tests import test_pipeline
from tests.store_fixtures import T0, ok_update, seen, spec
from tests.test_pipeline import NOW

DAY = timedelta(days=1)
RETENTION = timedelta(days=90)
LEASE = timedelta(minutes=5)
URL = "https://news.example.com/rss"
RULES = RuleSet.from_rules([Rule(id="standing", name="Standing", query="advisory")])


# -- the store: what it reads, keeps and prunes ---------------------------------------------------
def poll_commit(store: Any, when: datetime, keys: Sequence[str] = (), **kw: Any) -> None:
    """One changed poll of f1 at `when` that records `keys` as new."""
    store.claim_due_feeds(when + DAY, 10, LEASE, "w")
    store.commit_poll("f1", "w", when, ok_update(when), [seen(k) for k in keys], [], **kw)


def test_seen_kept_names_the_stale_keys_and_commit_poll_restarts_them(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["old"])
    poll_commit(store, T0 + 30 * DAY, ["young"])
    now = T0 + 40 * DAY
    stale_before = now - RETENTION / 4
    assert store.seen_kept("f1", ["old", "young", "never"], stale_before) == {
        "old": T0,
        "young": None,
    }
    poll_commit(store, now, kept=["old"])
    assert store.seen_kept("f1", ["old", "young"], stale_before) == {"old": None, "young": None}
    later = now + 30 * DAY
    assert store.seen_kept("f1", ["old"], later - RETENTION / 4) == {"old": now}
    assert store.seen_keys("f1", ["old", "young"]) == {"old", "young"}


def test_a_kept_key_outlives_the_retention_and_a_dropped_one_does_not(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["stays", "goes"])
    poll_commit(store, T0 + 60 * DAY, kept=["stays"])  # "goes" has left the feed
    later = T0 + 91 * DAY
    poll_commit(store, later)
    assert store.prune(later, RETENTION) == 1
    assert store.seen_keys("f1", ["stays", "goes"]) == {"stays"}


def test_a_feed_answering_304_keeps_its_keys_until_a_changed_document_lacks_them(
    store: Any,
) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["k"])
    for day in range(1, 200):  # the same document throughout
        when = T0 + day * DAY
        store.claim_due_feeds(when, 10, LEASE, "w")
        assert store.commit_unchanged("w", [("f1", ok_update(when, status="not_modified"))])
        store.prune(when, RETENTION)
    assert store.seen_keys("f1", ["k"]) == {"k"}
    # A changed document without it: the key goes.
    poll_commit(store, T0 + 200 * DAY)
    assert store.prune(T0 + 200 * DAY, RETENTION) == 1
    assert store.seen_keys("f1", ["k"]) == set()


def test_a_key_waits_for_a_document_parsed_a_retention_after_its_time(store: Any) -> None:
    """A poll restarts a key only once it is retention/4 old: a document parsed sooner may
    carry the item with its key unrestarted, so it does not count against the key."""
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["k"])
    poll_commit(store, T0 + 80 * DAY)
    assert store.prune(T0 + 95 * DAY, RETENTION) == 0
    poll_commit(store, T0 + 95 * DAY)
    assert store.prune(T0 + 95 * DAY, RETENTION) == 1


def test_the_keys_of_an_inactive_feed_are_pruned_by_age(store: Any) -> None:
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    poll_commit(store, T0, ["k"])
    store.sync_feeds([spec("f2")], T0 + DAY)  # f1 is no longer configured
    assert store.prune(T0 + 89 * DAY, RETENTION) == 0
    assert store.prune(T0 + 91 * DAY, RETENTION) == 1


# -- the decision: which stale keys a poll restarts ----------------------------------------------
@pytest.mark.parametrize(
    ("published", "stale_since", "kept"),
    [
        (None, NOW - 30 * DAY, True),  # undated: the guard can never skip it
        (NOW + 60 * DAY, NOW - 30 * DAY, True),  # dated in the future
        (NOW - 20 * DAY, NOW - 30 * DAY, True),  # first seen before its date
        (NOW - 30 * DAY, NOW - 30 * DAY, False),  # dated when first seen: the guard covers it
        (NOW - 40 * DAY, NOW - 30 * DAY, False),
        (NOW - 91 * DAY, NOW - 95 * DAY, False),  # too old already: skipped before the lookup
        (None, None, False),  # not stale: restarted less than retention/4 ago
    ],
)
def test_a_poll_restarts_a_stale_key_only_where_the_guard_would_not_skip_its_item(
    published: datetime | None, stale_since: datetime | None, kept: bool
) -> None:
    item = test_pipeline.item("k", "Weather", published=published)
    stale = {"k": stale_since} if stale_since is not None else None
    plan = decide(test_pipeline.feed(), test_pipeline.OK, [item, item], None, "Wire", {"k"},
                  set(), test_pipeline.matcher, test_pipeline.ROUTES, NOW, random.Random(1),
                  PollPolicy(retention=RETENTION), stale=stale)  # fmt: skip
    assert plan.kept == (["k"] if kept else [])  # once, though the feed lists it twice
    assert (plan.seen, plan.alerts) == ([], [])


# -- the poller over 200 days ---------------------------------------------------------------------
class Counting:
    """The store, with the keys each commit restarted counted (the refresh writes)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.kept: list[tuple[datetime, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit_poll(self, *args: Any, **kw: Any) -> int:
        self.kept.extend((args[2], key) for key in kw.get("kept", ()))
        result: int = self.store.commit_poll(*args, **kw)
        return result


def rss(items: Sequence[tuple[str, str, datetime | None]]) -> bytes:
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example.com/{guid}</link>"
        + (f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>" if when else "")
        + "</item>"
        for guid, title, when in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Wire</title>"
        f"<link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()


class Feed:
    """The feed's document by day: five new dated items a day (the last twenty shown, matching
    no rule), and from day 1 on the standing items (matching). `changes`: whether a day's
    document differs from the day before (else the server answers 304)."""

    def __init__(self, clock: FakeClock, standing: Sequence[tuple[str, str, datetime | None]]):
        self.clock = clock
        self.standing = list(standing)
        self.changes = True
        self.sent: bytes | None = None

    def day(self) -> int:
        return (self.clock.now() - T0) // DAY

    def document(self) -> bytes:
        d = self.day()
        rotating: list[tuple[str, str, datetime | None]] = [
            (f"r{n}", f"Market report {n}", T0 + n // 5 * DAY) for n in range(5 * d + 5)
        ]
        return rss((self.standing if d >= 1 else []) + rotating[-20:][::-1])

    async def __call__(self, feed: FeedState) -> FetchResult:
        if self.sent is not None and not self.changes:
            return FetchResult(status=304, body=None, url=URL, etag=feed.etag)
        self.sent = self.document()
        return FetchResult(status=200, body=self.sent, url=URL, etag=f'"{self.day()}"')


def run_days(store: Any, feed: Feed, clock: FakeClock, days: range) -> tuple[int, Counting]:
    """Poll the feed once a day on `days`, delivering its alerts and pruning as the daemon does;
    returns how many alerts were enqueued, and the store that counted the restarted keys."""
    counting = Counting(store)
    poller = Poller(store=counting, fetcher=feed, rules=CurrentRules(RULES, ["hook"]),
                    clock=clock, owner="w", poll_policy=PollPolicy(retention=RETENTION),
                    cpu=run_inline, io=run_inline, archive=False)  # fmt: skip
    assert poller.unchanged is not None
    poller.unchanged.linger = 0.0  # a 304's feed row is written at once, not after 50 ms
    enqueued = 0

    async def go() -> None:
        nonlocal enqueued
        for day in days:
            clock.set(T0 + day * DAY)
            (state,) = store.claim_due_feeds(clock.now(), 10, LEASE, "w")
            report = await poller.poll(state)
            assert report.status in ("ok", "not_modified"), report
            enqueued += report.alerts_enqueued
            # Delivered alerts are pruned after the retention too: the outbox's own unique key
            # does not hide a second alert then.
            for alert in store.claim_due_alerts(clock.now(), 10, LEASE, "d"):
                assert store.mark_delivered(alert.id, "d", clock.now())
            store.prune(clock.now(), RETENTION)

    asyncio.run(go())
    return enqueued, counting


UNDATED = ("about", "About us: a standing advisory", None)


def test_an_undated_item_in_200_days_of_changed_polls_alerts_once(store: Any) -> None:
    clock = FakeClock(T0)
    store.sync_feeds([spec("f1", url=URL)], T0)
    future = ("notice", "Advisory in force until next year", T0 + 300 * DAY)
    dated = ("dated", "Advisory of day one", T0 + DAY)
    feed = Feed(clock, [UNDATED, future, dated])
    enqueued, counting = run_days(store, feed, clock, range(201))

    assert enqueued == 3  # each standing item once, on day 1
    keys = {guid: key_of(guid) for guid in ("about", "notice", "dated")}
    # Each of the undated and the future-dated item's keys was restarted once every 22.5 days
    # (a quarter of the retention), on days 24, 47, ..., 185: 8 writes each over 200 days.
    # The dated item never costs a write (the "too old" guard covers it after the retention),
    # nor do the rotating items (dated, and gone from the feed within four days).
    restarts = sorted((when - T0) // DAY for when, key in counting.kept if key == keys["about"])
    assert restarts == [24, 47, 70, 93, 116, 139, 162, 185]
    assert sorted(key for _, key in counting.kept) == sorted([keys["about"], keys["notice"]] * 8)
    # The dated item's key went as today's keys go, and the rotating keys did too: only the
    # last 91 days of them are held.
    assert store.seen_keys("f1", list(keys.values())) == {keys["about"], keys["notice"]}
    rotating = [key_of(f"r{n}") for n in range(5 * 201)]
    held = store.seen_keys("f1", rotating)
    assert held == {key_of(f"r{n}") for n in range(5 * 110, 5 * 201)}


def test_an_undated_item_behind_200_days_of_304s_alerts_once(store: Any) -> None:
    clock = FakeClock(T0)
    store.sync_feeds([spec("f1", url=URL)], T0)
    feed = Feed(clock, [UNDATED])
    enqueued, _ = run_days(store, feed, clock, range(2))  # the baseline, then the new item
    assert enqueued == 1
    feed.changes = False  # the same document for 200 days: its keys stay
    enqueued, counting = run_days(store, feed, clock, range(2, 200))
    assert (enqueued, counting.kept) == (0, [])  # a 304 writes no seen key
    feed.changes = True  # a new document still carrying the item: it is not new
    enqueued, counting = run_days(store, feed, clock, range(200, 202))
    assert enqueued == 0
    assert [((when - T0) // DAY, key) for when, key in counting.kept] == [(200, key_of("about"))]


def key_of(guid: str) -> str:
    """The item key the parser gives this GUID."""
    from monitor.feeds.parse import parse_feed

    (item,) = parse_feed(rss([(guid, "t", None)]), feed_id="f1", feed_url=URL).items
    return item.key


# -- SQLite's prune in batches: each key read once --------------------------------------------
def sqlite_keys(tmp_path: Path, name: str, batches: Sequence[tuple[str, int]]) -> SQLiteStore:
    """Feed "quiet" (parsed at T0 only: its keys stay) and feed "busy" (parsed again 100 days
    on: its keys go), their keys committed in polls of (feed, how many keys), an hour apart."""
    store = SQLiteStore(tmp_path / name)
    store.migrate()
    store.sync_feeds([spec("quiet"), spec("busy")], T0)
    for hour, (feed, n) in enumerate(batches):
        when = T0 + timedelta(hours=hour)
        store.claim_due_feeds(when + DAY, 10, LEASE, "w")
        keys = [seen(f"{feed}-{hour}-{i}") for i in range(n)]  # one seen_at for the poll's keys
        store.commit_poll(feed, "w", when, ok_update(when), keys, [])
    store.claim_due_feeds(T0 + 100 * DAY, 10, LEASE, "w")
    store.commit_poll("busy", "w", T0 + 100 * DAY, ok_update(T0 + 100 * DAY), [], [])
    return store


def test_sqlite_prunes_across_batches_that_split_one_polls_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "PRUNE_BATCH", 4)  # pages end inside a poll's 3 keys
    polls = [("quiet" if h % 3 == 1 else "busy", 3) for h in range(12)]
    store = sqlite_keys(tmp_path, "n.db", polls)
    write, changes = store._write, []

    @contextmanager
    def counted() -> Iterator[sqlite3.Connection]:
        with write() as c:
            before = c.total_changes
            yield c
            changes.append(c.total_changes - before)

    monkeypatch.setattr(store, "_write", counted)
    assert store.prune(T0 + 100 * DAY, RETENTION) == 24
    assert max(changes) <= 4  # the write lock is held for a batch at a time
    for hour, (feed, _) in enumerate(polls):
        keys = [f"{feed}-{hour}-{i}" for i in range(3)]
        assert store.seen_keys(feed, keys) == (set(keys) if feed == "quiet" else set())
    store.close()


def test_sqlite_prune_reads_the_keys_it_keeps_once_not_once_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 kept keys older than 200 prunable ones, in batches of 10: a prune that reads the
    kept keys again for each of its 20 batches does about ten times the work of both alone."""
    monkeypatch.setattr(sqlite_store, "PRUNE_BATCH", 10)

    def steps(name: str, polls: Sequence[tuple[str, int]]) -> int:
        store = sqlite_keys(tmp_path, name, polls)
        count = [0]

        def tick() -> int:
            count[0] += 1
            return 0

        store._conn.set_progress_handler(tick, 10)
        store.prune(T0 + 100 * DAY, RETENTION)
        store._conn.set_progress_handler(None, 0)
        store.close()
        return count[0]

    both = steps("both.db", [("quiet", 100), ("quiet", 100), ("busy", 100), ("busy", 100)])
    kept = steps("kept.db", [("quiet", 100), ("quiet", 100)])
    pruned = steps("pruned.db", [("busy", 100), ("busy", 100)])
    assert both < 1.5 * (kept + pruned), (both, kept, pruned)
