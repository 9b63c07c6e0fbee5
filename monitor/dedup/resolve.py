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

A feed does not retell its own story under new words a day later: a new item (new key) whose
feed indexed its wording of a story at least `RETELL_AFTER` before, and that does not repeat that
wording word for word, is not that story, whichever feed's wording it matches. One outlet's daily
reports share a template ("Four civilians killed in shelling of Donetsk region" on two days, a
daily briefing under one title): they are new events, and each alerts. Churn (the same words
again) and other outlets' rewordings are unaffected; a new link that is the story's key still
finds it (decide's known story keys).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint, similarity
from monitor.dedup.match import DEFAULT_POLICY, MatchPolicy, judge
from monitor.model import Item

# How long after a feed's own wording of a story a different wording from that feed is a new
# story: daily reports come a day apart; a feed's same-day updates of a story under a new link
# (a higher toll, a reworded headline) stay within it.
RETELL_AFTER = timedelta(hours=20)


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """A stored story that shares at least one band key with an item of this poll."""

    story_key: str
    feed_id: str  # the feed of its first sighting
    fingerprint: StoryFingerprint
    bands: tuple[str, ...]  # its band keys (at least those the store was asked about)
    first_seen: datetime | None = None  # when this wording was indexed (None: in this poll)


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
    now: datetime | None = None,
) -> list[StoryAssignment]:
    """One assignment per (item, fallback story key), in order. `fingerprints`, when given,
    are the items' fingerprints (computed once by the caller for the band lookup). `now`, when
    given, is the poll's time: a feed's own wording indexed `RETELL_AFTER` before it and not
    repeated word for word rules its story out (see the module docstring)."""
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
        near = sorted({i for band in fp.bands for i in by_band.get(band, ())})
        retold = _retold(item.feed_id, fp, [pool[i] for i in near], now)
        for i in near:
            if pool[i].story_key in retold:
                continue
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


def _retold(
    feed_id: str, fp: StoryFingerprint, near: Sequence[StoryCandidate], now: datetime | None
) -> set[str]:
    """The stories this feed told in other words at least `RETELL_AFTER` before `now`."""
    if now is None:
        return set()
    return {
        c.story_key
        for c in near
        if c.feed_id == feed_id
        and c.first_seen is not None
        and now - c.first_seen >= RETELL_AFTER
        and similarity(fp, c.fingerprint) < 1.0
    }
