"""The poller through its seams: a fake fetcher, an in-memory `SeenItems` and a fake clock.

These test the poller's own choices (what it reads from the store, what it commits, when it
parses); the real stores are tested with the poller end to end elsewhere (test_e2e_*,
test_story_race). The fake implements only the narrow role the poller takes, in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import structlog.testing

from monitor.clock import FakeClock
from monitor.dedup.fingerprint import fingerprint
from monitor.dedup.resolve import band_keys
from monitor.errors import FeedError
from monitor.feeds.fetch import FetchResult
from monitor.feeds.parse import parse_feed
from monitor.metrics import Metrics
from monitor.model import (
    ArchivedItem,
    FeedState,
    FeedUpdate,
    NewAlert,
    Rule,
    SeenItem,
    StoryRecord,
    StorySource,
)
from monitor.offload import Offload, run_inline
from monitor.pipeline.decide import PollPolicy
from monitor.pipeline.poll import Poller, PollReport
from monitor.pipeline.rules import CurrentRules
from monitor.query.ruleset import RuleSet
from monitor.store.roles import SeenItems

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = RuleSet.from_rules([Rule(id="troops", name="Troops", query="troop*")])


def rss(items: Sequence[tuple[str, str]], title: str = "The Wire") -> bytes:
    published = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{head}</title>"
        f"<link>https://news.example.com/{guid}</link><pubDate>{published}</pubDate></item>"
        for guid, head in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>https://news.example.com/</link>{entries}</channel></rss>"
    ).encode()


DOC = rss(
    [
        ("old", "Troops stay in barracks"),  # seen before
        ("new", "Troops cross the northern border at dawn"),  # new, matches
        ("calm", "Weather: rain all week"),  # new, matches nothing
    ]
)


ITEMS = parse_feed(DOC, feed_id="wire", feed_url="https://news.example.com/rss").items
KEY = {i.link.rsplit("/", 1)[1]: i.key for i in ITEMS if i.link}  # guid -> item key
NAME = {key: guid for guid, key in KEY.items()}


def names(keys: Iterable[str]) -> list[str]:
    return sorted(NAME[k] for k in keys)


WIRE = FeedState(
    id="wire",
    url="https://news.example.com/rss",
    name="Wire",
    tags=("world",),
    interval_s=300.0,
    backfill_s=0.0,
    etag='"v0"',
    body_hash="before",
    baseline_done=True,
)


def wire(**changes: Any) -> FeedState:
    return replace(WIRE, **changes)


@dataclass
class Commit:
    feed_id: str
    owner: str
    now: datetime
    update: FeedUpdate
    seen: list[SeenItem]
    alerts: list[NewAlert]


@dataclass
class FakeSeen:
    """`SeenItems` in memory: the feed's seen keys and hashes, stories it knows; every call
    recorded by name."""

    seen: dict[str, str] = field(default_factory=dict)  # item key -> content hash
    every_story_known: bool = False
    calls: list[str] = field(default_factory=list)
    bands_asked: list[list[str]] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)

    def seen_keys(self, feed_id: str, keys: Sequence[str]) -> set[str]:
        self.calls.append("seen_keys")
        return {k for k in keys if k in self.seen}

    def seen_kept(
        self, feed_id: str, keys: Sequence[str], stale_before: datetime
    ) -> dict[str, datetime | None]:
        self.calls.append("seen_kept")
        return dict.fromkeys((k for k in keys if k in self.seen), None)

    def seen_hashes(self, feed_id: str, keys: Sequence[str]) -> dict[str, str]:
        self.calls.append("seen_hashes")
        return {k: self.seen[k] for k in keys if k in self.seen}

    def known_stories(self, story_keys: Sequence[str], since: datetime) -> set[str]:
        self.calls.append("known_stories")
        return set(story_keys) if self.every_story_known else set()

    def story_candidates(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        self.calls.append("story_candidates")
        self.bands_asked.append(list(bands))
        return []

    def commit_poll(
        self,
        feed_id: str,
        owner: str,
        now: datetime,
        update: FeedUpdate,
        seen: Sequence[SeenItem],
        alerts: Sequence[NewAlert],
        sources: Sequence[StorySource] = (),
        *,
        stories_since: datetime | None = None,
        archive: Sequence[ArchivedItem] = (),
        kept: Sequence[str] = (),
        enqueued_to: dict[str, int] | None = None,
    ) -> int:
        self.calls.append("commit_poll")
        self.commits.append(Commit(feed_id, owner, now, update, list(seen), list(alerts)))
        self.seen.update({s.key: s.title_hash for s in seen})
        if enqueued_to is not None:
            for a in alerts:
                enqueued_to[a.destination] = enqueued_to.get(a.destination, 0) + 1
        return len(alerts)

    def commit_unchanged(self, owner: str, polls: Sequence[tuple[str, FeedUpdate]]) -> list[str]:
        self.calls.append("commit_unchanged")
        self.commits.extend(Commit(f, owner, u.fetched_at, u, [], []) for f, u in polls)
        return [f for f, _ in polls]


class Fetcher:
    """Answers each fetch with the next of `answers` (a FetchResult or a FeedError to raise);
    each fetch takes `takes` seconds of the fake clock."""

    def __init__(self, clock: FakeClock, *answers: FetchResult | FeedError, takes: float = 2.0):
        self.clock, self.answers, self.takes = clock, list(answers), takes
        self.asked: list[tuple[str, str | None]] = []

    async def __call__(self, feed: FeedState) -> FetchResult:
        self.asked.append((feed.url, feed.etag))
        self.clock.advance(self.takes)
        answer = self.answers.pop(0)
        if isinstance(answer, FeedError):
            raise answer
        return answer


def ok(body: bytes = DOC) -> FetchResult:
    return FetchResult(status=200, body=body, url="https://news.example.com/rss", etag='"v1"')


def poll(
    store: SeenItems | None,
    feed: FeedState,
    *answers: FetchResult | FeedError,
    policy: PollPolicy = PollPolicy(),  # noqa: B008 - frozen
    rules: RuleSet | None = RULES,
    keep_items: bool = False,
) -> tuple[PollReport, FakeClock, Fetcher]:
    clock = FakeClock(NOW)
    fetcher = Fetcher(clock, *answers)
    poller = Poller(
        store=store,
        fetcher=fetcher,
        rules=CurrentRules(rules, ["hook"]) if rules is not None else None,
        clock=clock,
        owner="me",
        poll_policy=policy,
        cpu=run_inline,
        io=run_inline,
        archive=False,
        keep_items=keep_items,
    )
    return asyncio.run(poller.poll(feed)), clock, fetcher


def test_a_new_matching_item_is_looked_up_alone_and_alerts_once() -> None:
    store = FakeSeen(seen={KEY["old"]: "x"})
    report, clock, fetcher = poll(store, wire(), ok())
    assert fetcher.asked == [("https://news.example.com/rss", '"v0"')]
    assert store.calls == ["seen_kept", "story_candidates", "known_stories", "commit_poll"]
    # Only the matching new item needs a story: the index is asked for its bands alone.
    new = next(i for i in ITEMS if i.key == KEY["new"])
    assert store.bands_asked == [band_keys([fingerprint(new)])]
    (commit,) = store.commits
    assert (commit.feed_id, commit.owner, commit.now) == ("wire", "me", clock.now())
    assert names(s.key for s in commit.seen) == ["calm", "new"]
    assert [(a.destination, a.item_key) for a in commit.alerts] == [("hook", KEY["new"])]
    assert commit.update.status == "ok"
    assert commit.update.etag == '"v1"'
    assert commit.update.fetched_at == NOW + timedelta(seconds=2)  # after the fetch, by the clock
    assert (report.status, report.new_items, report.parsed_items) == ("ok", 2, 3)
    assert report.alerts_enqueued == 1
    assert report.seconds == 2.0
    assert names(i.key for i, _ in report.matched) == ["new"]
    assert report.items == ()  # nobody asked to keep the items


def test_the_fetch_histogram_times_the_fetch_not_the_parsing() -> None:
    """newsmon_fetch_seconds: a fetch of 2 s whose document then takes 7 s to parse and match is
    a 2 s fetch (it was 9 s: a CPU-bound poll read as a slow server)."""
    clock = FakeClock(NOW)

    async def slow_cpu(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        clock.advance(7.0)
        return await run_inline(fn, *args, **kwargs)

    cpu: Offload = slow_cpu
    for answer in (ok(), FeedError("timeout", "no complete answer within 2 s")):
        metrics = Metrics()
        poller = Poller(
            store=FakeSeen(),
            fetcher=Fetcher(clock, answer),
            rules=CurrentRules(RULES, ["hook"]),
            clock=clock,
            owner="me",
            cpu=cpu,
            io=run_inline,
            archive=False,
            metrics=metrics,
        )
        asyncio.run(poller.poll(wire()))
        sample = metrics.registry.get_sample_value
        assert sample("newsmon_fetch_seconds_sum") == 2.0
        assert sample("newsmon_fetch_seconds_bucket", {"le": "2.5"}) == 1.0


def test_a_new_feed_baseline_asks_the_story_index_nothing_and_alerts_nothing() -> None:
    store = FakeSeen()
    report, _, _ = poll(store, wire(baseline_done=False, etag=None, body_hash=None), ok())
    assert store.calls == ["seen_kept", "known_stories", "commit_poll"]
    (commit,) = store.commits
    assert names(s.key for s in commit.seen) == ["calm", "new", "old"]
    assert commit.alerts == []
    assert commit.update.baseline_done is True
    assert dict(report.skipped) == {"baseline": 3}


def test_a_story_the_store_knows_does_not_alert_again() -> None:
    store = FakeSeen(seen={KEY["old"]: "x"}, every_story_known=True)
    report, _, _ = poll(store, wire(), ok())
    assert store.commits[0].alerts == []
    assert dict(report.skipped) == {"seen": 1, "repeated_story": 1}


@pytest.mark.parametrize("alert_on_edit", [False, True])
def test_stored_hashes_are_read_only_when_an_edit_can_alert(alert_on_edit: bool) -> None:
    store = FakeSeen(seen={KEY["old"]: "x"})
    poll(store, wire(), ok(), policy=PollPolicy(alert_on_edit=alert_on_edit))
    assert ("seen_hashes" in store.calls) is alert_on_edit
    if alert_on_edit:  # "old" was stored with another hash: an edit, and it matches
        assert names(a.item_key for a in store.commits[0].alerts) == ["new", "old"]


def test_not_modified_reads_nothing_and_keeps_the_validators() -> None:
    store = FakeSeen()
    not_modified = FetchResult(status=304, body=None, url="https://news.example.com/rss")
    report, _, _ = poll(store, wire(), not_modified)
    assert store.calls == ["commit_unchanged"]  # with the other polls that found nothing new
    update = store.commits[0].update
    assert (update.status, update.etag, update.body_hash) == ("not_modified", '"v0"', "before")
    assert report.status == "not_modified"


def test_the_body_parsed_last_time_is_not_parsed_again() -> None:
    store = FakeSeen()
    report, _, _ = poll(store, wire(body_hash=hashlib.sha256(DOC).hexdigest()), ok())
    assert store.calls == ["commit_unchanged"]
    assert report.status == "unchanged"
    assert report.parsed_items == 0


def test_a_poll_that_found_nothing_new_logs_at_debug_the_others_at_info() -> None:
    not_modified = FetchResult(status=304, body=None, url="https://news.example.com/rss")
    with structlog.testing.capture_logs() as quiet:
        poll(FakeSeen(), wire(), not_modified)
    with structlog.testing.capture_logs() as loud:
        poll(FakeSeen(), wire(), ok())
    assert [(e["event"], e["log_level"], e["status"]) for e in quiet] == [
        ("feed_polled", "debug", "not_modified")
    ]
    assert [(e["event"], e["log_level"], e["status"]) for e in loud] == [
        ("feed_polled", "info", "ok")
    ]


def test_a_failed_fetch_backs_off_and_reads_nothing() -> None:
    store = FakeSeen()
    report, clock, _ = poll(store, wire(error_count=2), FeedError("timeout", "no answer in 30s"))
    assert store.calls == ["commit_poll"]
    update = store.commits[0].update
    assert (update.status, update.error_kind, update.error_count) == ("error", "timeout", 3)
    assert update.next_poll_at > clock.now()
    assert (update.etag, update.body_hash) == ('"v0"', "before")  # validators kept
    assert (report.error_kind, report.error) == ("timeout", "no answer in 30s")


def test_a_document_that_is_not_a_feed_is_an_error_of_the_poll() -> None:
    store = FakeSeen()
    report, _, _ = poll(store, wire(), ok(b"<html><body>a page</body></html>"))
    assert store.calls == ["commit_poll"]
    assert store.commits[0].update.status == "error"
    assert report.status == "error"
    assert report.error_kind is not None


def test_without_a_store_every_current_item_is_matched_and_kept() -> None:
    report, _, _ = poll(None, wire(baseline_done=False), ok(), keep_items=True)
    # No memory: the seen item and the baseline are matched too, and nothing alerts.
    assert [NAME[i.key] for i, _ in report.matched] == ["old", "new"]
    assert [NAME[i.key] for i in report.items] == ["old", "new", "calm"]
    assert (report.status, report.title, report.alerts_enqueued) == ("ok", "The Wire", 0)
    assert report.failure() is None


def test_without_rules_nothing_is_matched_but_every_item_is_read() -> None:
    report, _, _ = poll(None, wire(), ok(), rules=None, keep_items=True)
    assert report.matched == ()
    assert len(report.items) == 3


def test_without_a_store_a_failure_is_reported_as_the_error_it_was() -> None:
    report, _, _ = poll(None, wire(), FeedError("blocked_address", "10.0.0.1: a private address"))
    failure = report.failure()
    assert isinstance(failure, FeedError)
    assert (failure.kind, str(failure)) == ("blocked_address", "10.0.0.1: a private address")
