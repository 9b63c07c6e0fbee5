"""The versioned alert document that every destination renders from. Pure.

One document per story and destination; it carries every rule the item matched for that
destination. Webhooks receive it as it is (schema: `monitor/schemas/alert-v1.json`, docs:
`docs/webhooks.md`); Slack renders it into Block Kit (`monitor.delivery.slack`).

Feed text is hostile: every string taken from a feed is bounded here, so a 1 MB title cannot make
a 1 MB alert, and lone surrogates are replaced so the document always encodes as UTF-8 JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.model import Item, Match

SCHEMA_VERSION = 1
ALERT_TYPE = "newsmon.alert"

TITLE_MAX = 1_000
SUMMARY_MAX = 2_000
SNIPPET_MAX = 600
URL_MAX = 2_048
NAME_MAX = 300
HITS_MAX = 100
ELLIPSIS = "…"


def alert_id(destination: str, story_key: str) -> str:
    """The idempotency key of the alert for this story at this destination.

    Deterministic, so a retry, a replay or a second worker that enqueues the same alert all carry
    the same `webhook-id`. `msg_` + the first 128 bits of sha256, in hex.
    """
    digest = hashlib.sha256(f"{destination}\x00{story_key}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def bounded(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters (ending in an ellipsis when cut), valid UTF-8."""
    if len(text) > limit:
        text = text[: limit - 1] + ELLIPSIS
    # Lone surrogates (possible in a str built from a broken feed) cannot be encoded as UTF-8.
    return text.encode("utf-8", "replace").decode("utf-8")


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("datetimes in an alert document must be timezone-aware")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_url(url: str | None) -> str | None:
    return bounded(url, URL_MAX) if url else None


def _explanation(match: Match) -> dict[str, Any]:
    data = match.explanation.to_json()
    data["clauses"] = [bounded(c, NAME_MAX) for c in data["clauses"][:HITS_MAX]]
    hits = data["hits"][:HITS_MAX]
    for hit in hits:
        for key in ("field", "word", "term"):
            hit[key] = bounded(hit[key], NAME_MAX)
    data["hits"] = hits
    if "similarity" in data:  # a rule with examples: the closest one, named by its first words
        data["similarity"]["example"] = bounded(data["similarity"]["example"], NAME_MAX)
    return data


def build_alert_document(
    item: Item,
    matches: Sequence[Match],
    *,
    alert_id: str,
    destination: str,
    created_at: datetime,
) -> dict[str, Any]:
    """The alert document (schema version 1) for `item` and the rules it matched.

    `matches` are the matches for this destination, in the order the rules should be listed;
    duplicate rules (same id) are listed once. Raises ValueError when there is no match.
    """
    if not matches:
        raise ValueError("an alert needs at least one match")
    unique: list[Match] = []
    seen: set[str] = set()
    for match in matches:
        if match.rule.id not in seen:
            seen.add(match.rule.id)
            unique.append(match)
    return {
        "version": SCHEMA_VERSION,
        "type": ALERT_TYPE,
        "id": alert_id,
        "destination": destination,
        "created_at": _iso(created_at),
        "rules": [
            {
                "id": m.rule.id,
                "name": bounded(m.rule.name, NAME_MAX),
                "severity": m.rule.severity,
                "tags": [bounded(t, NAME_MAX) for t in m.rule.tags],
            }
            for m in unique
        ],
        "item": {
            # With the feed id, the item key names the item to `newsmon feedback FEED/KEY`.
            "key": bounded(item.key, NAME_MAX),
            "title": bounded(item.title, TITLE_MAX),
            "url": _optional_url(item.url or item.link),
            "summary": bounded(item.summary, SUMMARY_MAX),
            "published": _iso(item.published) if item.published else None,
            "feed": {
                "id": item.feed_id,
                "title": bounded(item.feed_title, NAME_MAX),
                "url": _optional_url(item.feed_url),
            },
        },
        "matches": [
            {
                "rule": m.rule.id,
                "explanation": _explanation(m),
                "snippet": bounded(m.snippet, SNIPPET_MAX),
            }
            for m in unique
        ],
        "snippet": bounded(unique[0].snippet, SNIPPET_MAX),
    }
