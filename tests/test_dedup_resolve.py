"""Story assignment over polls: GUID and link churn, one story across feeds, in-poll duplicates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.dedup.fingerprint import fingerprint
from monitor.dedup.resolve import StoryAssignment, StoryCandidate, assign_stories, band_keys
from monitor.model import Item

STORIES = [
    ("North Korea sends troops to Russia, Seoul says",
     "North Korea has sent about 10,000 troops to Russia to train for deployment, South Korea's "
     "intelligence service said on Friday."),
    ("Magnitude 7.1 earthquake strikes southern Japan, tsunami advisory issued",
     "A magnitude 7.1 earthquake struck off the coast of Kyushu in southern Japan on Thursday."),
    ("ECB cuts interest rates for the third time this year",
     "The European Central Bank cut its deposit rate by a quarter point to 3.25% on Thursday."),
]  # fmt: skip


def _item(feed: str, guid: str, n: int, **kw: Any) -> Item:
    title, summary = STORIES[n]
    link = kw.pop("link", f"https://news.google.com/rss/articles/{guid}?oc=5")
    item = Item(feed_id=feed, key=f"guid:{guid}", title=title, summary=summary, link=link,
                guid=guid)  # fmt: skip
    return replace(item, **kw)


class Index:
    """What the store keeps of the stories: enough to replay polls in a test."""

    def __init__(self) -> None:
        self.stories: dict[str, StoryCandidate] = {}

    def poll(self, items: list[Item]) -> list[StoryAssignment]:
        fps = [fingerprint(i) for i in items]
        bands = set(band_keys(fps))
        candidates = [c for c in self.stories.values() if bands & set(c.bands)]
        out = assign_stories([(i, f"url:{i.link}") for i in items], candidates, fingerprints=fps)
        for item, a in zip(items, out, strict=True):
            if a.new_story:
                self.stories[a.story_key] = StoryCandidate(
                    a.story_key, item.feed_id, a.fingerprint, a.fingerprint.bands
                )
        return out


def test_guid_and_link_churn_keeps_every_story_across_polls() -> None:
    index = Index()
    first = index.poll([_item("agg", f"A{n}", n) for n in range(3)])
    assert all(a.new_story and not a.stored for a in first)
    keys = [a.story_key for a in first]
    assert len(set(keys)) == 3
    for poll in range(1, 4):  # every poll: new GUIDs, new redirect links, same text
        again = index.poll([_item("agg", f"P{poll}-{n}", n) for n in range(3)])
        assert [a.story_key for a in again] == keys
        assert all(a.stored and a.churn and not a.new_story for a in again)
        assert all(a.similarity == 1.0 for a in again)


def test_reordered_and_partly_churned_feed() -> None:
    index = Index()
    keys = {n: a.story_key for n, a in enumerate(index.poll([_item("agg", "x0", 0),
                                                             _item("agg", "x1", 1)]))}  # fmt: skip
    again = index.poll([_item("agg", "y2", 2), _item("agg", "y1", 1), _item("agg", "y0", 0)])
    assert again[0].new_story  # story 2 is really new
    assert [a.story_key for a in again[1:]] == [keys[1], keys[0]]


def test_same_story_from_another_outlet_is_a_further_source_not_churn() -> None:
    index = Index()
    (first,) = index.poll([_item("yonhap", "1", 0, link="https://yonhap.example/1")])
    other = Item(
        feed_id="reuters",
        key="guid:r1",
        title="North Korea has sent troops to Russia, South Korean spy agency says - Reuters",
        summary="About 10,000 North Korean troops have been sent to Russia for training, South "
        "Korea's National Intelligence Service said on Friday.",
        link="https://reuters.example/world/asia/nk-troops",
    )
    (a,) = index.poll([other])
    assert a.story_key == first.story_key
    assert a.stored
    assert not a.churn
    assert not a.new_story
    assert 0.5 <= a.similarity < 1.0


def test_edited_text_in_the_same_feed_is_the_same_story_but_not_churn() -> None:
    index = Index()
    (first,) = index.poll([_item("f", "1", 2)])
    edited = replace(_item("f", "2", 2), summary=STORIES[2][1] + " Inflation eased to 2.1%.")
    (a,) = index.poll([edited])
    assert a.story_key == first.story_key
    assert a.stored
    assert not a.churn


def test_duplicates_inside_one_poll_share_the_first_story() -> None:
    index = Index()
    out = index.poll([_item("f", "1", 1), _item("g", "2", 1), _item("f", "3", 0)])
    assert out[0].new_story
    assert out[2].new_story
    assert out[1].story_key == out[0].story_key
    assert not out[1].new_story
    assert not out[1].stored


def test_different_story_with_shared_words_gets_its_own_key() -> None:
    index = Index()
    (north,) = index.poll([_item("f", "1", 0)])
    south = Item(feed_id="f", key="guid:2", title="South Korea sends troops to Poland, Warsaw says",
                 summary="South Korea has sent about 10,000 troops to Poland to train for "
                 "deployment, Poland's defence ministry said on Friday.",
                 link="https://example.org/south")  # fmt: skip
    (a,) = index.poll([south])
    assert a.new_story
    assert a.story_key != north.story_key


def test_item_without_text_is_its_own_story() -> None:
    out = assign_stories(
        [(Item(feed_id="f", key="a"), "k1"), (Item(feed_id="f", key="b"), "k2")], []
    )
    assert [a.story_key for a in out] == ["k1", "k2"]
    assert all(a.new_story for a in out)


# One outlet's daily report under one template: the same headline on two days, another day's
# figures in the lede (written for this test).
DAY1 = (
    "Four civilians killed in shelling of the region over the past day",
    "Shelling killed four civilians and wounded nine people in the region on Monday, the "
    "regional governor said.",
)
DAY2 = (
    "Four civilians killed in shelling of the region over the past day",
    "Shelling killed four civilians and wounded two people in the region on Thursday, the "
    "regional governor said.",
)


def _report(feed: str, guid: str, text: tuple[str, str]) -> Item:
    return Item(feed_id=feed, key=f"guid:{guid}", title=text[0], summary=text[1],
                link=f"https://example.org/{guid}", guid=guid)  # fmt: skip


def test_a_feeds_templated_report_a_day_later_is_a_new_story() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    first = _report("wire", "d1", DAY1)
    fp1 = fingerprint(first)
    stored = StoryCandidate("s1", "wire", fp1, fp1.bands, first_seen=t0)
    day2 = _report("wire", "d2", DAY2)
    assert assign_stories([(day2, "s2")], [stored])[0].story_key == "s1"  # without a time
    (later,) = assign_stories([(day2, "s2")], [stored], now=t0 + timedelta(hours=24))
    assert later.new_story
    assert later.story_key == "s2"
    # the same words again (GUID churn) are still the story, a day later too
    again = _report("wire", "d1-churned", DAY1)
    (churn,) = assign_stories([(again, "s3")], [stored], now=t0 + timedelta(hours=24))
    assert churn.stored
    assert churn.churn
    assert churn.story_key == "s1"
    # the outlet's update of its report within hours is still the story
    (update,) = assign_stories([(day2, "s4")], [stored], now=t0 + timedelta(hours=3))
    assert update.stored
    assert update.story_key == "s1"
    # another outlet telling the story a day later joins it
    other = _report("agency", "x1", DAY2)
    (retold,) = assign_stories([(other, "s5")], [stored], now=t0 + timedelta(hours=24))
    assert retold.stored
    assert retold.story_key == "s1"
