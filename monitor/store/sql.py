"""SQL text shared by both stores, written with `?` placeholders (PostgreSQL: `pg()` turns them
into `%s`). Pure. Booleans are passed as Python bools; times as the store's own type (SQLite: epoch
seconds, PostgreSQL: timestamptz). Claims differ per dialect and live in each store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.model import FeedSpec


def pg(sql: str) -> str:
    """The same statement with psycopg placeholders (our SQL has no literal `?` or `%`)."""
    return sql.replace("?", "%s")


def dumps_tags(tags: Sequence[str]) -> str:
    return json.dumps(list(tags), ensure_ascii=False)


INSERT_FEED = """INSERT INTO feeds (id, url, config_url, name, tags, interval_s, backfill_s,
    next_poll_at, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, TRUE)"""

# A changed url in the config moves the feed; an unchanged one keeps a permanent redirect's url.
# A new url in the config is a new address: the old one's errors say nothing of it, so a feed
# backing off after them (a mistyped url, now fixed) is due at once and its backoff starts over,
# rather than waiting out hours of backoff earned by the typo; and the old address's validators
# are not sent to the new one (its If-Modified-Since could earn a 304 for a feed never read).
# Parameters: `update_feed_spec_args`.
UPDATE_FEED_SPEC = """UPDATE feeds SET name = ?, tags = ?, interval_s = ?, backfill_s = ?,
    active = TRUE,
    url = CASE WHEN config_url = ? THEN url ELSE ? END,
    next_poll_at = CASE WHEN config_url = ? OR error_count = 0 THEN next_poll_at ELSE ? END,
    error_count = CASE WHEN config_url = ? THEN error_count ELSE 0 END,
    etag = CASE WHEN config_url = ? THEN etag ELSE NULL END,
    last_modified = CASE WHEN config_url = ? THEN last_modified ELSE NULL END,
    config_url = ?
    WHERE id = ?"""


def update_feed_spec_args(spec: FeedSpec, now: object) -> tuple[object, ...]:
    """UPDATE_FEED_SPEC's parameters for `spec`; `now` as the store writes times."""
    url = spec.url
    tags = dumps_tags(spec.tags)
    return (spec.name, tags, spec.interval_s, spec.backfill_s, url, url, url, now, url, url, url,
            url, spec.id)  # fmt: skip


DEACTIVATE_FEED = "UPDATE feeds SET active = FALSE WHERE id = ?"

LIST_FEEDS = "SELECT * FROM feeds WHERE active ORDER BY id"

GET_FEED = "SELECT * FROM feeds WHERE id = ?"

COUNT_FEEDS_IN_ERROR = "SELECT count(*) AS n FROM feeds WHERE active AND status = 'error'"

RELEASE_FEED = """UPDATE feeds SET lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ?"""

POLL_FEED_ROW = """SELECT lease_owner, etag, last_modified, body_hash, baseline_done
    FROM feeds WHERE id = ?"""
# The same columns for many feeds at once (an unchanged batch), with the id, in id order.
POLL_FEED_ROWS = """SELECT id, lease_owner, etag, last_modified, body_hash, baseline_done
    FROM feeds WHERE id IN ({marks}) ORDER BY id"""

# A key seen before keeps its row; a new content hash (an edited item) replaces the old one.
INSERT_SEEN = """INSERT INTO seen_items (feed_id, item_key, story_key, published, title_hash,
    seen_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (feed_id, item_key) DO UPDATE
    SET title_hash = excluded.title_hash WHERE seen_items.title_hash <> excluded.title_hash"""

# A poll's seen keys with when their retention started, that time only when it is before the
# first parameter (the poll restarts those whose items it still finds: KEEP_SEEN). `{keys}`:
# `IN (?, ...)` on SQLite, `= ANY(?)` (an array) on PostgreSQL.
SEEN_KEPT = """SELECT item_key, CASE WHEN COALESCE(kept_at, seen_at) < ?
    THEN COALESCE(kept_at, seen_at) END AS stale FROM seen_items
    WHERE feed_id = ? AND item_key {keys}"""

