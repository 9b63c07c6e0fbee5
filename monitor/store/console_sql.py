"""The console's reads (`ConsoleReads` in monitor.store.roles): feed health with items per day,
and alerts per rule per day. SQL for both stores (`?` placeholders; PostgreSQL's store rewrites
them), and the two mixins that SQLiteStore and PostgresStore take them from. Does I/O through the
store's `_read`.

Alerts per rule count stories, not rows: an alert goes to each destination as its own row, and
the daemon alerts a story once, so "alerts a rule sent" is its distinct story keys (as
`rules backtest` counts them). The rules of an alert are in its document (`rules[].id`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from monitor.model import StorySource
from monitor.net.urls import hide_url_secrets, shown_url

__all__ = [
    "FeedHealth",
    "PostgresConsoleReads",
    "RuleDay",
    "SQLiteConsoleReads",
]

_FEEDS = """SELECT f.id, f.url, f.name, f.title, f.status, f.last_success_at, f.last_fetch_at,
    f.error_kind, f.error_count, f.last_error, f.next_poll_at, f.interval_s,
    coalesce(n.items, 0) AS items
    FROM feeds f LEFT JOIN (SELECT feed_id, count(*) AS items FROM seen_items {index}
                            WHERE seen_at >= ? GROUP BY feed_id) n ON n.feed_id = f.id
    WHERE f.active
    ORDER BY CASE WHEN f.status = 'error' THEN 0 ELSE 1 END, f.id"""
# SQLite, without statistics, read the items per feed along the primary key (feed_id, item_key)
# to save the GROUP BY its sort: every seen item of `retention` (90 days), not those of the
# window (7), so the Feeds page grew with the days kept (10,000 feeds, 3 million seen items:
# 0.9 s, 0.22 s on the seen_at index). PostgreSQL chooses by its statistics.
_FEEDS_SQLITE = _FEEDS.format(index="INDEXED BY seen_items_seen_at")
_FEEDS_POSTGRES = _FEEDS.format(index="")

SIGHTINGS_CHUNK = 500
_SIGHTINGS = """SELECT story_key, feed_id, item_key, url, title, seen_at FROM story_sources
    WHERE story_key IN ({marks}) ORDER BY seen_at, feed_id, item_key"""

_RULE_DAYS_SQLITE = """SELECT json_extract(r.value, '$.id') AS rule,
    CAST(a.created_at / 86400 AS INTEGER) AS day,
    count(DISTINCT a.story_key) AS alerts, max(a.created_at) AS last
    FROM alerts a, json_each(a.document, '$.rules') r
    WHERE a.created_at >= ?
    GROUP BY rule, day"""

_RULE_DAYS_POSTGRES = """SELECT r->>'id' AS rule,
    floor(extract(epoch FROM a.created_at) / 86400)::bigint AS day,
    count(DISTINCT a.story_key) AS alerts, max(a.created_at) AS last
    FROM alerts a, json_array_elements(a.document->'rules') r
    WHERE a.created_at >= ?
    GROUP BY 1, 2"""


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One active feed as the console's feeds page shows it."""

    id: str
    url: str
    name: str
    title: str
    status: str
    last_success_at: datetime | None
    last_fetch_at: datetime | None
    error_kind: str | None
    error_count: int
    last_error: str | None
    next_poll_at: datetime | None
    interval_s: float
    items: int  # items first seen since the `since` asked for


@dataclass(frozen=True, slots=True)
class RuleDay:
    """Alerts (stories) of one rule on one UTC day, and the newest alert's time that day."""

    rule: str
    day: date
    alerts: int
    last: datetime


def _day(value: Any) -> date:
    return datetime.fromtimestamp(int(value) * 86400, UTC).date()


class _Reads:
    """The shared part: the store supplies `_read` and how its times look."""

    _read: Callable[..., Sequence[Any]]  # the store's own: rows that take a column name

    def _param(self, when: datetime) -> Any:
        raise NotImplementedError

    def _time(self, value: Any) -> datetime | None:
        raise NotImplementedError

    _rule_days_sql = ""
    _feeds_sql = ""

    def feed_health(self, since: datetime) -> list[FeedHealth]:
        return [
            FeedHealth(
                id=r["id"],
                # Shown to every console reader: a feed URL's password or API key is not.
                url=shown_url(r["url"]),
                name=r["name"],
                title=r["title"],
                status=r["status"],
                last_success_at=self._time(r["last_success_at"]),
                last_fetch_at=self._time(r["last_fetch_at"]),
                error_kind=r["error_kind"],
                error_count=int(r["error_count"]),
                last_error=_shown_error(r["last_error"], r["url"]),
                next_poll_at=self._time(r["next_poll_at"]),
                interval_s=float(r["interval_s"]),
                items=int(r["items"]),
            )
            for r in self._read(self._feeds_sql, (self._param(since),))
        ]

    def story_sightings(self, story_keys: Sequence[str]) -> dict[str, list[StorySource]]:
        out: dict[str, list[StorySource]] = {}
        keys = list(dict.fromkeys(story_keys))
        for at in range(0, len(keys), SIGHTINGS_CHUNK):
            part = keys[at : at + SIGHTINGS_CHUNK]
            sql = _SIGHTINGS.format(marks=", ".join("?" * len(part)))
            for r in self._read(sql, part):
                seen = self._time(r["seen_at"])
                assert seen is not None  # NOT NULL
                out.setdefault(r["story_key"], []).append(
                    StorySource(
                        r["story_key"], r["feed_id"], r["item_key"], seen, r["url"], r["title"]
                    )
                )
        return out

    def rule_days(self, since: datetime) -> list[RuleDay]:
        out = []
        for r in self._read(self._rule_days_sql, (self._param(since),)):
            last = self._time(r["last"])
            if r["rule"] is None or last is None:
                continue
            out.append(RuleDay(str(r["rule"]), _day(r["day"]), int(r["alerts"]), last))
        return out


class SQLiteConsoleReads(_Reads):
    """SQLite: times are epoch seconds."""

    _rule_days_sql = _RULE_DAYS_SQLITE
    _feeds_sql = _FEEDS_SQLITE

    def _param(self, when: datetime) -> Any:
        return when.timestamp()

    def _time(self, value: Any) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(float(value), UTC)


class PostgresConsoleReads(_Reads):
    """PostgreSQL: times are timestamptz."""

    _rule_days_sql = _RULE_DAYS_POSTGRES
    _feeds_sql = _FEEDS_POSTGRES

    def _param(self, when: datetime) -> Any:
        return when

    def _time(self, value: Any) -> datetime | None:
        if value is None:
            return None
        when: datetime = value
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _shown_error(error: str | None, url: str) -> str | None:
    """A feed's last error without its URL's credentials (a row written before errors hid
    them may still hold them)."""
    return hide_url_secrets(error, url) if error else error
