"""A poll's commit (`SeenItems.commit_poll`), written once for both stores. Pure.

The store opens the transaction and hands it in as `PollWrites`: one method a write, each the
dialect's statements (SQLite: a row at a time inside BEGIN IMMEDIATE; PostgreSQL: one statement
for all rows, arrays unnested). What is written, in which order, and what settles a founded
story is decided here:

    feed row (the lease)  ->  settle founded stories  ->  archive  ->  seen keys (new, kept)
    ->  story index + last seen  ->  alerts (dead at once for a disabled destination)
    ->  sightings  ->  the feed's new state, its lease released

`commit_unchanged` writes only the last step, for many polls that found nothing new at once.

Rows go in a fixed order (story keys, then alerts by destination, story key, id), so two
transactions writing the same stories cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from monitor.model import ArchivedItem, FeedUpdate, NewAlert, SeenItem, StoryRecord, StorySource
from monitor.store.archive_rows import with_story_keys
from monitor.store.common import DISABLED_PREFIX, dump_document, poll_values
from monitor.store.stories import SETTLE_MARGIN, Row, settle_writes


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as it is inserted: its document as JSON text, and pending, or dead at once
    (`error` says why: its destination is disabled)."""

    alert: NewAlert
    document: str
    status: str
    error: str | None

    @property
    def dead(self) -> bool:
        return self.status == "dead"


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """What the feed row takes after a poll (see common.poll_values): the validators kept or
    replaced, whether the baseline is done, and whether the poll succeeded."""

    update: FeedUpdate
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    baseline_done: bool
    succeeded: bool


def feed_poll_row(
    feed_id: str, poll: FeedPoll, stamp: Callable[[datetime], Any]
) -> tuple[Any, ...]:
    """The parameters of `sql.UPDATE_FEED_POLL` for one feed, in its order, each time as the
    dialect stores it (`stamp`): one list for both dialects and for one feed or a batch."""
    u = poll.update
    # Only a poll that parsed a changed document ("ok") moves `parsed_at` (see sql.PRUNE_SEEN).
    parsed = stamp(u.fetched_at) if u.status == "ok" else None
    return (u.status, stamp(u.next_poll_at), stamp(u.fetched_at),
            stamp(u.fetched_at) if poll.succeeded else None, parsed, poll.etag,
            poll.last_modified, poll.body_hash, u.error, u.error_kind, u.error_count, u.new_url,
            u.title, poll.baseline_done, feed_id)  # fmt: skip


