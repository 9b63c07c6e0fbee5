"""The poll decisions with story assignments (monitor.dedup) and edits (alert_on_edit)."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint
from monitor.dedup.resolve import StoryAssignment, StoryCandidate, assign_stories
from monitor.feeds.identity import content_hash
from monitor.model import Item
from monitor.pipeline.decide import PollPlan, PollPolicy, decide
from tests.test_pipeline import NOW, OK, ROUTES, feed, matcher

TROOPS = Item(feed_id="wire", key="g:1", title="North Korea sends troops to Russia, Seoul says",
              summary="North Korea has sent about 10,000 troops to Russia, South Korea's spy "
              "agency said on Friday.", url="https://wire.example/1", published=NOW)  # fmt: skip

DEFAULT_POLICY = PollPolicy()


def run(
    items: list[Item],
    stories: Mapping[str, StoryAssignment] | None = None,
    *,
    seen: Collection[str] = frozenset(),
    policy: PollPolicy = DEFAULT_POLICY,
    seen_hashes: Mapping[str, str] | None = None,
) -> PollPlan:
    return decide(feed(), OK, items, None, "Wire", seen, set(), matcher, ROUTES, NOW,
                  random.Random(1), policy, stories=stories, seen_hashes=seen_hashes)  # fmt: skip


def assigned(
    items: list[Item], stored: Sequence[tuple[str, str, StoryFingerprint]] = ()
) -> dict[str, StoryAssignment]:
    cands = [StoryCandidate(k, f, fp, fp.bands) for k, f, fp in stored]
    out = assign_stories([(i, f"u:{i.key}") for i in items], cands)
    return {i.key: a for i, a in zip(items, out, strict=True)}


def test_a_new_story_alerts_and_carries_its_bands_to_the_store() -> None:
    plan = run([TROOPS], assigned([TROOPS]))
    assert {a.story_key for a in plan.alerts} == {"u:g:1"}
    (s,) = plan.seen
    assert s.bands == fingerprint(TROOPS).bands
    assert StoryFingerprint.from_bytes(s.fingerprint) == fingerprint(TROOPS)
    assert [(x.story_key, x.item_key) for x in plan.sources] == [("u:g:1", "g:1")]


def test_a_churned_guid_of_a_stored_story_does_not_alert_and_is_no_new_source() -> None:
    churned = replace(TROOPS, key="g:2", url="https://news.google.com/rss/articles/XYZ")
    stories = assigned([churned], [("u:g:1", "wire", fingerprint(TROOPS))])
    plan = run([churned], stories)
    assert plan.alerts == []
    assert plan.repeated_stories == [(churned, "u:g:1")]
    assert plan.seen[0].story_key == "u:g:1"
    assert plan.seen[0].bands == ()  # the story is indexed already
    assert plan.sources == []


def test_the_same_story_from_another_feed_is_a_source_not_an_alert() -> None:
    title = "North Korea has sent troops to Russia, South Korean spy agency says"
    other = replace(TROOPS, feed_id="reuters", key="g:r", title=title)
    plan = run([other], assigned([other], [("u:g:1", "wire", fingerprint(TROOPS))]))
    assert plan.alerts == []
    assert [(s.story_key, s.item_key) for s in plan.sources] == [("u:g:1", "g:r")]
    # its wording is indexed for this feed, so that its re-issues are churn
    assert plan.seen[0].bands == fingerprint(other).bands


def test_two_outlets_in_one_poll_give_one_alert_per_destination() -> None:
    other = replace(TROOPS, key="g:2", url="https://other.example/2")
    plan = run([TROOPS, other], assigned([TROOPS, other]))
    assert sorted((a.destination, a.story_key) for a in plan.alerts) == [
        ("hook", "u:g:1"), ("slack", "u:g:1")
    ]  # fmt: skip
    assert plan.repeated_stories == [(other, "u:g:1")]


def test_an_edit_is_quiet_by_default() -> None:
    edited = replace(TROOPS, title=TROOPS.title + " (updated)")
    plan = run([edited], seen={"g:1"}, seen_hashes={"g:1": content_hash(TROOPS)})
    assert plan.alerts == []
    assert plan.seen == []


def test_alert_on_edit_alerts_once_per_version_of_the_text() -> None:
    edited = replace(TROOPS, title="North Korea sends more troops to Russia")
    policy = PollPolicy(alert_on_edit=True)
    plan = run([edited], seen={"g:1"}, seen_hashes={"g:1": content_hash(TROOPS)}, policy=policy)
    assert len(plan.alerts) == 2  # hook and slack
    assert all(a.story_key.startswith("e:") for a in plan.alerts)
    assert plan.edited == [edited]
    assert [(s.key, s.title_hash) for s in plan.seen] == [("g:1", content_hash(edited))]
    again = run([edited], seen={"g:1"}, seen_hashes={"g:1": content_hash(edited)}, policy=policy)
    assert again.alerts == []
    unknown = run([edited], seen={"g:1"}, seen_hashes={"g:1": ""}, policy=policy)
    assert unknown.alerts == []  # a key stored before hashes were kept is no edit


def test_only_a_story_founded_after_a_lookup_is_marked_for_settling_at_commit() -> None:
    other = replace(TROOPS, key="g:2", url="https://other.example/2")
    plan = run([TROOPS, other], assigned([TROOPS, other]))
    # the founder is settled at commit; the item that joined it in this poll follows its key
    assert [(s.key, s.new_story) for s in plan.seen] == [("g:1", True), ("g:2", False)]
    stored = run([other], assigned([other], [("u:g:1", "wire", fingerprint(TROOPS))]))
    assert [s.new_story for s in stored.seen] == [False]
    # a new feed's baseline looked nothing up and alerts nothing: nothing to settle
    baseline = decide(replace(feed(), baseline_done=False), OK, [TROOPS], None, "Wire", set(),
                      set(), matcher, ROUTES, NOW, random.Random(1),
                      stories=assigned([TROOPS]))  # fmt: skip
    assert baseline.alerts == []
    assert [s.new_story for s in baseline.seen] == [False]
