"""Settle a poll's new stories at commit time against stories committed since its lookup. Pure.

A poll looks up the story index (monitor.dedup.lookup) long before it commits: fetch, parse and
match come between. Two polls of the same story in two feeds, at the same time in one process or
in two, both find nothing and would each found the story under their own key: two alerts.
So the commit, holding a lock on the band keys of the stories it founds (PostgreSQL: an advisory
transaction lock per band key; SQLite: the one writer of BEGIN IMMEDIATE), reads the index again
for those band keys and calls

    merges = settle(founded, fresh candidates)         # <- here
    seen, alerts, sources = apply_merges(merges, ...)   # <- and here

A founded story that is the same story (`judge`) as one already committed (by the poll that
took the lock first) joins it: its items are filed under the winner's key and recorded as
sightings of it, its wording is indexed under the winner's key for its feed, and its alerts are
not enqueued, exactly as if the poll had found the winner in its lookup. The winner is the
committed story that scores best, as in `assign_stories`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.dedup.fingerprint import FingerprintError, StoryFingerprint
from monitor.dedup.match import DEFAULT_POLICY, MatchPolicy, judge
from monitor.dedup.resolve import StoryCandidate
from monitor.model import NewAlert, SeenItem, StorySource

# Advisory lock keys of band keys: a band key is 12 hex digits (48 bits), kept below this tag so
# that they cannot meet the store's other advisory lock keys (small constants).
BAND_LOCK_TAG = 0x5354 << 48


@dataclass(frozen=True, slots=True)
class Founded:
    """A story a poll founded: its key, its fingerprint and band keys."""

    story_key: str
    fingerprint: StoryFingerprint
    bands: tuple[str, ...]


def founded_stories(seen: Sequence[SeenItem]) -> list[Founded]:
    """The stories these seen items found (`SeenItem.new_story`), one per story key, in key
    order. An unreadable fingerprint (it was just encoded, so only a bug) founds nothing here:
    it is then committed as before, unsettled."""
    found: dict[str, Founded] = {}
    for s in seen:
        if not (s.new_story and s.fingerprint and s.bands) or s.story_key in found:
            continue
        try:
            fp = StoryFingerprint.from_bytes(s.fingerprint)
        except FingerprintError:
            continue
        found[s.story_key] = Founded(s.story_key, fp, s.bands)
    return [found[k] for k in sorted(found)]


def founded_bands(founded: Iterable[Founded]) -> list[str]:
    """The distinct band keys of the founded stories, sorted (the order the locks are taken in,
    so that two commits cannot deadlock)."""
    return sorted({band for f in founded for band in f.bands})


def band_lock_keys(bands: Iterable[str]) -> list[int]:
    """PostgreSQL advisory lock keys (bigint) of band keys, sorted."""
    return sorted({BAND_LOCK_TAG | int(band, 16) for band in bands})


def settle(
    founded: Sequence[Founded],
    fresh: Iterable[StoryCandidate],
    policy: MatchPolicy = DEFAULT_POLICY,
) -> dict[str, str]:
    """Founded story key -> the key of the committed story it joins, for each founded story that
    is the same story as a committed one sharing a band key with it. Candidates under a founded
    story's own key (another feed's item with the same canonical link) are no other story."""
    by_band: dict[str, list[StoryCandidate]] = defaultdict(list)
    for candidate in fresh:
        for band in candidate.bands:
            by_band[band].append(candidate)
    merges: dict[str, str] = {}
    for f in founded:
        best: tuple[float, str] | None = None
        judged: set[tuple[str, str]] = set()
        for band in f.bands:
            for c in by_band.get(band, ()):
                if c.story_key == f.story_key or (c.story_key, c.feed_id) in judged:
                    continue
                judged.add((c.story_key, c.feed_id))
                verdict = judge(f.fingerprint, c.fingerprint, policy)
                # Best similarity wins; a tie goes to the smaller key, so the outcome does not
                # depend on the order the store returned the rows in.
                if verdict.same and (
                    best is None
                    or verdict.similarity > best[0]
                    or (verdict.similarity == best[0] and c.story_key < best[1])
                ):
                    best = (verdict.similarity, c.story_key)
        if best is not None:
            merges[f.story_key] = best[1]
    return merges


def apply_merges(
    merges: Mapping[str, str],
    seen: Sequence[SeenItem],
    alerts: Sequence[NewAlert],
    sources: Sequence[StorySource],
) -> tuple[list[SeenItem], list[NewAlert], list[StorySource]]:
    """The poll's writes with each merged story filed under its winner: seen items and sightings
    take the winner's key (a wording keeps its fingerprint: it is indexed for this feed under the
    winner's key), alerts of merged stories are dropped (the winner's poll enqueued its own)."""
    if not merges:
        return list(seen), list(alerts), list(sources)
    out_seen = [
        replace(s, story_key=merges[s.story_key], new_story=False) if s.story_key in merges else s
        for s in seen
    ]
    out_alerts = [a for a in alerts if a.story_key not in merges]
    out_sources = [
        replace(s, story_key=merges[s.story_key]) if s.story_key in merges else s for s in sources
    ]
    return out_seen, out_alerts, out_sources
