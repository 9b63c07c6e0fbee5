"""The store methods that read the same on both databases, written once. Pure.

`Statements` is a base of SQLiteStore and PostgresStore: each method here is one statement of
monitor.store.sql (`?` placeholders), a few in one transaction, or the poll's writes of
monitor.store.commit; each store supplies how it runs them and how it writes and reads a time.
What differs per dialect (claims, `IN` lists against arrays, syncing feeds, pruning,
coordination's named parameters) stays in the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from monitor.model import (
    ArchivedItem,
    FeedState,
    FeedUpdate,
    Label,
    NewAlert,
    OutboxRow,
    SeenItem,
    StorySource,
)
from monitor.store import commit
from monitor.store import sql as q
from monitor.store import stories as st
from monitor.store.archive_rows import split_categories
from monitor.store.common import DISABLED_PREFIX, json_value, lease_extra, utc
from monitor.store.stories import Row

EARLIEST = datetime.min.replace(tzinfo=UTC)

Statement = tuple[str, Sequence[Any]]


def _owed(value: Any) -> tuple[str, ...] | None:
    """alerts.owed_to (JSON text on both databases) as the recipients it names."""
    owed = json_value(value, None)
    return None if owed is None else tuple(str(address) for address in owed)


class Statements:
    """Shared methods over the store's `_read`, `_change`, `_change_all`, `_param`, `_time`."""

    # The store's own (each raises StoreError when the database fails):
    # the rows of one query (`?` placeholders), read by column name;
    _read: Callable[..., Sequence[Row]]
    # one writing statement as its own transaction: how many rows it changed;
    _change: Callable[[str, Sequence[Any]], int]
    # writing statements in ONE transaction, in order: the rows each changed;
    _change_all: Callable[[Sequence[Statement]], list[int]]
    # the same, kept only if every statement changed a row (else rolled back: False);
    _change_every: Callable[[Sequence[Statement]], bool]
    # a time as the database stores it, and a stored time (or NULL) as an aware UTC datetime
    # (the names monitor.store.console_sql uses too).
    _param: Callable[[datetime], Any]
    _time: Callable[[Any], datetime | None]
    # one transaction for a poll's writes (monitor.store.commit), committed when the block ends.
    _poll_writes: Callable[[], AbstractContextManager[commit.PollWrites]]

    # -- rows ------------------------------------------------------------------------------------
    def _feed(self, r: Row) -> FeedState:
        return FeedState(
            id=r["id"], url=r["url"], name=r["name"], tags=tuple(json_value(r["tags"], [])),
            interval_s=r["interval_s"], backfill_s=r["backfill_s"], etag=r["etag"],
            last_modified=r["last_modified"], body_hash=r["body_hash"],
            next_poll_at=self._time(r["next_poll_at"]),
            last_fetch_at=self._time(r["last_fetch_at"]),
            last_success_at=self._time(r["last_success_at"]), status=r["status"],
            last_error=r["last_error"], error_kind=r["error_kind"], error_count=r["error_count"],
            baseline_done=bool(r["baseline_done"]), title=r["title"],
        )  # fmt: skip

    def _alert(self, r: Row) -> OutboxRow:
        return OutboxRow(
            id=r["id"], destination=r["destination"], story_key=r["story_key"],
            feed_id=r["feed_id"], item_key=r["item_key"], document=json_value(r["document"], {}),
            created_at=self._time(r["created_at"]) or EARLIEST, status=r["status"],
            attempts=r["attempts"], next_attempt_at=self._time(r["next_attempt_at"]),
            last_error=r["last_error"], delivered_at=self._time(r["delivered_at"]),
            extra=lease_extra(r["lease_owner"], self._time(r["lease_until"])),
            grouped_in=r["grouped_in"], owed_to=_owed(r["owed_to"]),
        )  # fmt: skip

    def _archived(self, r: Row) -> ArchivedItem:
        return ArchivedItem(
            feed_id=r["feed_id"], key=r["item_key"], story_key=r["story_key"],
            first_seen=self._time(r["first_seen"]) or EARLIEST, title=r["title"],
            summary=r["summary"], content=r["content"], link=r["link"], author=r["author"],
            categories=split_categories(r["categories"]), feed_title=r["feed_title"],
            published=self._time(r["published"]),
        )  # fmt: skip

    # -- feeds -----------------------------------------------------------------------------------
    def list_feeds(self) -> list[FeedState]:
        return [self._feed(r) for r in self._read(q.LIST_FEEDS)]

    def count_feeds_in_error(self) -> int:
        return int(self._read(q.COUNT_FEEDS_IN_ERROR)[0]["n"])

    def get_feed(self, feed_id: str) -> FeedState | None:
        rows = self._read(q.GET_FEED, (feed_id,))
        return self._feed(rows[0]) if rows else None

    def release_feed(self, feed_id: str, owner: str) -> None:
        self._change(q.RELEASE_FEED, (feed_id, owner))

    # -- seen items -------------------------------------------------------------------------------
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
        with self._poll_writes() as w:
            return commit.commit_poll(w, feed_id, owner, now, update, seen, alerts, sources,
                                      stories_since=stories_since, archive=archive,
                                      kept=kept, enqueued_to=enqueued_to)  # fmt: skip

    def commit_unchanged(self, owner: str, polls: Sequence[tuple[str, FeedUpdate]]) -> list[str]:
        if not polls:
            return []
        with self._poll_writes() as w:
            return commit.commit_unchanged(w, owner, polls)

    # -- stories ---------------------------------------------------------------------------------
    def list_stories(self, limit: int = 50) -> list[tuple[str, int]]:
        return [(r["story_key"], int(r["n"])) for r in self._read(st.LIST_STORIES, (limit,))]

    def add_story_sources(self, sources: Sequence[StorySource]) -> int:
        if not sources:
            return 0
        with self._poll_writes() as w:
            return w.insert_sources(sources)

    def list_story_sources(self, story_key: str) -> list[StorySource]:
        return [
            StorySource(r["story_key"], r["feed_id"], r["item_key"],
                        self._time(r["seen_at"]) or EARLIEST, r["url"], r["title"])
            for r in self._read(q.LIST_SOURCES, (story_key,))
        ]  # fmt: skip

    # -- archive -----------------------------------------------------------------------------------
    def archive_items(self, items: Sequence[ArchivedItem]) -> int:
        with self._poll_writes() as w:
            return w.insert_archive(items)

    # -- feedback --------------------------------------------------------------------------------
    def add_labels(self, labels: Sequence[Label]) -> int:
        return sum(self._change_all([
            (q.INSERT_LABEL, (x.feed_id, x.item_key, x.rule, x.relevant, x.who, self._param(x.at),
                              x.note, x.alert_id, x.title))
            for x in labels
        ]))  # fmt: skip

    def list_labels(self) -> list[Label]:
        return [
            Label(r["feed_id"], r["item_key"], r["rule_id"], bool(r["relevant"]), r["who"],
                  self._time(r["labelled_at"]) or EARLIEST, r["note"], r["alert_id"], r["title"])
            for r in self._read(q.LIST_LABELS)
        ]  # fmt: skip

    def archived_title(self, feed_id: str, item_key: str) -> str | None:
        rows = self._read(q.ARCHIVED_TITLE, (feed_id, item_key))
        return str(rows[0]["title"]) if rows else None

    def archived_feeds(self) -> list[str]:
        return [str(r["feed_id"]) for r in self._read(q.ARCHIVED_FEEDS)]

    # -- outbox ----------------------------------------------------------------------------------
    def mark_delivered(self, alert_id: str, owner: str, now: datetime) -> bool:
        t = self._param(now)
        return self._change(q.MARK_DELIVERED, (t, t, alert_id, owner)) == 1

    def schedule_retry(
        self, alert_id: str, owner: str, now: datetime, next_attempt_at: datetime, error: str
    ) -> bool:
        params = (self._param(next_attempt_at), error, alert_id, owner)
        return self._change(q.SCHEDULE_RETRY, params) == 1

    def dead_letter(self, alert_id: str, owner: str | None, now: datetime, error: str) -> bool:
        if owner is None:
            return self._change(q.DEAD_LETTER_ANY, (error, self._param(now), alert_id)) == 1
        return self._change(q.DEAD_LETTER, (error, self._param(now), alert_id, owner)) == 1

    def release_alert(self, alert_id: str, owner: str) -> None:
        self._change(q.RELEASE_ALERT, (alert_id, owner))

    def postpone_alert(self, alert_id: str, owner: str, until: datetime, note: str) -> bool:
        return self._change(q.POSTPONE_ALERT, (self._param(until), note, alert_id, owner)) == 1

    def window_alerts(self, destination: str, start: datetime, end: datetime) -> list[OutboxRow]:
        rows = self._read(q.WINDOW_ALERTS, (destination, self._param(start), self._param(end)))
        return [self._alert(r) for r in rows]

    def group_alerts(self, alert_ids: Sequence[str], note: str) -> bool:
        return self._change_every([(q.GROUP_ALERT, (note, aid)) for aid in alert_ids])

    def owe_recipients(self, alert_id: str, owner: str, owed: Sequence[str], note: str) -> bool:
        params = (json.dumps(list(owed)), note, alert_id, owner)
        return self._change(q.OWE_RECIPIENTS, params) == 1

    def settle_grouped(self, alert_ids: Sequence[str], now: datetime, note: str) -> int:
        t = self._param(now)
        return sum(self._change_all([(q.SETTLE_GROUPED, (t, t, note, aid)) for aid in alert_ids]))

    # -- deliveries ------------------------------------------------------------------------------
    def list_alerts(self, status: str | None = None, limit: int = 100) -> list[OutboxRow]:
        if status is None:
            rows = self._read(q.LIST_ALERTS.format(where=""), (limit,))
        else:
            rows = self._read(q.LIST_ALERTS.format(where="WHERE status = ?"), (status, limit))
        return [self._alert(r) for r in rows]

    def get_alert(self, alert_id: str) -> OutboxRow | None:
        rows = self._read(q.GET_ALERT, (alert_id,))
        return self._alert(rows[0]) if rows else None

    def pending_destinations(self) -> list[str]:
        return [r["destination"] for r in self._read(q.PENDING_DESTINATIONS)]

    def outbox_stats(self, now: datetime) -> tuple[int, float | None]:
        row = self._read(q.OUTBOX_STATS, (self._param(now),))[0]
        oldest = self._time(row["oldest"])
        age = None if oldest is None else max(0.0, (utc(now) - oldest).total_seconds())
        return int(row["n"]), age

    # -- destinations ----------------------------------------------------------------------------
    def disable_destination(self, name: str, reason: str, now: datetime) -> int:
        t = self._param(now)
        return self._change_all([
            (q.DISABLE_DESTINATION, (name, reason, t)),
            (q.DEAD_LETTER_DESTINATION, (DISABLED_PREFIX + reason, t, name)),
        ])[-1]  # fmt: skip

    def disabled_destinations(self) -> dict[str, str]:
        return {r["name"]: r["reason"] for r in self._read(q.DISABLED)}

    def paused_destinations(self, now: datetime) -> dict[str, datetime]:
        rows = self._read(q.PAUSED_DESTINATIONS, (utc(now).timestamp(),))
        return {r["destination"]: datetime.fromtimestamp(r["updated_at"], UTC) for r in rows}

    def enable_destination(self, name: str) -> None:
        self._change(q.ENABLE_DESTINATION, (name,))
