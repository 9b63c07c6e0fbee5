"""The story index's SQL and encodings, and commit-time settling, shared by both stores. Pure.

A story row keeps its band keys once more, packed (6 bytes a key), so that pruning can delete the
story's `story_bands` rows by their primary key instead of scanning for its id. Band keys are
12 hex digits (monitor.dedup.fingerprint writes them so).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from monitor.errors import StoreError
from monitor.model import NewAlert, SeenItem, StoryRecord, StorySource

if TYPE_CHECKING:  # the story code is imported when a poll has new items (not for a 304 round)
    from monitor.dedup.settle import Founded

BAND_BYTES = 6

# How far before a poll's lookup its commit looks for story wordings indexed since (monitor.dedup.
# settle): others stamp `first_seen` with their clocks when their commit starts, which may be a
# little behind ours, and a commit may wait a moment for the lock before it is done. Not more:
# in a burst of similar stories every wording within it is read and judged under the lock.
SETTLE_MARGIN = timedelta(seconds=10)

STORY_CANDIDATES = """SELECT b.band, s.id, s.story_key, s.feed_id, s.fingerprint, s.first_seen,
    s.last_seen FROM story_bands b JOIN stories s ON s.id = b.story_id
    WHERE b.band IN ({marks}) AND s.last_seen >= ?"""

# The settling read: only wordings indexed since the lookup (the lookup judged the older ones),
# one row per story with its matching bands (similar stories share most of their 32 bands: a
# row per band would carry each fingerprint up to 32 times).
SETTLE_CANDIDATES = """SELECT s.id, s.story_key, s.feed_id, s.fingerprint, s.first_seen,
    s.last_seen, group_concat(b.band) AS bands FROM story_bands b
    JOIN stories s ON s.id = b.story_id
    WHERE b.band IN ({marks}) AND s.first_seen >= ? GROUP BY s.id"""

INSERT_STORY = """INSERT INTO stories (story_key, feed_id, fingerprint, bands, first_seen,
    last_seen) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (story_key, feed_id) DO NOTHING"""

INSERT_STORY_BAND = "INSERT INTO story_bands (band, story_id) VALUES (?, ?) ON CONFLICT DO NOTHING"

TOUCH_STORIES = """UPDATE stories SET last_seen = ?
    WHERE last_seen < ? AND story_key IN ({marks})"""

OLD_STORIES = "SELECT id, bands FROM stories WHERE last_seen < ? ORDER BY id LIMIT ?"

DELETE_STORY_BAND = "DELETE FROM story_bands WHERE band = ? AND story_id = ?"

LIST_STORIES = """SELECT story_key, count(*) AS n FROM story_sources GROUP BY story_key
    ORDER BY max(seen_at) DESC, story_key LIMIT ?"""

SEEN_HASHES = """SELECT item_key, title_hash FROM seen_items
    WHERE feed_id = ? AND item_key IN ({marks})"""


def pack_bands(story_key: str, bands: Sequence[str]) -> bytes:
    """The band keys as one blob; a key that is not 12 hex digits is a StoreError."""
    try:
        packed = b"".join(bytes.fromhex(band) for band in bands)
    except ValueError as e:
        raise StoreError(f"story {story_key}: band keys must be hex: {e}") from e
    if len(packed) != BAND_BYTES * len(bands):
        raise StoreError(f"story {story_key}: band keys must be {2 * BAND_BYTES} hex digits")
    return packed


def unpack_bands(packed: bytes) -> list[str]:
    return [packed[i : i + BAND_BYTES].hex() for i in range(0, len(packed), BAND_BYTES)]


class Row(Protocol):
    """A result row read by column name (sqlite3.Row, psycopg's dict rows)."""

    def __getitem__(self, key: str, /) -> Any: ...


def _records(
    first: dict[int, Row],
    matched: Mapping[int, Collection[str]],
    to_datetime: Callable[[Any], datetime],
) -> list[StoryRecord]:
    """One record per story id (its first row, its matched bands), by story key then id."""
    return [
        StoryRecord(r["story_key"], r["feed_id"], bytes(r["fingerprint"]),
                    tuple(sorted(matched[key])),
                    to_datetime(r["first_seen"]), to_datetime(r["last_seen"]))
        for key, r in sorted(first.items(), key=lambda kv: (kv[1]["story_key"], kv[0]))
    ]  # fmt: skip


def candidate_records(
    rows: Sequence[Row], to_datetime: Callable[[Any], datetime]
) -> list[StoryRecord]:
    """`STORY_CANDIDATES` rows (one per matching band) as one record per story, with the bands it
    matched, ordered by story key then id. `to_datetime` reads the store's timestamps."""
    matched: dict[int, list[str]] = {}
    first: dict[int, Row] = {}
    for r in rows:
        matched.setdefault(r["id"], []).append(r["band"])
        first.setdefault(r["id"], r)
    return _records(first, matched, to_datetime)


def grouped_records(
    rows: Sequence[Row], to_datetime: Callable[[Any], datetime]
) -> list[StoryRecord]:
    """`SETTLE_CANDIDATES` rows (one per story, its matched bands a list or comma-separated
    text; a story may come in several rows when the bands were asked in parts) as records."""
    matched: dict[int, set[str]] = {}
    first: dict[int, Row] = {}
    for r in rows:
        bands = r["bands"]
        matched.setdefault(r["id"], set()).update(bands.split(",") if isinstance(bands, str)
                                                   else bands)  # fmt: skip
        first.setdefault(r["id"], r)
    return _records(first, matched, to_datetime)


def settle_writes(
    records: Sequence[StoryRecord],
    founded: Sequence[Founded],
    seen: Sequence[SeenItem],
    alerts: Sequence[NewAlert],
    sources: Sequence[StorySource],
) -> tuple[list[SeenItem], list[NewAlert], list[StorySource]]:
    """A poll's writes, with its founded stories settled against `records` (the index as the
    commit reads it again, under the band locks): see monitor.dedup.settle."""
    from monitor.dedup.lookup import candidates
    from monitor.dedup.settle import apply_merges, settle

    merges = settle(founded, candidates(records))
    return apply_merges(merges, seen, alerts, sources)
