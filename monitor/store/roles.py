"""The store's roles: one Protocol per concern, each what one kind of component uses. Pure.

`Store` (monitor.store.base) is all of them at once, which both SQLiteStore and PostgresStore
are; a component takes only the roles it calls, so its type says what it may touch:

    FeedSchedule  the schedule: feeds, their leases and poll state  (service, cycle, feeds CLI)
    SeenItems     seen keys, the story index, `commit_poll`         (the poller, feedback)
    Stories       sightings of stories                              (stories CLI)
    Outbox        alerts being delivered: claim, settle, rates      (the deliverer)
    Destinations  disabled or paused destinations                  (the deliverer, deliveries CLI)
    Deliveries    the outbox as an operator sees it                 (deliveries CLI, /metrics)
    Archive       archived items                                    (archive import, backtest)
    Labels        feedback labels                                   (feedback, backtest)
    Coordination  holders, leader leases, readiness                 (lifeline, /readyz)
    Upkeep        schema, pruning, closing                          (bootstrap, housekeeping)
    ConsoleReads  feed health, alerts per rule per day              (the console)

Every method takes `now` from the caller's clock: the store never reads the time itself.
Every method raises `StoreError` (monitor.errors) when the database fails (unreachable, locked
past its timeout, a constraint it cannot keep); no driver exception leaves a store. Leases:
`claim_*` hands rows to one owner until `lease_until`; an expired lease (or one whose holder
stopped beating, see monitor.store.coord) may be taken over; a method that loses its lease
writes nothing and returns False (or 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from monitor.model import (
    ArchivedItem,
    FeedSpec,
    FeedState,
    FeedUpdate,
    Label,
    NewAlert,
    OutboxRow,
    SeenItem,
    StoryRecord,
    StorySource,
)
from monitor.store.common import SyncPlan
from monitor.store.console_sql import FeedHealth, RuleDay


class FeedSchedule(Protocol):
    """The schedule: each feed row carries `next_poll_at`, a lease, and its last poll's state."""

    def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> SyncPlan:
        """Make the configured feeds the active ones: insert new (due now), update url/name/tags/
        interval of known ones, deactivate those no longer configured (their state is kept).
        One transaction, so replicas syncing the same specs at once agree. Returns what it
        changed (a second sync of the same specs: nothing). Raises StoreError."""
        ...

    def list_feeds(self) -> list[FeedState]:
        """Every active feed, by id. Raises StoreError."""
        ...

    def count_feeds_in_error(self) -> int:
        """Active feeds whose last poll failed (for /metrics: cheap at 100k feeds).
        Raises StoreError."""
        ...

    def get_feed(self, feed_id: str) -> FeedState | None:
        """One feed, or None. Raises StoreError."""
        ...

    def claim_due_feeds(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        *,
        due_by: datetime | None = None,
    ) -> list[FeedState]:
        """Lease up to `limit` active feeds whose next_poll_at <= `due_by` (default `now`) and
        whose lease is free or expired (or its holder's heartbeat is), soonest due first. The
        lease runs from `now` and expiry is judged at `now` whatever `due_by` is: a cron run
        that polls every feed, due or not, must neither take a live holder's feed nor leave a
        lease years long when it is killed. Raises StoreError."""
        ...

    def release_feed(self, feed_id: str, owner: str) -> None:
        """Give back a lease without polling (shutdown). Raises StoreError."""
        ...


