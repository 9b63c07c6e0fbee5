"""Builders shared by the deliverer tests: a real SQLite store with alerts in its outbox."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from monitor.clock import Clock
from monitor.delivery.deliverer import Deliverer
from monitor.delivery.destinations import Destination
from monitor.delivery.document import alert_id, build_alert_document
from monitor.model import (
    Explanation,
    FeedSpec,
    FeedUpdate,
    Hit,
    Item,
    Match,
    NewAlert,
    OutboxRow,
    Rule,
)
from monitor.store.base import Store
from monitor.store.roles import Deliveries
from monitor.store.sqlite import SQLiteStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def open_sqlite(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    store.migrate()
    return store


def document(destination: str, story: str, title: str | None = None) -> dict[str, Any]:
    item = Item(
        feed_id="f1",
        key=f"item-{story}",
        title=title or f"Story {story}: troops <dispatched> & more",
        summary="Summary text.",
        url=f"https://example.com/{story}",
        published=T0,
        feed_title="Wire",
        feed_url="https://example.com/feed.xml",
    )
    hit = Hit("title", "dispatched", "dispatch", 2, 10, 20)
    rules = [Rule(id="troops", name="Troops", severity="high"), Rule(id="sf", name="SF")]
    matches = [Match(r, Explanation(("dispatch",), (hit,)), "troops **dispatched**") for r in rules]
    return build_alert_document(
        item,
        matches,
        alert_id=alert_id(destination, story),
        destination=destination,
        created_at=T0,
    )


def enqueue(
    store: Store,
    now: datetime,
    destination: str,
    stories: Sequence[str],
    titles: Mapping[str, str] | None = None,
    created_at: datetime | None = None,
) -> list[str]:
    """Put one alert per story for `destination` in the outbox (through commit_poll at `now`),
    with the titles given per story (default: a plain one), created at `created_at` (default
    `now`; earlier: a poll whose commit came late)."""
    store.sync_feeds([FeedSpec(id="f1", url="https://example.com/feed.xml")], now)
    claimed = store.claim_due_feeds(now, 1, timedelta(minutes=1), "poller")
    assert claimed, "the feed must be due to enqueue through commit_poll"
    alerts = [
        NewAlert(
            id=alert_id(destination, story),
            destination=destination,
            story_key=story,
            feed_id="f1",
            item_key=f"item-{story}",
            document=document(destination, story, (titles or {}).get(story)),
            created_at=created_at or now,
        )
        for story in stories
    ]
    update = FeedUpdate(status="ok", next_poll_at=now, fetched_at=now)
    store.commit_poll("f1", "poller", now, update, [], alerts)
    return [a.id for a in alerts]


def alert_row(store: Deliveries, alert_id: str) -> OutboxRow:
    """The outbox row of an alert that must be there."""
    row = store.get_alert(alert_id)
    assert row is not None, f"no alert {alert_id} in the outbox"
    return row


def plain_client() -> httpx.AsyncClient:
    # Loopback receivers: an unguarded client (the guard has its own tests, and one test
    # below goes through it). No env proxies, so traffic stays on 127.0.0.1.
    return httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(10.0))


def deliverer(
    store: Store,
    destinations: Mapping[str, Destination],
    clock: Clock,
    *,
    deadline: float = 2.0,
    lease: timedelta = timedelta(seconds=30),
    client_factory: Any = plain_client,
) -> Deliverer:
    return Deliverer(
        store=store,
        destinations=destinations,
        client_factory=client_factory,
        clock=clock,
        rng=random.Random(7),
        owner="deliverer-1",
        deadline=deadline,
        lease=lease,
    )
