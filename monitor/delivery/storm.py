"""Storm folding: past `max` alerts for one rule within a window, fold the rest into one message.
Pure (the deliverer reads the window's alerts from the store and carries out the decision).

Windows are fixed and aligned (`within` long, counted from the Unix epoch), so every process
decides alike. Within one destination's window, the alerts of a rule (its first rule) in the
order they were enqueued (created_at, then id): the first `max` are sent one by one; the rest are
held until the window ends and then go out as ONE message, "N more for rule X", listing them.
The folded alerts stay in the outbox and are marked delivered when that message is confirmed
(`last_error` names it): nothing is dropped, `deliveries list` shows each one.

The fold message has a fixed id (destination, rule, window start) and, once the window has
ended, fixed members, so a resend after a crash is the same message with the same id. Its members
are recorded before its first post, as a digest's are (monitor.delivery.parts.recorded_part): an
alert committed late into the window after a post that timed out does not join its resend.

A webhook fold whose body would pass `max_body` goes in parts (`fold_parts`), cut, named and
recorded as a digest's parts are (monitor.delivery.parts): each a `newsmon.fold` of its own with
`fold_id`, `part` and `parts`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.delivery.channels.markup import cut
from monitor.delivery.parts import (
    MAX_BODY,
    Part,
    alert_entry,
    alert_title,
    cut_in_parts,
    headline,
    part_id,
    rule_of,
    span,
)
from monitor.model import OutboxRow

LISTED_MAX = 20  # alerts named in the message text; the document lists every one
SNIPPET_MAX = 2_000
GRACE = timedelta(seconds=5)  # after a window ends, for commits already under way


@dataclass(frozen=True, slots=True)
class Storm:
    max: int
    within: timedelta
    max_body: int = MAX_BODY  # bytes of one webhook post; a larger fold goes in parts

    def window(self, when: datetime) -> tuple[datetime, datetime]:
        """The [start, end) window that `when` falls in."""
        size = self.within.total_seconds()
        start = datetime.fromtimestamp(when.timestamp() // size * size, tz=UTC)
        return start, start + self.within


def folded(row: OutboxRow, window_rows: Sequence[OutboxRow], storm: Storm) -> bool:
    """Whether `row` is past the first `max` alerts of its rule in its window."""
    return row.id in {r.id for r in members(rule_of(row.document), window_rows, storm)}


def members(rule: str, window_rows: Sequence[OutboxRow], storm: Storm) -> list[OutboxRow]:
    """The folded alerts of `rule` among the window's alerts: all but its first `max`."""
    same = sorted(
        (r for r in window_rows if rule_of(r.document) == rule), key=lambda r: (r.created_at, r.id)
    )
    return same[storm.max :]


def fold_id(destination: str, rule: str, start: datetime) -> str:
    key = f"{destination}\x00{rule}\x00{int(start.timestamp())}"
    return "fold_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fold_document(
    destination: str, rule: str, start: datetime, end: datetime, folded_rows: Sequence[OutboxRow]
) -> dict[str, Any]:
    """The fold message as an alert document (type `newsmon.fold`): every channel renders it
    like an alert (title, snippet, rules); webhooks also get `alerts`, every folded alert."""
    return _document(destination, rule, start, end, folded_rows, None)


def fold_parts(
    destination: str,
    rule: str,
    start: datetime,
    end: datetime,
    rows: Sequence[OutboxRow],
    *,
    sent: int = 0,
    max_body: int | None = None,
    recorded: str | None = None,
) -> list[Part]:
    """The posts that carry `rows`, the fold's alerts not yet sent, when `sent` parts went
    already: one fold, or with `max_body` (webhooks) parts that each fit, as a digest's. With
    `recorded` (the note `rows` were recorded with before a first post that was not
    confirmed): that post again, as it was."""

    def build(chunk: Sequence[OutboxRow], part: tuple[int, int] | None) -> dict[str, Any]:
        return _document(destination, rule, start, end, chunk, part)

    def only_entry(document: dict[str, Any]) -> dict[str, Any]:
        [entry] = document["alerts"]
        found: dict[str, Any] = entry  # the document's own: cutting its title cuts the post's
        return found

    whole = fold_id(destination, rule, start)
    return cut_in_parts(
        whole, rows, build, only_entry, sent=sent, max_body=max_body, recorded=recorded
    )


def _document(
    destination: str,
    rule: str,
    start: datetime,
    end: datetime,
    folded_rows: Sequence[OutboxRow],
    part: tuple[int, int] | None,
) -> dict[str, Any]:
    """The whole fold (`part` None), or part (index, count) of it carrying `folded_rows`."""
    first = folded_rows[0].document
    rule_entry = next((r for r in first.get("rules", []) if r.get("id") == rule), {"id": rule})
    name = str(rule_entry.get("name") or rule)
    titles = [alert_title(r) for r in folded_rows]
    listed = "; ".join(headline(t) for t in titles[:LISTED_MAX])
    more = len(titles) - LISTED_MAX
    tail = f"; and {more} more" if more > 0 else ""
    snippet = cut(listed, SNIPPET_MAX - len(tail)) + tail  # the count survives any cut
    window = span(start, end, "UTC", dated=False)
    whole = fold_id(destination, rule, start)
    ident, title = whole, f"{len(folded_rows)} more for rule {name} ({window})"
    if part is not None:
        ident = part_id(whole, part[0], part[1], [r.id for r in folded_rows])
        title = f"Fold part {part[0]} of {part[1]}: {title}"
    document: dict[str, Any] = {
        "version": 1,
        "type": "newsmon.fold",
        "id": ident,
        "destination": destination,
        "created_at": _iso(end),
        "rules": [rule_entry],
        "item": {
            "key": ident,
            "title": title,
            "url": None,
            "summary": "",
            "published": _iso(end),
            "feed": {"id": "newsmon", "title": "storm folding", "url": None},
        },
        "matches": [],
        "snippet": snippet,
        "window": {"start": _iso(start), "end": _iso(end)},
        "alerts": [alert_entry(r) for r in folded_rows],
    }
    if part is not None:  # additive: a receiver that knows no parts reads a fold as ever
        document |= {"fold_id": whole, "part": part[0], "parts": part[1]}
    return document
