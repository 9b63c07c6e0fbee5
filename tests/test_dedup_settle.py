"""monitor.dedup.settle: which founded stories join a story committed since the lookup, and how
a poll's writes change when they do. Pure."""

from __future__ import annotations

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint_text
from monitor.dedup.resolve import StoryCandidate
from monitor.dedup.settle import (
    BAND_LOCK_TAG,
    Founded,
    apply_merges,
    band_lock_keys,
    founded_bands,
    founded_stories,
    settle,
)
from monitor.model import SeenItem, StorySource
from tests.store_fixtures import T0, alert

LEDE = "North Korea has sent about 10,000 troops to Russia, South Korea's spy agency said."
FP = fingerprint_text("North Korea sends troops to Russia, Seoul says", LEDE)
CLOSE = fingerprint_text("North Korea sends troops to Russia", LEDE)
REVERSED = fingerprint_text(
    "Russia sends troops to North Korea, Seoul says",
    "Russia has sent about 10,000 troops to North Korea, South Korea's spy agency said.",
)


def committed(key: str, fp: StoryFingerprint, feed: str = "f9") -> StoryCandidate:
    return StoryCandidate(key, feed, StoryFingerprint.from_bytes(fp.to_bytes()), fp.bands)


def test_a_founded_story_joins_the_committed_same_story() -> None:
    mine = [Founded("mine", FP, FP.bands)]
    assert settle(mine, [committed("theirs", CLOSE)]) == {"mine": "theirs"}


def test_different_stories_and_its_own_key_are_not_joined() -> None:
    mine = [Founded("mine", FP, FP.bands)]
    assert settle(mine, [committed("reversed", REVERSED)]) == {}
    assert settle(mine, [committed("mine", FP)]) == {}  # the same canonical link elsewhere
    assert settle(mine, []) == {}


def test_only_candidates_sharing_a_band_are_judged() -> None:
    unbanded = StoryCandidate("theirs", "f9", FP, ())  # the store returns matched bands only
    assert settle([Founded("mine", FP, FP.bands)], [unbanded]) == {}


def test_the_best_match_wins_and_a_tie_goes_to_the_smaller_key() -> None:
    mine = [Founded("mine", FP, FP.bands)]
    assert settle(mine, [committed("b-close", CLOSE), committed("z-same", FP)]) == {
        "mine": "z-same"
    }
    tied = [committed("z", FP), committed("a", FP, feed="f8")]
    assert settle(mine, tied) == {"mine": "a"}
    assert settle(mine, list(reversed(tied))) == {"mine": "a"}


def test_founded_stories_are_the_marked_items_one_per_key() -> None:
    seen = [
        SeenItem("k1", "s1", bands=FP.bands, fingerprint=FP.to_bytes(), new_story=True),
        SeenItem("k2", "s1", bands=FP.bands, fingerprint=FP.to_bytes(), new_story=True),
        SeenItem("k3", "s3", bands=FP.bands, fingerprint=FP.to_bytes()),  # joined a story
        SeenItem("k4", "s4", new_story=True),  # no fingerprint: nothing to settle on
        SeenItem("k5", "s5", bands=FP.bands, fingerprint=b"\x09broken", new_story=True),
    ]
    found = founded_stories(seen)
    assert [(f.story_key, f.fingerprint) for f in found] == [("s1", FP)]
    assert founded_bands(found) == sorted(FP.bands)


def test_band_lock_keys_are_sorted_bigints_apart_from_small_constants() -> None:
    keys = band_lock_keys([*FP.bands, FP.bands[0]])
    assert len(keys) == 32
    assert keys == sorted(keys)
    assert all(BAND_LOCK_TAG <= k < 2**63 for k in keys)
    assert band_lock_keys(["000000000000"]) == [BAND_LOCK_TAG]


def test_apply_merges_files_items_under_the_winner_and_drops_their_alerts() -> None:
    seen = [
        SeenItem("k1", "mine", bands=FP.bands, fingerprint=FP.to_bytes(), new_story=True),
        SeenItem("k2", "mine"),  # another item of this poll that joined "mine"
        SeenItem("k3", "kept", new_story=True),
    ]
    alerts = [alert("a1", "hook", "mine"), alert("a2", "hook", "kept")]
    sources = [StorySource("mine", "f1", "k1", T0), StorySource("kept", "f1", "k3", T0)]
    out_seen, out_alerts, out_sources = apply_merges({"mine": "theirs"}, seen, alerts, sources)
    assert [(s.key, s.story_key, s.new_story) for s in out_seen] == [
        ("k1", "theirs", False), ("k2", "theirs", False), ("k3", "kept", True)]  # fmt: skip
    assert out_seen[0].fingerprint == FP.to_bytes()  # its wording is indexed for its feed
    assert [a.id for a in out_alerts] == ["a2"]
    assert [(s.story_key, s.item_key) for s in out_sources] == [("theirs", "k1"), ("kept", "k3")]
    assert apply_merges({}, seen, alerts, sources) == (seen, alerts, sources)
