"""The poll's choices before `decide`, as tables: which store reads a poll needs
(`plan_lookups`), when there is nothing to parse (`unchanged`), and a poll without state
(`plan_current`). Pure: a hand-written matcher, no store, no I/O."""

from __future__ import annotations

import random
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from monitor.model import Explanation, FeedState, Item, Match, Rule
from monitor.pipeline.decide import (
    FetchOutcome,
    PollPolicy,
    plan_current,
    plan_error,
    plan_lookups,
    unchanged,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TROOPS = Rule(id="troops", name="Troops", query="troop*")


def feed(*, baseline_done: bool = True, body_hash: str | None = "h0") -> FeedState:
    return FeedState(
        id="wire",
        url="https://news.example.com/rss",
        name="Wire",
        tags=("world",),
        interval_s=300.0,
        backfill_s=0.0,
        body_hash=body_hash,
        baseline_done=baseline_done,
    )


def item(key: str, title: str) -> Item:
    return Item(feed_id="wire", key=key, title=title, url=f"https://news.example.com/{key}")


class Matcher:
    """Matches titles with "troops"; remembers the tags it was given."""

    def __init__(self) -> None:
        self.tags: list[tuple[str, ...]] = []

    def __call__(self, it: Item, feed_tags: Collection[str]) -> list[Match]:
        self.tags.append(tuple(feed_tags))
        if "troops" in it.title.lower():
            return [Match(TROOPS, Explanation(("troops",), ()), it.title)]
        return []


ITEMS = [
    item("a", "Troops cross the border"),  # matches
    item("b", "Weather: rain"),  # does not match
    item("c", "More troops sent"),  # matches
]


@pytest.mark.parametrize(
    ("seen", "baseline_done", "alert_on_edit", "story_keys", "candidates", "hash_keys"),
    [
        # Only new items that match need a story; the index is asked once the baseline is done.
        (set(), True, False, ["a", "c"], True, []),
        ({"a"}, True, False, ["c"], True, []),
        ({"a", "b", "c"}, True, False, [], True, []),
        # A new feed's baseline asks the index for nothing: its items found their own stories.
        (set(), False, False, ["a", "c"], False, []),
        ({"c"}, False, False, ["a"], False, []),
        # Stored content hashes are read only when an edit can alert, and only for seen keys.
        ({"c", "a"}, True, True, [], True, ["a", "c"]),
        (set(), True, True, ["a", "c"], True, []),
        ({"b"}, False, True, ["a", "c"], False, ["b"]),
    ],
)
def test_plan_lookups(
    seen: set[str],
    baseline_done: bool,
    alert_on_edit: bool,
    story_keys: list[str],
    candidates: bool,
    hash_keys: list[str],
) -> None:
    policy = PollPolicy(alert_on_edit=alert_on_edit, story_window=timedelta(hours=72))
    match = Matcher()
    look = plan_lookups(feed(baseline_done=baseline_done), ITEMS, seen, match, NOW, policy)
    assert [i.key for i in look.story_items] == story_keys
    assert look.candidates is candidates
    assert look.hash_keys == hash_keys
    assert look.since == NOW - timedelta(hours=72)
    # A seen item is never matched for a lookup; the feed's tags and id go to the matcher.
    assert len(match.tags) == len([i for i in ITEMS if i.key not in seen])
    assert all(tags == ("world", "wire") for tags in match.tags)


@pytest.mark.parametrize(
    ("status", "body_hash", "stored", "expected"),
    [
        (304, None, "h0", True),  # not modified
        (304, "h1", "h0", True),
        (200, None, "h0", True),  # no body to parse
        (200, "h0", "h0", True),  # the body parsed last time
        (200, "h1", "h0", False),
        (200, "h1", None, False),  # a feed never parsed
    ],
)
def test_unchanged(status: int, body_hash: str | None, stored: str | None, expected: bool) -> None:
    outcome = FetchOutcome(status=status, body_hash=body_hash)
    assert unchanged(feed(body_hash=stored), outcome) is expected


@pytest.mark.parametrize("baseline_done", [False, True])
def test_plan_current_matches_every_current_item_and_skips_nothing(baseline_done: bool) -> None:
    outcome = FetchOutcome(status=200, body_hash="h1", etag='"v2"')
    items = [*ITEMS, ITEMS[0]]  # a repeated key is matched again: nothing is remembered
    plan = plan_current(
        feed(baseline_done=baseline_done), outcome, items, "The Wire", Matcher(), NOW
    )
    assert [(i.key, [m.rule.id for m in ms]) for i, ms in plan.matches] == [
        ("a", ["troops"]),
        ("c", ["troops"]),
        ("a", ["troops"]),
    ]
    assert plan.parsed_items == 4
    assert list(plan.items) == items
    assert (plan.seen, plan.alerts, plan.sources, plan.skipped) == ([], [], [], {})
    assert plan.new_items == 0
    assert plan.update.status == "ok"
    assert plan.update.title == "The Wire"
    assert plan.update.etag == '"v2"'


def test_plan_current_without_a_title_says_none() -> None:
    plan = plan_current(feed(), FetchOutcome(status=200, body_hash="h1"), [], "", Matcher(), NOW)
    assert plan.update.title is None
    assert plan.matches == []


def test_an_error_quoting_a_long_server_answer_is_cut() -> None:
    # "HTTP 503 <reason>" with a 50 KB reason phrase: a hostile server's text, up to the 100 KiB
    # of a head, went whole to the log, the store and check's output at every poll.
    error = "https://news.example.com/rss: HTTP 503 " + "x" * 50_000
    outcome = FetchOutcome(status=0, error=error, error_kind="http_status")
    update = plan_error(feed(), outcome, NOW, random.Random(1)).update
    assert update.error is not None
    assert update.error.startswith("https://news.example.com/rss: HTTP 503 xxx")
    assert update.error.endswith(f"... ({len(error) - 1000:,} more characters)")
    assert len(update.error) < 1100
    short = FetchOutcome(status=0, error="HTTP 404 Not Found", error_kind="http_status")
    assert plan_error(feed(), short, NOW, random.Random(1)).update.error == "HTTP 404 Not Found"