KEEP_SEEN = "UPDATE seen_items SET kept_at = ? WHERE feed_id = ? AND item_key {keys}"

INSERT_ALERT = """INSERT INTO alerts (id, destination, story_key, feed_id, item_key, document,
    created_at, status, next_attempt_at, last_error, finished_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""

# `parsed_at` moves only for a poll that parsed a changed document (see PRUNE_SEEN).
UPDATE_FEED_POLL = """UPDATE feeds SET status = ?, next_poll_at = ?, last_fetch_at = ?,
    last_success_at = COALESCE(?, last_success_at), parsed_at = COALESCE(?, parsed_at),
    etag = ?, last_modified = ?, body_hash = ?,
    last_error = ?, error_kind = ?, error_count = ?, url = COALESCE(?, url),
    title = COALESCE(?, title), baseline_done = ?, lease_owner = NULL, lease_until = NULL
    WHERE id = ?"""

INSERT_SOURCE = """INSERT INTO story_sources (story_key, feed_id, item_key, url, title, seen_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""

LIST_SOURCES = """SELECT * FROM story_sources WHERE story_key = ?
    ORDER BY seen_at, feed_id, item_key"""

DISABLED = "SELECT name, reason FROM destinations WHERE disabled ORDER BY name"

# Only the lease holder may finish an attempt, and only while the alert is pending.
MARK_DELIVERED = """UPDATE alerts SET status = 'delivered', delivered_at = ?, finished_at = ?,
    attempts = attempts + 1, lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ? AND status = 'pending'"""

SCHEDULE_RETRY = """UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
    lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ? AND status = 'pending'"""

# With an owner, dead-lettering ends a failed attempt (counted); without, it is an admin action.
DEAD_LETTER = """UPDATE alerts SET status = 'dead', attempts = attempts + 1, last_error = ?,
    finished_at = ?, lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ? AND status = 'pending'"""

DEAD_LETTER_ANY = """UPDATE alerts SET status = 'dead', last_error = ?, finished_at = ?,
    lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND status = 'pending'"""

RELEASE_ALERT = """UPDATE alerts SET lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ? AND status = 'pending'"""

LIST_ALERTS = "SELECT * FROM alerts {where} ORDER BY created_at DESC, id LIMIT ?"

# Storm folding and digests (monitor.delivery.storm): hold an alert without counting an attempt,
# read a destination's window, and settle the alerts a grouped message carried.
POSTPONE_ALERT = """UPDATE alerts SET next_attempt_at = ?, last_error = ?,
    lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND lease_owner = ? AND status = 'pending'"""

WINDOW_ALERTS = """SELECT * FROM alerts WHERE destination = ? AND created_at >= ? AND created_at < ?
    ORDER BY created_at, id"""

SETTLE_GROUPED = """UPDATE alerts SET status = 'delivered',
    delivered_at = coalesce(delivered_at, ?), finished_at = coalesce(finished_at, ?),
    last_error = ?, lease_owner = NULL, lease_until = NULL
    WHERE id = ? AND status <> 'dead'"""

# A grouped message's alerts, recorded before its first post: each one still pending and in no
# other message (store.group_alerts runs them all in one transaction, or none).
GROUP_ALERT = """UPDATE alerts SET grouped_in = ?
    WHERE id = ? AND status = 'pending' AND grouped_in IS NULL"""

# An email alert's recipients still owed it (a JSON array) and why, by its lease holder alone.
OWE_RECIPIENTS = """UPDATE alerts SET owed_to = ?, last_error = ?
    WHERE id = ? AND lease_owner = ? AND status = 'pending'"""

# The error that made it a dead letter is kept, said to be the past: left as it was, a replayed
# alert read "pending ... destination disabled: HTTP 401" until its next attempt, as if the
# replay (or the enable before it) had not worked.
REPLAY = """UPDATE alerts SET status = 'pending', attempts = 0, next_attempt_at = ?,
    delivered_at = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL,
    grouped_in = NULL, last_error = 'replayed; it was: ' || coalesce(last_error, 'dead')
    WHERE status = 'dead' {only}"""

# The oldest counts the alerts that wait to be sent: not one held, never tried, until a time
# still ahead (a digest's period, a storm's window), which waits by design. Counted, a daily
# digest's first alert aged to a day, and the stuck-outbox alert of docs/metrics.md fired
# every day. A retried alert counts (attempts), so does one held past its time.
OUTBOX_STATS = """SELECT count(*) AS n,
    min(CASE WHEN attempts > 0 OR next_attempt_at IS NULL OR next_attempt_at <= ?
        THEN created_at END) AS oldest
    FROM alerts WHERE status = 'pending'"""

PENDING_DESTINATIONS = """SELECT DISTINCT destination FROM alerts WHERE status = 'pending'
    ORDER BY destination"""

GET_ALERT = "SELECT * FROM alerts WHERE id = ?"

# A bucket refilling from a time still ahead is a pause (store.pause_destination: a 429's wait).
# Both stores keep the bucket's times as epoch seconds.
PAUSED_DESTINATIONS = """SELECT destination, updated_at FROM rate_buckets WHERE updated_at > ?
    ORDER BY destination"""

DISABLE_DESTINATION = """INSERT INTO destinations (name, disabled, reason, changed_at)
    VALUES (?, TRUE, ?, ?)
    ON CONFLICT (name) DO UPDATE SET disabled = TRUE, reason = excluded.reason,
    changed_at = excluded.changed_at"""

ENABLE_DESTINATION = "UPDATE destinations SET disabled = FALSE, reason = '' WHERE name = ?"

DEAD_LETTER_DESTINATION = """UPDATE alerts SET status = 'dead', last_error = ?, finished_at = ?,
    lease_owner = NULL, lease_until = NULL
    WHERE destination = ? AND status = 'pending'"""

# A seen key's retention counts from `kept_at` (a poll found its item still in the feed) or else
# `seen_at`. A key past the retention is deleted once its feed is inactive or gone, or has parsed
# a document more than `retention` after the key's time: a poll restarts the key of an item it
# still finds once that time is `retention`/4 old (monitor.pipeline.decide), so such a document
# lacked the item. A feed answering 304 (the same document) keeps its keys. Parameters: the
# cutoff (now - retention) twice, then the retention (SQLite: seconds; PostgreSQL: an interval).
# `seen_at < ?` first: the seen_at index finds the candidates.
SEEN_PRUNABLE = """seen_at < ? AND (kept_at IS NULL OR kept_at < ?)
    AND NOT EXISTS (SELECT 1 FROM feeds f WHERE f.id = seen_items.feed_id AND f.active
                    AND (f.parsed_at IS NULL
                         OR f.parsed_at <= COALESCE(seen_items.kept_at, seen_items.seen_at) + ?))"""
PRUNE_SEEN = f"DELETE FROM seen_items WHERE {SEEN_PRUNABLE}"  # noqa: S608 (constants)
PRUNE_SOURCES = "DELETE FROM story_sources WHERE seen_at < ?"
PRUNE_ALERTS = "DELETE FROM alerts WHERE status IN ('delivered', 'dead') AND finished_at < ?"

INSERT_LABEL = """INSERT INTO feedback_labels (feed_id, item_key, rule_id, relevant, who,
    labelled_at, note, alert_id, title) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""

LIST_LABELS = """SELECT feed_id, item_key, rule_id, relevant, who, labelled_at, note, alert_id,
    title FROM feedback_labels ORDER BY labelled_at, id"""

ARCHIVED_TITLE = "SELECT title FROM archive WHERE feed_id = ? AND item_key = ?"

# The archive's feeds, read from its (feed_id, item_key) index: only when a backtest's --feed
# names one it holds no item of.
ARCHIVED_FEEDS = "SELECT DISTINCT feed_id FROM archive ORDER BY feed_id"
