"""The pure decisions of one poll (monitor.pipeline.decide), with a hand-written matcher."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.model import Explanation, FeedState, Item, Match, Rule
from monitor.pipeline.decide import (
    FetchOutcome,
    PollPlan,
    PollPolicy,
    decide,
    plan_error,
    plan_unchanged,
    route,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TROOPS = Rule(id="troops", name="Troops", query="troop*")
ARMS = Rule(id="arms", name="Arms", query="weapon*", notify=("slack",))


WIRE = FeedState(
    id="wire",
    url="https://news.example.com/rss",
    name="Wire",
    tags=("world",),
    interval_s=300.0,
    backfill_s=0.0,
    baseline_done=True,
)


def feed(**changes: Any) -> FeedState:
    return replace(WIRE, **changes)


def item(key: str, title: str, *, published: datetime | None = NOW, url: str | None = None) -> Item:
    return Item(
        feed_id="wire",
        key=key,
        title=title,
        url=url or f"https://news.example.com/{key}",
        published=published,
    )


def matcher(item: Item, feed_tags: Collection[str]) -> list[Match]:
    found = []
    for rule, word in ((ARMS, "weapons"), (TROOPS, "troops")):
        if word in item.title.lower():
            found.append(Match(rule, Explanation((word,), ()), item.title))
    return found


ROUTES = route({"troops": [], "arms": ["slack"]}, ["hook", "slack"])
OK = FetchOutcome(status=200, body_hash="h1", etag='"v1"', last_modified="Sun, 01 Mar 2026")


def run(
    f: FeedState,
    items: list[Item],
    seen: Collection[str] = frozenset(),
    known: Collection[str] = frozenset(),
) -> PollPlan:
    return decide(f, OK, items, None, "Wire", seen, known, matcher, ROUTES, NOW, random.Random(1))


def test_route_sends_rules_without_notify_everywhere() -> None:
    assert {"hook": {"troops"}, "slack": {"troops", "arms"}} == ROUTES


def test_new_matching_item_gives_one_alert_per_destination_with_all_its_rules() -> None:
    plan = run(feed(), [item("a", "Troops and weapons sent")])
    by_dest = {a.destination: a for a in plan.alerts}
    assert set(by_dest) == {"hook", "slack"}
    assert [r["id"] for r in by_dest["slack"].document["rules"]] == ["arms", "troops"]
    assert [r["id"] for r in by_dest["hook"].document["rules"]] == ["troops"]
    assert by_dest["hook"].id != by_dest["slack"].id
    assert [s.key for s in plan.seen] == ["a"]
    assert plan.update.status == "ok"
    assert plan.update.etag == '"v1"'


def test_seen_items_and_non_matching_items_do_not_alert() -> None:
    plan = run(feed(), [item("a", "Troops sent"), item("b", "Weather")], seen={"a"})
    assert plan.alerts == []
    assert [s.key for s in plan.seen] == ["b"]


def test_a_repeated_key_inside_one_poll_is_taken_once() -> None:
    plan = run(feed(), [item("a", "Troops sent"), item("a", "Troops sent")])
    assert len(plan.seen) == 1
    assert len(plan.alerts) == 2  # one per destination


def test_first_poll_of_a_new_feed_is_a_silent_baseline() -> None:
    plan = run(feed(baseline_done=False), [item("a", "Troops sent")])
    assert plan.alerts == []
    assert plan.baseline_items == 1
    assert [s.key for s in plan.seen] == ["a"]
    assert plan.update.baseline_done is True


def test_backfill_window_lets_recent_baseline_items_alert() -> None:
    f = feed(baseline_done=False, backfill_s=3600.0)
    recent = item("a", "Troops sent", published=NOW - timedelta(minutes=30))
    old = item("b", "Troops sent again", published=NOW - timedelta(hours=3))
    plan = run(f, [recent, old])
    assert {a.item_key for a in plan.alerts} == {"a"}


def test_items_older_than_retention_are_ignored_entirely() -> None:
    old = item("a", "Troops sent", published=NOW - timedelta(days=91))
    plan = run(feed(), [old])
    assert plan.seen == []
    assert plan.alerts == []


def test_a_story_already_known_does_not_alert_again() -> None:
    first = run(feed(), [item("a", "Troops sent", url="https://x.example/story")])
    story = first.seen[0].story_key
    again = run(feed(), [item("b", "Troops sent", url="https://x.example/story")], known={story})
    assert again.alerts == []
    assert [k for _, k in again.repeated_stories] == [story]


def test_two_items_of_one_story_in_one_poll_alert_once() -> None:
    items = [
        item("a", "Troops sent", url="https://x.example/story"),
        item("b", "Troops sent", url="https://x.example/story"),  # url is canonical already
    ]
    plan = run(feed(), items)
    assert len({a.story_key for a in plan.alerts}) == 1
    assert len(plan.alerts) == 2  # hook and slack


def test_alert_ids_are_stable_for_the_same_story_and_destination() -> None:
    one = run(feed(), [item("a", "Troops sent")])
    two = run(feed(), [item("a", "Troops sent")])
    assert [a.id for a in one.alerts] == [a.id for a in two.alerts]


def test_error_backs_off_and_keeps_validators() -> None:
    f = feed(etag='"v0"', error_count=2)
    plan = plan_error(
        f, FetchOutcome(status=0, error="boom", error_kind="connect"), NOW, random.Random(1)
    )
    assert plan.update.status == "error"
    assert plan.update.error_count == 3
    assert plan.update.etag == '"v0"'
    assert plan.update.next_poll_at > NOW + timedelta(seconds=300)


def test_not_modified_keeps_validators_and_schedules_the_interval() -> None:
    f = feed(etag='"v0"', body_hash="h0")
    out = FetchOutcome(status=304)
    plan = plan_unchanged(f, out, NOW, random.Random(1), PollPolicy(jitter=0.1))
    assert plan.update.status == "not_modified"
    assert plan.update.etag == '"v0"'
    assert plan.update.body_hash == "h0"
    gap = (plan.update.next_poll_at - NOW).total_seconds()
    assert 270 <= gap <= 330


OLD = NOW - timedelta(days=91)  # before the default 90-day retention


def test_every_item_that_does_not_alert_is_counted_by_reason() -> None:
    # (feed state, items, seen keys, known stories) -> the one reason each table row counts
    cases: list[tuple[FeedState, list[Item], set[str], set[str], str]] = [
        (feed(), [item("a", "Troops sent", published=OLD)], set(), set(), "too_old"),
        (feed(), [item("a", "Troops sent")], {"a"}, set(), "seen"),
        (feed(), [item("a", "Troops sent"), item("a", "Troops sent")], set(), set(), "seen"),
        (feed(baseline_done=False), [item("a", "Troops sent")], set(), set(), "baseline"),
    ]
    for f, items, seen, known, reason in cases:
        plan = run(f, items, seen=seen, known=known)
        assert plan.alerts == [] or reason == "seen"
        assert plan.skipped == {reason: 1}, (reason, plan.skipped)


def test_a_repeated_story_is_counted_and_an_alerting_item_is_not() -> None:
    url = "https://x.example/story"
    first = run(feed(), [item("a", "Troops sent", url=url)])
    assert first.alerts
    assert first.skipped == {}
    again = run(feed(), [item("b", "Troops sent", url=url)], known={first.seen[0].story_key})
    assert again.alerts == []
    assert again.skipped == {"repeated_story": 1}
    assert [i.key for i, _ in again.repeated_stories] == ["b"]
