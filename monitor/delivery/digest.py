"""Digests: one message per period grouping the period's alerts by rule. Pure (the deliverer
reads the period's alerts from the store and carries out the decision).

A period is either `every` long, aligned to the Unix epoch (`every: 1h` runs from :00 to :00),
or runs from one fixed local time to the next (`at: ["08:00", "17:00"]` in `timezone`). Every
alert of the destination is held until its period has ended (plus a grace for commits under
way); then one digest, with a fixed id (destination, period start) and fixed members (the
period's alerts), carries them all. A crash between sending it and recording it resends the
same digest with the same id. An alert committed after its period's digest went out is sent on
its own rather than in a second, different digest. A post's alerts are recorded before its first
attempt, and a retry sends exactly those again (monitor.delivery.parts.recorded_part): an alert
committed late into the period after a post that timed out does not join its resend.

A webhook digest whose body would pass `max_body` goes as parts (`digest_parts`): each a
digest document of its own with `digest_id`, `part` and `parts`, cut as a storm's fold is
(monitor.delivery.parts: the cut, and why a resend after a crash between parts is the same).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from monitor.plural import counted

TOP_ITEMS = 5  # per rule, in the text; the document lists every alert
SNIPPET_MAX = 4_000
NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class Digest:
    every: timedelta | None = None
    at: tuple[time, ...] = ()
    timezone: str = "UTC"
    max_body: int = MAX_BODY  # bytes of one webhook post; a larger digest goes as parts

    def period(self, when: datetime) -> tuple[datetime, datetime]:
        """The [start, end) period that `when` falls in."""
        if self.every is not None:
            size = self.every.total_seconds()
            start = datetime.fromtimestamp(when.timestamp() // size * size, tz=UTC)
            return start, start + self.every
        zone = ZoneInfo(self.timezone)
        day = when.astimezone(zone).date()
        # Compared in UTC: datetimes of one zone compare as wall clocks, which is wrong in the
        # hour a clock change repeats or skips. A local time that happens twice ends a period
        # the first time; one that never happens (02:30 in a spring gap) is read with the
        # offset before the change (03:30 summer time), as zoneinfo's fold=0 does. Two days
        # back: a time in a gap at the end of a day (23:30 in Nuuk, whose clocks go from 23:00
        # to 00:00) ends its period on the next day, after moments of that day, whose period
        # then began two local days back (with one, no period began before them: a ValueError
        # on every delivery run, and the destination's outbox stuck behind that alert).
        marks = sorted(
            {
                datetime.combine(day + timedelta(days=d), t, zone).astimezone(UTC)
                for d in (-2, -1, 0, 1)
                for t in self.at
            }
        )
        now = when.astimezone(UTC)
        start = max(m for m in marks if m <= now)
        end = min(m for m in marks if m > now)
        return start, end


def digest_id(destination: str, start: datetime) -> str:
    key = f"{destination}\x00digest\x00{int(start.timestamp())}"
    return "dig_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def join_within(lines: Sequence[str], limit: int) -> str:
    """Whole rule lines joined by ` · ` while they fit in `limit` characters, then how many
    rules are left out: the text is never cut in the middle of a rule without saying so."""
    text = ""
    for index, line in enumerate(lines):
        joined = f"{text} · {line}" if text else line
        left = len(lines) - index - 1
        reserve = len(_more_rules(left))
        if len(joined) + reserve <= limit:
            text = joined
            continue
        if text:
            return text + _more_rules(len(lines) - index)
        note = _more_rules(left)  # the first line alone is too long: cut it, count the rest
        return cut(line, limit - len(note)) + note
    return text


def _more_rules(count: int) -> str:
    return f" · and {counted(count, 'more rule')}" if count else ""


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def digest_document(
    destination: str, digest: Digest, start: datetime, end: datetime, rows: Sequence[OutboxRow]
) -> dict[str, Any]:
    """The digest as an alert-shaped document (type `newsmon.digest`): every channel renders
    its title and snippet; webhooks also get `groups` (per rule: count, every alert)."""
    return _document(destination, digest, start, end, rows, None)


def _document(
    destination: str,
    digest: Digest,
    start: datetime,
    end: datetime,
    rows: Sequence[OutboxRow],
    part: tuple[int, int] | None,
    heads: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The whole digest (`part` None), or part (index, count) of it carrying `rows`. `heads`
    keeps each alert's headline between the documents a cut measures (cutting is slow)."""
    heads = {} if heads is None else heads
    groups: dict[str, list[OutboxRow]] = {}
    names: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        rule = rule_of(row.document)
        groups.setdefault(rule, []).append(row)
        entry = next((r for r in row.document.get("rules", []) if r.get("id") == rule), None)
        names.setdefault(rule, entry or {"id": rule, "name": rule})
    order = sorted(groups, key=lambda rule: (-len(groups[rule]), rule))
    lines = []
    for rule in order:
        members = groups[rule]
        top = "; ".join(_headline(r, heads) for r in members[:TOP_ITEMS])
        more = f"; and {len(members) - TOP_ITEMS} more" if len(members) > TOP_ITEMS else ""
        name = cut(str(names[rule].get("name") or rule), NAME_MAX)
        lines.append(f"{name} ({len(members)}): {top}{more}")
    window = span(start, end, digest.timezone, dated=True)
    whole = digest_id(destination, start)
    alerts = counted(len(rows), "alert")
    ident, title = whole, f"Digest: {alerts}, {window}"
    if part is not None:
        index, count = part
        ident = part_id(whole, index, count, [r.id for r in rows])
        title = f"Digest part {index} of {count}: {alerts}, {window}"
    document: dict[str, Any] = {
        "version": 1,
        "type": "newsmon.digest",
        "id": ident,
        "destination": destination,
        "created_at": _iso(end),
        "rules": [names[rule] for rule in order],
        "item": {
            "key": ident,
            "title": title,
            "url": None,
            "summary": "",
            "published": _iso(end),
            "feed": {"id": "newsmon", "title": "digest", "url": None},
        },
        "matches": [],
        "snippet": join_within(lines, SNIPPET_MAX),
        "window": {"start": _iso(start), "end": _iso(end)},
        "groups": [
            {
                "rule": rule,
                "name": names[rule].get("name") or rule,
                "count": len(groups[rule]),
                "alerts": [alert_entry(r) for r in groups[rule]],
            }
            for rule in order
        ],
    }
    if part is not None:  # additive: a receiver that knows no parts reads a digest as ever
        document |= {"digest_id": whole, "part": part[0], "parts": part[1]}
    return document


