"""The store that SQLite and PostgreSQL both implement: every role at once. Pure (interface only).

The store is the schedule (each feed row carries `next_poll_at` and a lease), the memory (seen item
keys, story keys), the outbox (alerts waiting for delivery, with leases and retry times), the
archive and the feedback labels. Each concern is a role in monitor.store.roles, documented there
(what each method does, that it raises StoreError); a component takes the roles it uses, and
`Store` is for what holds them all (the bootstrap, the CLI commands that open a store).

Two promises rest on it:
- `commit_poll` writes a poll's seen keys, its alerts and the feed's new state in ONE transaction,
  so a crash can neither lose an alert nor create it twice;
- unique keys (feed_id, item_key) for seen items and (destination, story_key) for alerts make a
  double alert impossible even when two workers poll the same feed.
"""

from __future__ import annotations

from typing import Protocol

from monitor.store.roles import (
    Archive,
    ConsoleReads,
    Coordination,
    Deliveries,
    Destinations,
    FeedSchedule,
    Labels,
    Outbox,
    SeenItems,
    Stories,
    Upkeep,
)


class Store(
    FeedSchedule,
    SeenItems,
    Stories,
    Outbox,
    Destinations,
    Deliveries,
    Archive,
    Labels,
    Coordination,
    Upkeep,
    ConsoleReads,
    Protocol,
):
    """Every role of monitor.store.roles: what SQLiteStore and PostgresStore are."""
