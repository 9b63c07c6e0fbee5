"""Pieces both stores share: JSON documents, UTC times, outbox row extras. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.errors import StoreError
from monitor.model import FeedSpec, FeedUpdate

DISABLED_PREFIX = "destination disabled: "

# The largest number of bound parameters we put in one `IN (...)` list (SQLite's old limit was 999).
CHUNK = 500


def utc(when: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def dump_document(alert_id: str, document: dict[str, Any]) -> str:
    """The alert document as JSON text; a document that is not JSON is a StoreError that names
    the alert (raised inside the poll's transaction, so nothing of the poll is kept)."""
    try:
        return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise StoreError(f"alert {alert_id}: its document is not JSON-serialisable: {e}") from e


def load_json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    return json.loads(text)


def json_value(value: Any, default: Any) -> Any:
    """A JSON column's value: SQLite gives its text, PostgreSQL (json, jsonb) the value."""
    if isinstance(value, str):
        return json.loads(value)
    return default if value is None else value


def lease_extra(owner: str | None, until: datetime | None) -> dict[str, Any]:
    """What OutboxRow.extra carries: the lease, for `newsmon deliveries list`."""
    if owner is None:
        return {}
    return {"lease_owner": owner, "lease_until": until.isoformat() if until else None}


def chunks(values: list[str], size: int = CHUNK) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def poll_values(
    update: FeedUpdate,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    baseline_done: bool,
) -> tuple[str | None, str | None, str | None, bool, bool]:
    """(etag, last_modified, body_hash, baseline_done, succeeded) to store after a poll.

    A failed poll keeps the validators it did not replace, and never completes the baseline:
    otherwise a new feed whose first poll fails would alert on every item of its second poll.
    """
    if update.status == "error":
        return (
            update.etag or etag,
            update.last_modified or last_modified,
            update.body_hash or body_hash,
            baseline_done,
            False,
        )
    return (
        update.etag,
        update.last_modified,
        update.body_hash,
        baseline_done or update.baseline_done,
        True,
    )


# What sync_feeds compares: (config_url, name, tags, interval_s, backfill_s, active) per feed id.
SYNC_COLUMNS = "SELECT id, config_url, name, tags, interval_s, backfill_s, active FROM feeds"
KnownFeed = tuple[str, str, list[str], float, float, bool]


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """The feeds `sync_feeds` inserts, updates and deactivates; `revived`: the ids among
    `updates` that were inactive (configured again after a removal, their state kept)."""

    inserts: list[FeedSpec]
    updates: list[FeedSpec]
    gone: list[str]
    revived: list[str]


def plan_sync(specs: Sequence[FeedSpec], known: Mapping[str, KnownFeed]) -> SyncPlan:
    """Which configured feeds to insert, which to update (only those that changed: a restart
    with 100,000 unchanged feeds writes nothing), and which active ones to deactivate.
    A repeated id: the last spec wins."""
    latest = {s.id: s for s in specs}
    inserts: list[FeedSpec] = []
    updates: list[FeedSpec] = []
    revived: list[str] = []
    for spec in latest.values():
        row = known.get(spec.id)
        wanted = (spec.url, spec.name, list(spec.tags), spec.interval_s, spec.backfill_s, True)
        if row is None:
            inserts.append(spec)
        elif row != wanted:
            updates.append(spec)
            if not row[5]:
                revived.append(spec.id)
    gone = sorted(i for i, row in known.items() if i not in latest and row[5])
    return SyncPlan(inserts, updates, gone, revived)