def _headline(row: OutboxRow, heads: dict[str, str]) -> str:
    if row.id not in heads:
        heads[row.id] = headline(alert_title(row))
    return heads[row.id]


# -- parts: a webhook digest over `max_body` ---------------------------------------------------


def digest_parts(
    destination: str,
    digest: Digest,
    start: datetime,
    end: datetime,
    rows: Sequence[OutboxRow],
    *,
    sent: int = 0,
    max_body: int | None = None,
    recorded: str | None = None,
) -> list[Part]:
    """The posts that carry `rows`, the period's alerts not yet sent, when `sent` parts went
    already. With `max_body` (webhooks) each post's body fits in it: the alerts in order, each
    part as many as fit (at least one; one alone too large has its title cut). Without it
    (channels render a text of their own), one post. With `recorded` (the note `rows` were
    recorded with before a first post that was not confirmed): that post again, as it was."""
    heads: dict[str, str] = {}

    def build(chunk: Sequence[OutboxRow], part: tuple[int, int] | None) -> dict[str, Any]:
        return _document(destination, digest, start, end, chunk, part, heads)

    def only_entry(document: dict[str, Any]) -> dict[str, Any]:
        [group] = document["groups"]
        [entry] = group["alerts"]
        found: dict[str, Any] = entry  # the document's own: cutting its title cuts the post's
        return found

    whole = digest_id(destination, start)
    return cut_in_parts(
        whole, rows, build, only_entry, sent=sent, max_body=max_body, recorded=recorded
    )