class PollWrites(Protocol):
    """One open transaction of a store, for one poll's commit. Any method raises StoreError."""

    def feed_row(self, feed_id: str) -> Row | None:
        """The feed's `lease_owner`, `etag`, `last_modified`, `body_hash` and `baseline_done`,
        the row kept from other writers until the transaction ends (PostgreSQL: FOR UPDATE;
        SQLite: BEGIN IMMEDIATE already made this the only writer)."""
        ...

    def feed_rows(self, feed_ids: Sequence[str]) -> Mapping[str, Row]:
        """`feed_row` for many feeds at once (sorted ids), by id; a feed that is gone has no
        entry. PostgreSQL locks the rows in id order, so two batches cannot deadlock."""
        ...

    def fresh_stories(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        """Lock these band keys (sorted) until the transaction ends, then read the story
        wordings sharing any of them that were indexed at or after `since`: every one committed
        before the lock was taken is seen (PostgreSQL: advisory locks, then a statement of its
        own; SQLite: nothing to lock, no other writer runs)."""
        ...

    def insert_archive(self, items: Sequence[ArchivedItem]) -> int:
        """Archive these items (an archived (feed, key) is kept); how many were new."""
        ...

    def insert_seen(self, feed_id: str, now: datetime, seen: Sequence[SeenItem]) -> None:
        """Insert seen keys (one key each); one already there takes the new title hash."""
        ...

    def keep_seen(self, feed_id: str, now: datetime, keys: Sequence[str]) -> None:
        """Restart the retention of these seen keys (sorted) of this feed at `now` (`kept_at`)."""
        ...

    def index_stories(self, feed_id: str, now: datetime, stories: Sequence[SeenItem]) -> None:
        """Index these wordings (one per story key, each with a fingerprint) under this feed
        with their band keys; a story already indexed for this feed is kept as it is."""
        ...

    def touch_stories(self, story_keys: Sequence[str], now: datetime) -> None:
        """Mark these stories (sorted keys) as last seen `now`."""
        ...

    def disabled_destinations(self) -> dict[str, str]:
        """name -> reason for every disabled destination."""
        ...

    def insert_alerts(self, now: datetime, rows: Sequence[AlertRow]) -> list[str]:
        """Insert the alerts (due `now`; a dead one finished `now`), ignoring any whose id or
        (destination, story_key) exists already; the ids of those inserted."""
        ...

    def insert_sources(self, sources: Sequence[StorySource]) -> int:
        """Record sightings, ignoring any already recorded; how many were new."""
        ...

    def update_feed(self, feed_id: str, poll: FeedPoll) -> None:
        """Write the feed's state after the poll and release its lease."""
        ...

    def update_feeds(self, polls: Sequence[tuple[str, FeedPoll]]) -> None:
        """`update_feed` for many feeds (distinct ids), in one statement where the database
        can: a batch of a thousand unchanged feeds is not two thousand round trips."""
        ...


def alert_rows(alerts: Sequence[NewAlert], disabled: dict[str, str]) -> list[AlertRow]:
    """The alerts in insert order, each pending, or dead when its destination is disabled. A
    document that is not JSON is a StoreError naming the alert."""
    rows = []
    for a in sorted(alerts, key=lambda a: (a.destination, a.story_key, a.id)):
        reason = disabled.get(a.destination)
        status, error = ("dead", DISABLED_PREFIX + reason) if reason else ("pending", None)
        rows.append(AlertRow(a, dump_document(a.id, a.document), status, error))
    return rows


def story_wordings(seen: Sequence[SeenItem]) -> list[SeenItem]:
    """The wordings to index: the first item carrying a fingerprint of each story key, in key
    order."""
    first: dict[str, SeenItem] = {}
    for s in seen:
        if s.fingerprint and s.story_key not in first:
            first[s.story_key] = s
    return [first[k] for k in sorted(first)]


def _leased_row(w: PollWrites, feed_id: str, owner: str) -> Row | None:
    """The feed's row while `owner` holds its lease; None when the lease was lost (or never
    held): the new owner does this poll, and nothing of it is written."""
    row = w.feed_row(feed_id)
    return row if row is not None and row["lease_owner"] == owner else None


def commit_poll(
    w: PollWrites,
    feed_id: str,
    owner: str,
    now: datetime,
    update: FeedUpdate,
    seen: Sequence[SeenItem],
    alerts: Sequence[NewAlert],
    sources: Sequence[StorySource] = (),
    *,
    stories_since: datetime | None = None,
    archive: Sequence[ArchivedItem] = (),
    kept: Sequence[str] = (),
    enqueued_to: dict[str, int] | None = None,
) -> int:
    """`SeenItems.commit_poll` inside the store's open transaction `w`: see monitor.store.roles
    for what it writes. Returns how many alerts were newly enqueued (0 when `owner` lost the
    lease: nothing is written then), and adds them up per destination in `enqueued_to`."""
    row = _leased_row(w, feed_id, owner)
    if row is None:
        return 0
    # Imported at the first poll with new items: a round where every feed answers 304 commits
    # its feed rows elsewhere, and a poll that failed (or found nothing new) founds no story, so
    # neither needs the story code (about 15 ms to import).
    if seen:
        from monitor.dedup.settle import founded_bands, founded_stories

        founded = founded_stories(seen)
        if founded:
            fresh = w.fresh_stories(founded_bands(founded), stories_since or now - SETTLE_MARGIN)
            seen, alerts, sources = settle_writes(fresh, founded, seen, alerts, sources)
    w.insert_archive(with_story_keys(archive, seen))
    seen = list({s.key: s for s in seen}.values())  # one row per key: the last one wins
    if seen:
        w.insert_seen(feed_id, now, seen)
        wordings = story_wordings(seen)
        if wordings:
            w.index_stories(feed_id, now, wordings)
        w.touch_stories(sorted({s.story_key for s in seen}), now)
    if kept:
        w.keep_seen(feed_id, now, sorted(set(kept)))
    inserted = w.insert_alerts(now, alert_rows(alerts, w.disabled_destinations())) if alerts else []
    if sources:
        w.insert_sources(sources)
    w.update_feed(feed_id, feed_poll(update, row))
    if enqueued_to is not None and inserted:
        destination = {a.id: a.destination for a in alerts}
        for alert_id in inserted:
            name = destination[alert_id]
            enqueued_to[name] = enqueued_to.get(name, 0) + 1
    return len(inserted)


def feed_poll(update: FeedUpdate, row: Row) -> FeedPoll:
    """What the feed row (as `feed_row` read it) takes after a poll that learnt `update`."""
    etag, last_modified, body_hash, baseline_done, succeeded = poll_values(
        update, row["etag"], row["last_modified"], row["body_hash"], bool(row["baseline_done"])
    )
    return FeedPoll(update, etag, last_modified, body_hash, baseline_done, succeeded)


def commit_unchanged(
    w: PollWrites, owner: str, polls: Sequence[tuple[str, FeedUpdate]]
) -> list[str]:
    """`SeenItems.commit_unchanged` inside the store's open transaction `w`: each feed's state
    written as `commit_poll` writes it for a poll with no seen key, alert, sighting or archive
    row, in feed id order (PostgreSQL locks the rows in that order: two batches cannot
    deadlock). A feed whose lease `owner` lost is left alone. Returns the ids written."""
    # The first poll of a feed named twice wins: it releases the lease the second would need.
    first: dict[str, FeedUpdate] = {}
    for feed_id, update in polls:
        first.setdefault(feed_id, update)
    rows = w.feed_rows(sorted(first))
    writes = [
        (feed_id, feed_poll(first[feed_id], row))
        for feed_id, row in sorted(rows.items())
        if row["lease_owner"] == owner
    ]
    if writes:
        w.update_feeds(writes)
    return [feed_id for feed_id, _ in writes]