class SeenItems(Protocol):
    """The memory of a poll: seen item keys, the story index, and the poll's one commit.

    Unique keys (feed_id, item_key) for seen items and (destination, story_key) for alerts make
    a double alert impossible even when two workers poll the same feed."""

    def seen_keys(self, feed_id: str, keys: Sequence[str]) -> set[str]:
        """Which of these item keys of this feed are already seen. Raises StoreError."""
        ...

    def seen_kept(
        self, feed_id: str, keys: Sequence[str], stale_before: datetime
    ) -> dict[str, datetime | None]:
        """The keys of `seen_keys`, each with when its retention started (first seen, or last
        kept: `commit_poll`'s `kept`) when that is before `stale_before`, else None: a poll
        restarts the stale ones whose items it still finds. Raises StoreError."""
        ...

    def seen_hashes(self, feed_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The stored content hash (`SeenItem.title_hash`) of each of these keys already seen in
        this feed; an unseen key is absent. Lets a poll notice an edited item.
        Raises StoreError."""
        ...

    def known_stories(self, story_keys: Sequence[str], since: datetime) -> set[str]:
        """Which of these story keys were seen (in any feed) at or after `since`.
        Raises StoreError."""
        ...

    def story_candidates(self, bands: Sequence[str], since: datetime) -> list[StoryRecord]:
        """The stories of the story index that have any of these LSH band keys and were last seen
        at or after `since`, each with the band keys it matched (monitor.dedup).
        Raises StoreError."""
        ...

    def commit_poll(
        self,
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
        """In ONE transaction, so a crash can neither lose an alert nor create it twice: settle
        the stories this poll founded (`SeenItem.new_story`) against the stories committed since
        its lookup, archive the poll's new items (`archive`, under their settled story keys; an
        archived (feed, key) is kept), insert the seen keys (one already there keeps its row but
        takes the new `title_hash`: an edit), index each seen item that carries a fingerprint
        under its story key and this feed (its bands; a story already indexed for this feed is
        kept), mark every seen item's story as last seen now, restart the retention of the
        seen keys in `kept` at `now` (items still in the feed), insert the alerts (ignoring any
        whose (destination, story_key) or id already exists; an alert for a disabled destination
        goes straight to the dead letters) and the sightings (as `Stories.add_story_sources`),
        write the feed's new state (an "ok" poll, which parsed a changed document, also dates
        the feed's last parse: see `Upkeep.prune`) and release its lease. Returns how many
        alerts were newly enqueued, and adds them up per destination name in `enqueued_to` (for
        /metrics: fewer than the poll planned when settling or a concurrent commit of the same
        story left some out). If `owner` no longer holds the lease, nothing is written and 0
        is returned.

        Settling (monitor.dedup.settle): under a lock on the founded stories' band keys, the
        index is read again for the story wordings sharing a band key with them and indexed at
        or after `stories_since` (the poll's lookup; default: `now` - `SETTLE_MARGIN`, see
        monitor.store.stories); a founded story that is the same story as one of them joins it:
        its seen items and sightings take that story's key, and its alerts are not enqueued.
        Commits whose founded stories share no band key do not wait for each other.

        Raises StoreError (nothing of the poll is written then), also for an alert document
        that is not JSON or a band key that is not 12 hex digits."""
        ...

    def commit_unchanged(self, owner: str, polls: Sequence[tuple[str, FeedUpdate]]) -> list[str]:
        """In ONE transaction, the new state of each (feed id, update) of polls that found
        nothing new (a 304, or the body parsed last time), written and its lease released as
        `commit_poll` would with no seen key, alert, sighting or archive row; a feed whose lease
        `owner` no longer holds is left alone. Returns the ids written. Raises StoreError
        (nothing of the batch is written then: those feeds are polled again when their leases
        expire)."""
        ...


class Stories(Protocol):
    """Sightings: which feeds carried a story, for `newsmon stories`."""

    def add_story_sources(self, sources: Sequence[StorySource]) -> int:
        """Record sightings of stories (ignoring any (story_key, feed_id, item_key) already
        there). Returns how many were newly recorded. Raises StoreError."""
        ...

    def list_story_sources(self, story_key: str) -> list[StorySource]:
        """Every recorded sighting of a story, earliest first. Raises StoreError."""
        ...

    def list_stories(self, limit: int = 50) -> list[tuple[str, int]]:
        """(story key, number of sightings) of the stories with recorded sightings, the most
        recently sighted first (for `newsmon stories list`). Raises StoreError."""
        ...


class Outbox(Protocol):
    """What a deliverer does with the alerts it delivers: claim them, settle each one, and take
    from the rate bucket that every process delivering to a destination shares."""

    def claim_due_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        owner: str,
        destinations: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        """Lease up to `limit` pending alerts whose next_attempt_at <= now, oldest first
        (optionally only for the given destinations; never for a disabled one).
        Raises StoreError."""
        ...

    def mark_delivered(self, alert_id: str, owner: str, now: datetime) -> bool:
        """Mark a leased alert delivered; False if `owner` lost the lease. Raises StoreError."""
        ...

    def schedule_retry(
        self, alert_id: str, owner: str, now: datetime, next_attempt_at: datetime, error: str
    ) -> bool:
        """Count a failed attempt and make the alert due again at `next_attempt_at`; False if
        `owner` lost the lease. Raises StoreError."""
        ...

    def dead_letter(self, alert_id: str, owner: str | None, now: datetime, error: str) -> bool:
        """Move an alert to the dead letters (owner None: regardless of lease); False if it was
        not ours (or not pending). Raises StoreError."""
        ...

    def release_alert(self, alert_id: str, owner: str) -> None:
        """Give back a lease without an attempt (shutdown, rate limit). Raises StoreError."""
        ...

    def postpone_alert(self, alert_id: str, owner: str, until: datetime, note: str) -> bool:
        """Make a leased alert due again at `until` without counting an attempt (storm folding
        holds it to the end of its window); `note` goes in last_error. Raises StoreError."""
        ...

    def window_alerts(self, destination: str, start: datetime, end: datetime) -> list[OutboxRow]:
        """Every alert of `destination` created in [start, end), any status, oldest first.
        Raises StoreError."""
        ...

    def group_alerts(self, alert_ids: Sequence[str], note: str) -> bool:
        """Record that the grouped message `note` names (a digest or fold, or a part of one)
        carries `alert_ids`, before its first post: all of them in one transaction, or none
        (False) when one is no longer pending or is recorded in another message already.
        `replay` forgets it. Raises StoreError."""
        ...

    def owe_recipients(self, alert_id: str, owner: str, owed: Sequence[str], note: str) -> bool:
        """Record the email recipients still owed a leased alert (`owed`, in order; empty:
        none) after an attempt that some of them took or refused for good, with `note` in
        last_error; False if `owner` lost the lease. Its next attempt goes to those alone, and
        `replay` keeps them: no recipient gets it twice. Raises StoreError."""
        ...

    def settle_grouped(self, alert_ids: Sequence[str], now: datetime, note: str) -> int:
        """Mark `alert_ids` delivered (a grouped message carried them; the one whose lease sent
        it may be marked already), regardless of lease, dead ones left alone; `note` goes in
        last_error. Returns how many. Raises StoreError."""
        ...

    def take_tokens(
        self, destination: str, now: datetime, rate: float, burst: float, want: int
    ) -> tuple[int, float]:
        """Take up to `want` tokens from the destination's shared bucket (created full).
        Returns (granted, seconds until the next whole token when fewer were granted).
        Raises StoreError."""
        ...


class Destinations(Protocol):
    """Destinations switched off (a permanent refusal) or paused (a Retry-After), for every
    process that delivers to them."""

    def disable_destination(self, name: str, reason: str, now: datetime) -> int:
        """Mark a destination disabled and dead-letter its pending alerts; returns how many.
        Raises StoreError."""
        ...

    def disabled_destinations(self) -> dict[str, str]:
        """name -> reason for every disabled destination. Raises StoreError."""
        ...

    def enable_destination(self, name: str) -> None:
        """Deliver to a disabled destination again (its dead letters stay dead until replayed).
        Raises StoreError."""
        ...

    def pause_destination(self, destination: str, until: datetime) -> None:
        """Empty the destination's shared bucket and refill it only from `until` on.
        Raises StoreError."""
        ...


class Deliveries(Protocol):
    """The outbox as an operator sees it: `newsmon deliveries`, /metrics, feedback's lookup."""

    def list_alerts(self, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """The newest alerts (of one status, or any). Raises StoreError."""
        ...

    def get_alert(self, alert_id: str) -> OutboxRow | None:
        """One alert, or None. Raises StoreError."""
        ...

    def replay(self, alert_ids: Sequence[str] | None, now: datetime) -> int:
        """Make dead alerts pending again with the same id (None: every dead alert). Returns the
        number replayed. Raises StoreError."""
        ...

    def outbox_stats(self, now: datetime) -> tuple[int, float | None]:
        """(pending count, age in seconds of the oldest pending alert that waits to be sent, or
        None): one held until a time ahead and never tried (a digest's period, a storm's
        window) is in the count, not the age. Raises StoreError."""
        ...

    def pending_destinations(self) -> list[str]:
        """The destinations that pending alerts wait for, sorted. Raises StoreError."""
        ...

    def paused_destinations(self, now: datetime) -> dict[str, datetime]:
        """name -> until for every destination paused past `now` (a 429's wait, from
        `Destinations.pause_destination`). Raises StoreError."""
        ...


class Archive(Protocol):
    """Archived items (monitor.archive): written by `commit_poll` and by imports, read back in
    row order by backtests."""

    def archive_items(self, items: Sequence[ArchivedItem]) -> int:
        """Archive items outside a poll (`newsmon archive import`): no seen key, no alert, no
        story index. An archived (feed, key) is kept as it is. Returns how many were new.
        Raises StoreError."""
        ...

    def read_archive(
        self,
        after: int,
        limit: int,
        since: datetime | None = None,
        feeds: Sequence[str] | None = None,
    ) -> list[tuple[int, ArchivedItem]]:
        """Up to `limit` archived items after the row number `after` (0: from the start), in row
        order, each with its row number (pass the last one back to read on): only those first
        seen at or after `since`, and of these feeds (None: every feed). Raises StoreError."""
        ...

    def count_archive(
        self, since: datetime | None = None, feeds: Sequence[str] | None = None
    ) -> int:
        """How many items the archive holds: of them, those `read_archive` with the same `since`
        and `feeds` would read. Raises StoreError."""
        ...

    def archived_title(self, feed_id: str, item_key: str) -> str | None:
        """The title of an archived item, or None when the archive does not have it (feedback
        on an item that was only archived, as `newsmon archive import` does).
        Raises StoreError."""
        ...

    def archived_feeds(self) -> list[str]:
        """The ids of the feeds the archive holds items of, sorted (a backtest's --feed that
        names none of them is told which there are): a scan of the archive's (feed_id,
        item_key) index. Raises StoreError."""
        ...


class Labels(Protocol):
    """Feedback labels: a person's verdict on an item for a rule, kept with their history."""

    def add_labels(self, labels: Sequence[Label]) -> int:
        """Record labels (each kept: history; one identical to a stored label in item, rule,
        time, person and verdict is ignored, so importing a set twice adds nothing). Returns how
        many were newly recorded. Raises StoreError."""
        ...

    def list_labels(self) -> list[Label]:
        """Every label, oldest first (the last one per item and rule is in force).
        Raises StoreError."""
        ...


class Coordination(Protocol):
    """The processes sharing one store (monitor.store.coord): heartbeats and leader leases."""

    def ping(self) -> bool:
        """True when the store answers (for /readyz). Never raises: False instead."""
        ...

    def beat_holder(self, owner: str, host: str, pid: int, now: datetime, until: datetime) -> None:
        """Register or renew a running daemon: its leases count as held until `until`.
        Raises StoreError."""
        ...

    def store_time(self) -> datetime | None:
        """The database server's clock, which replicas on several machines share; None where
        every process reads this machine's (SQLite). Raises StoreError."""
        ...

    def end_holder(self, owner: str, now: datetime) -> bool:
        """Mark a holder gone (a clean exit, or a dead process found): its leases are free now.
        False if it was not alive. Raises StoreError."""
        ...

    def live_holders(self, host: str, now: datetime) -> list[tuple[str, int]]:
        """(owner, pid) of every holder on `host` whose row has not expired. Raises StoreError."""
        ...

    def lead(self, job: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or keep the leader lease of `job` until `until`: True if `owner` holds it now
        (it was free, expired, ours, or its holder stopped beating). Raises StoreError."""
        ...


class Upkeep(Protocol):
    """The store itself: its schema, its retention, its connection."""

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest version (idempotent; replicas starting at
        once take turns). Raises StoreError."""
        ...

    def prune(
        self,
        now: datetime,
        retention: timedelta,
        story_window: timedelta | None = None,
        archive_retention: timedelta | None = None,
    ) -> int:
        """Delete story sources and delivered/dead alerts older than the retention window,
        seen keys older than it (first seen, or last kept) whose feed is inactive or gone or
        has since parsed a document more than `retention` after the key's time (a feed that
        answered 304 throughout keeps them: its document still has those items), indexed
        stories last seen before `story_window` (default: the retention), and archived items
        first seen before `archive_retention` (default: the retention; 0: all).
        Returns how many rows were deleted. Raises StoreError."""
        ...

    def clock_set_back(self, step: timedelta, now: datetime) -> int:
        """This machine's clock was set back by `step`: due times written before (a feed's next
        poll, a pending alert's next attempt, a rate bucket's refill start) are `step` early
        again, never before `now`; returns how many rows moved. PostgreSQL: nothing, its
        processes read the server's clock. Raises StoreError."""
        ...

    def close(self) -> None:
        """Close the connection (the store is not used afterwards)."""
        ...

    def hurry(self, wait_s: float) -> None:
        """From now on wait at most `wait_s` for another process's lock, if that is shorter than
        the wait so far (the daemon is stopping: a lease it cannot give back expires with its
        holder row). Never raises."""
        ...


class ConsoleReads(Protocol):
    """What the console reads beyond the `Store` methods it shares with the CLI."""

    def feed_health(self, since: datetime) -> list[FeedHealth]:
        """Every active feed, failing ones first, with the items first seen since `since`.
        Raises StoreError."""
        ...

    def story_sightings(self, story_keys: Sequence[str]) -> dict[str, list[StorySource]]:
        """The recorded sightings of each of these stories, earliest first (a story without
        any is absent). Raises StoreError."""
        ...

    def rule_days(self, since: datetime) -> list[RuleDay]:
        """Alerts (distinct stories) per rule per UTC day, of alerts created since `since`.
        Raises StoreError."""
        ...
