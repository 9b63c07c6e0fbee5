"""The versioned alert document that every destination renders from. Pure.

One document per story and destination; it carries every rule the item matched for that
destination. Webhooks receive it as it is (schema: `monitor/schemas/alert-v1.json`, docs:
`docs/webhooks.md`); Slack renders it into Block Kit (`monitor.delivery.slack`).

Feed text is hostile: every string taken from a feed is bounded here, so a 1 MB title cannot make
a 1 MB alert, and lone surrogates are replaced so the document always encodes as UTF-8 JSON. The
whole document is bounded too (`ALERT_MAX`): an item that many rules match, each explained by up
to 100 hits, could otherwise outgrow what receivers accept (nginx refuses over 1 MB), be refused
on every attempt and be dead-lettered: an alert lost. Such a document is cut where it says least.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.delivery.jsonbody import encode_json
from monitor.model import Item, Match

SCHEMA_VERSION = 1
ALERT_TYPE = "newsmon.alert"

TITLE_MAX = 1_000
SUMMARY_MAX = 2_000
SNIPPET_MAX = 600
URL_MAX = 2_048
NAME_MAX = 300
HITS_MAX = 100
ALERT_MAX = 256 * 1024  # bytes of one alert's JSON; a quarter of nginx's default limit
SHORT_HITS = 10  # hits and clauses an explanation keeps in an alert cut to fit
_CUT_ROOM = 128  # bytes kept for the `cut` record itself
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
    return fitted(
        {
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
    )


def _size(value: dict[str, Any]) -> int:
    """Bytes of `value` as the webhook sends it."""
    return len(encode_json(value))


def fitted(document: dict[str, Any], limit: int = ALERT_MAX) -> dict[str, Any]:
    """`document` within `limit` bytes, cut where it says least, or unchanged when it fits.

    Each step is taken only when the one before did not fit: every explanation keeps its first
    `SHORT_HITS` hits and clauses; then the last matches' explanations and snippets are emptied
    (their rules stay listed), the first match's last; then the last rules and their matches are
    left out (the first always stays). `cut` says how many hits, explanations and rules were left
    out (hits of the explanations shown, explanations of the rules listed, rules), so a receiver
    knows that it sees less than matched.
    """
    if _size(document) <= limit:
        return document
    target = limit - _CUT_ROOM
    whole = document["matches"]
    matches = [_shortened(m) for m in whole]
    rules = list(document["rules"])
    size = _size(document | {"matches": matches})
    shown = len(matches)  # matches from here on are listed without their explanation
    while size > target and shown > 0:
        shown -= 1
        unexplained: dict[str, list[Any]] = {"clauses": [], "hits": []}
        bare = {"rule": matches[shown]["rule"], "explanation": unexplained, "snippet": ""}
        size -= _size(matches[shown]) - _size(bare)
        matches[shown] = bare
    while size > target and len(rules) > 1:
        size -= _size(rules.pop()) + _size(matches.pop()) + 2  # each with its comma
    hits = sum(
        len(w["explanation"]["hits"]) - len(m["explanation"]["hits"])
        for w, m in zip(whole[:shown], matches[:shown], strict=True)
    )
    cut = {
        "hits": hits,
        "explanations": len(matches) - shown,
        "rules": len(whole) - len(matches),
    }
    return document | {"rules": rules, "matches": matches, "cut": cut}


def _shortened(entry: dict[str, Any]) -> dict[str, Any]:
    explanation = entry["explanation"]
    short = explanation | {
        "clauses": explanation["clauses"][:SHORT_HITS],
        "hits": explanation["hits"][:SHORT_HITS],
    }
    return entry | {"explanation": short}
