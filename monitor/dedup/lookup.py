"""Find the stories of a poll's new items in the store's story index. Does I/O (one store read).

    new    = the parsed items whose keys the feed has not seen
    bands  = the LSH band keys of their fingerprints
    stored = store.story_candidates(bands, since=now - story_window)
    result = assign_stories(new items, stored)          # pure (monitor.dedup.resolve)

A stored fingerprint that cannot be read (written by a newer version) is skipped with a warning:
the worst outcome is a missed merge, never a crash of the poll.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from monitor.dedup.fingerprint import FingerprintError, StoryFingerprint, fingerprint
from monitor.dedup.match import DEFAULT_POLICY, MatchPolicy
from monitor.dedup.resolve import StoryAssignment, StoryCandidate, assign_stories, band_keys
from monitor.feeds.identity import story_key
from monitor.model import Item, StoryRecord

log = structlog.get_logger("newsmon.dedup")


class StoryIndex(Protocol):
    def story_candidates(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]: ...


def candidates(records: Sequence[StoryRecord]) -> list[StoryCandidate]:
    """The stored stories as candidates, skipping unreadable fingerprints."""
    out: list[StoryCandidate] = []
    for r in records:
        try:
            fp = StoryFingerprint.from_bytes(r.fingerprint)
        except FingerprintError as exc:
            log.warning("story_fingerprint_unreadable", story=r.story_key, error=str(exc))
            continue
        out.append(StoryCandidate(r.story_key, r.feed_id, fp, r.bands, r.first_seen))
    return out


def story_assignments(
    index: StoryIndex,
    items: Sequence[Item],
    seen_keys: Collection[str],
    now: datetime,
    window: timedelta,
    policy: MatchPolicy = DEFAULT_POLICY,
    shared: Collection[str] = (),
) -> dict[str, StoryAssignment]:
    """Item key -> its story, for every item of the poll whose key is not seen yet. `shared`:
    the document's links that name no article (`identity.shared_links`)."""
    new: dict[str, Item] = {}
    for item in items:
        if item.key not in seen_keys:
            new.setdefault(item.key, item)
    if not new:
        return {}
    fps = [fingerprint(item) for item in new.values()]
    bands = band_keys(fps)
    records = index.story_candidates(bands, now - window) if bands else []
    assigned = assign_stories(
        [(item, story_key(item, shared)) for item in new.values()],
        candidates(records),
        policy,
        fps,
        now,
    )
    return dict(zip(new, assigned, strict=True))
