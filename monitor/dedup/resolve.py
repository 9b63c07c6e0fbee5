"""Give each new item of a poll its story: an existing story it repeats, or a new one. Pure.

    candidates = store.story_candidates(band keys of the new items, since=now - story_window)
    stories    = assign_stories(new items with their fallback keys, candidates)   # <- here

Each item's fingerprint is compared (`same_story`) with the stored stories that share an LSH band
with it, and with the stories this poll has already made (two items of one poll can be one story).
The best-scoring match wins; without one the item founds a new story keyed by its fallback key
(monitor.feeds.identity.story_key: canonical link or title hash).

GUID and link churn need nothing special here: an aggregator that re-issues an item under a new
GUID and a new redirect link (news.google.com/rss/articles/...) gives a new item key and a new
fallback key, but the same title and summary, hence the same fingerprint, the same 21 band keys
and similarity 1.0 with the stored story. A re-issue by the story's own first feed with identical
text is `churn`: it is known (no alert) and is not recorded as a further source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint
from monitor.dedup.match import DEFAULT_POLICY, MatchPolicy, judge
from monitor.model import Item


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """A stored story that shares at least one band key with an item of this poll."""

    story_key: str
    feed_id: str  # the feed of its first sighting
    fingerprint: StoryFingerprint
    bands: tuple[str, ...]  # its band keys (at least those the store was asked about)


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """The story of one new item.

    `stored`: it repeats a story the store already knew (within the window): no alert.
    `new_story`: this item founds the story; its bands and fingerprint are to be stored.
    `churn`: an identical re-issue by the story's first feed (not a further source).
    """

    story_key: str
    fingerprint: StoryFingerprint
    new_story: bool
    stored: bool = False
    similarity: float = 0.0
    churn: bool = False


def band_keys(fingerprints: Iterable[StoryFingerprint]) -> list[str]:
    """The distinct band keys of these fingerprints, sorted (for one store query)."""
    return sorted({band for fp in fingerprints for band in fp.bands})


def assign_stories(
    items: Sequence[tuple[Item, str]],
    candidates: Iterable[StoryCandidate],
    policy: MatchPolicy = DEFAULT_POLICY,
    fingerprints: Sequence[StoryFingerprint] | None = None,
) -> list[StoryAssignment]:
    """One assignment per (item, fallback story key), in order. `fingerprints`, when given,
    are the items' fingerprints (computed once by the caller for the band lookup)."""
    pool: list[StoryCandidate] = []
    stored: list[bool] = []
    by_band: dict[str, list[int]] = defaultdict(list)

    def add(candidate: StoryCandidate, from_store: bool) -> None:
        for band in candidate.bands:
            by_band[band].append(len(pool))
        pool.append(candidate)
        stored.append(from_store)

    for candidate in candidates:
        add(candidate, True)

    out: list[StoryAssignment] = []
    for n, (item, fallback) in enumerate(items):
        fp = fingerprints[n] if fingerprints is not None else fingerprint(item)
        best: tuple[float, int] | None = None
        for i in sorted({i for band in fp.bands for i in by_band.get(band, ())}):
            verdict = judge(fp, pool[i].fingerprint, policy)
            if verdict.same and (best is None or verdict.similarity > best[0]):
                best = (verdict.similarity, i)
        if best is None:
            out.append(StoryAssignment(fallback, fp, new_story=True))
            add(StoryCandidate(fallback, item.feed_id, fp, fp.bands), False)
            continue
        sim, i = best
        match = pool[i]
        churn = match.feed_id == item.feed_id and match.fingerprint == fp
        out.append(
            StoryAssignment(match.story_key, fp, False, stored[i], similarity=sim, churn=churn)
        )
    return out
