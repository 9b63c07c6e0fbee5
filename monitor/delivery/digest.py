"""Digests: one message per period grouping the period's alerts by rule. Pure (the deliverer
reads the period's alerts from the store and carries out the decision).

A period is either `every` long, aligned to the Unix epoch (`every: 1h` runs from :00 to :00),
or runs from one fixed local time to the next (`at: ["08:00", "17:00"]` in `timezone`). Every
alert of the destination is held until its period has ended (plus a grace for commits under
way); then one digest, with a fixed id (destination, period start) and fixed members (the
period's alerts), carries them all. A crash between sending it and recording it resends the
same digest with the same id. An alert committed after its period's digest went out is sent on
its own rather than in a second, different digest.

A webhook digest whose body would pass `max_body` goes as parts (`digest_parts`): each a
digest document of its own with `digest_id`, `part` and `parts`, cut from the alerts in order,
each as many as fit. The cut depends only on the alerts still to send, so once part k is
recorded, cutting what is left gives parts k+1.. as before: a crash between parts resends only
the parts that were not recorded, each with its own id and body as before. A storm's fold over
`max_body` goes in parts the same way (`cut_in_parts`, storm.fold_parts).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.delivery.channels.markup import cut, cut_bytes
from monitor.delivery.jsonbody import encode_json
from monitor.delivery.storm import MAX_BODY as MAX_BODY  # the webhook post cap, shared with folds
from monitor.delivery.storm import headline, rule_of
from monitor.model import OutboxRow
from monitor.plural import counted

TOP_ITEMS = 5  # per rule, in the text; the document lists every alert
SNIPPET_MAX = 4_000
NAME_MAX = 100
ELLIPSIS_BYTES = "…".encode()
WIDEST_NUMBER = 999_999  # a part's index and count when measured: wider than any real one


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
        # offset before the change (03:30 summer time), as zoneinfo's fold=0 does.
        marks = sorted(
            {
                datetime.combine(day + timedelta(days=d), t, zone).astimezone(UTC)
                for d in (-1, 0, 1)
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


def _title(row: OutboxRow) -> str:
    return str((row.document.get("item") or {}).get("title") or "")


def _url(row: OutboxRow) -> object:
    return (row.document.get("item") or {}).get("url")


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
    zone = ZoneInfo(digest.timezone)
    span = f"{start.astimezone(zone):%Y-%m-%d %H:%M}–{end.astimezone(zone):%H:%M} {digest.timezone}"
    whole = digest_id(destination, start)
    alerts = counted(len(rows), "alert")
    ident, title = whole, f"Digest: {alerts}, {span}"
    if part is not None:
        index, count = part
        ident = part_id(whole, index, count, [r.id for r in rows])
        title = f"Digest part {index} of {count}: {alerts}, {span}"
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
                "alerts": [_entry(r) for r in groups[rule]],
            }
            for rule in order
        ],
    }
    if part is not None:  # additive: a receiver that knows no parts reads a digest as ever
        document |= {"digest_id": whole, "part": part[0], "parts": part[1]}
    return document


def _headline(row: OutboxRow, heads: dict[str, str]) -> str:
    if row.id not in heads:
        heads[row.id] = headline(_title(row))
    return heads[row.id]


def _entry(row: OutboxRow) -> dict[str, Any]:
    return {"id": row.id, "title": _title(row), "url": _url(row)}


# -- parts: a webhook digest over `max_body` ---------------------------------------------------

_PART_NOTE = re.compile(r", part (\d+) of (\d+) ")
_NOTE_LEADS = {"dig_": "in digest", "fold_": "folded into"}  # by the message's id


@dataclass(frozen=True, slots=True)
class Part:
    """One post of a digest or fold: its document, the alerts it carries, their note once sent."""

    document: dict[str, Any]
    members: list[str]
    note: str


def _prefix(whole: str) -> str:
    return whole[: whole.index("_") + 1]  # "dig_", "fold_"


def part_id(whole: str, index: int, count: int, members: Sequence[str]) -> str:
    """A part's id (its `webhook-id`): from the digest or fold, its place and its alerts, so a
    resend of the same part has the same id and a part cut otherwise (late alerts) another one.
    It has the whole's prefix (`dig_`, `fold_`)."""
    key = "\x00".join([whole, "part", str(index), str(count), *members])
    return _prefix(whole) + hashlib.sha256(key.encode()).hexdigest()[:32]


def whole_note(whole: str) -> str:
    """The last_error of the alerts a digest or fold sent in one post carried."""
    return f"{_NOTE_LEADS[_prefix(whole)]} {whole}"


def parts_sent(whole: str, notes: Sequence[str | None]) -> tuple[int, bool]:
    """From the notes of delivered alerts: how many parts of digest or fold `whole` went, and
    whether it has gone out entirely (in one post, or its last part)."""
    sent, done, lead = 0, False, whole_note(whole)
    for note in notes:
        if note == lead:
            done = True
            continue
        found = _PART_NOTE.match(note or "", len(lead))
        if found and (note or "").startswith(lead):
            index, count = int(found.group(1)), int(found.group(2))
            sent = max(sent, index)
            done = done or index == count
    return sent, done


def body_size(document: dict[str, Any]) -> int:
    """The bytes of a webhook post of `document` (at most: sending only strips characters)."""
    return len(encode_json(document))


def digest_parts(
    destination: str,
    digest: Digest,
    start: datetime,
    end: datetime,
    rows: Sequence[OutboxRow],
    *,
    sent: int = 0,
    max_body: int | None = None,
) -> list[Part]:
    """The posts that carry `rows`, the period's alerts not yet sent, when `sent` parts went
    already. With `max_body` (webhooks) each post's body fits in it: the alerts in order, each
    part as many as fit (at least one; one alone too large has its title cut). Without it
    (channels render a text of their own), one post."""
    heads: dict[str, str] = {}

    def build(chunk: Sequence[OutboxRow], part: tuple[int, int] | None) -> dict[str, Any]:
        return _document(destination, digest, start, end, chunk, part, heads)

    def only_entry(document: dict[str, Any]) -> dict[str, Any]:
        [group] = document["groups"]
        [entry] = group["alerts"]
        found: dict[str, Any] = entry  # the document's own: cutting its title cuts the post's
        return found

    whole = digest_id(destination, start)
    return cut_in_parts(whole, rows, build, only_entry, sent=sent, max_body=max_body)


def cut_in_parts(
    whole: str,
    rows: Sequence[OutboxRow],
    build: Callable[[Sequence[OutboxRow], tuple[int, int] | None], dict[str, Any]],
    only_entry: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    sent: int = 0,
    max_body: int | None = None,
) -> list[Part]:
    """The posts of digest or fold `whole` that carry `rows` (its alerts not yet sent) when
    `sent` parts went already. `build(alerts, part)` makes the document: the whole (`part`
    None) or part (index, count) of it, with its part_id and fields; `only_entry` finds the
    alert's entry in a part of one, whose title is cut if it is too large alone."""
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    cap = max_body if max_body is not None else float("inf")
    if sent == 0:
        document = build(ordered, None)
        if max_body is None or body_size(document) <= max_body:
            return [Part(document, [r.id for r in ordered], whole_note(whole))]
    # Measured with numbers wider than any part's: the cut depends on the alerts alone (never
    # on `sent`), and the numbers the part gets can only make it smaller.
    widest = (WIDEST_NUMBER, WIDEST_NUMBER)
    entries = [body_size(_entry(row)) + 1 for row in ordered]
    chunks: list[list[OutboxRow]] = []
    rest = ordered
    while rest:

        def size(n: int, rest: list[OutboxRow] = rest) -> int:
            return body_size(build(rest[:n], widest))

        taken = _fitting(entries[len(ordered) - len(rest) :], size, cap)
        chunks.append(rest[:taken])
        rest = rest[taken:]
    count = sent + len(chunks)
    parts = []
    for index, chunk in enumerate(chunks, sent + 1):
        document = build(chunk, (index, count))
        if len(chunk) == 1 and max_body is not None:
            document = _cut_to_fit(document, only_entry(document), max_body)
        note = f"{whole_note(whole)}, part {index} of {count} ({document['id']})"
        parts.append(Part(document, [r.id for r in chunk], note))
    return parts


def _fitting(entries: Sequence[int], size: Callable[[int], int], cap: float) -> int:
    """How many of the alerts left (`entries`: the bytes of each one's entry), from the
    first, go in one part: a boundary where that many fit `cap` and one more would not (at
    least one: an alert too large alone goes alone). Found by halving around a guess (one
    alert's envelope plus the others' entries); it depends on the alerts left alone."""
    one = size(1)
    if one > cap or len(entries) == 1:
        return 1
    low, high = 1, len(entries) + 1  # `low` fits; `high` does not (or is past the end)
    room, guess = cap - (one - entries[0]), 0
    for entry in entries:
        room -= entry
        if room < 0:
            break
        guess += 1
    guess = min(max(guess, 1), len(entries))
    # Galloping from the guess, which is off by a few entries at most (the envelope grows with
    # the rules and snippet lines), brackets the boundary in a few probes; then halving.
    if guess > low and size(guess) > cap:
        high, step = guess, 1
        while high - step > low:
            if size(high - step) <= cap:
                low = high - step
                break
            high, step = high - step, step * 2
    else:
        low, step = guess, 1
        while low + step < high:
            if size(low + step) > cap:
                high = low + step
                break
            low, step = low + step, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        if size(middle) <= cap:
            low = middle
        else:
            high = middle
    return low


def _cut_to_fit(document: dict[str, Any], entry: dict[str, Any], max_body: int) -> dict[str, Any]:
    """A part of one alert over `max_body`: its `entry`'s title cut (as feed titles are, with
    `…`) until the post fits or the title is gone; it goes out then whatever its size."""
    for _ in range(8):
        over = body_size(document) - max_body
        if over <= 0 or len(entry["title"]) <= 1:
            break
        title = entry["title"].encode("utf-8")
        entry["title"] = cut_bytes(entry["title"], max(len(title) - over, len(ELLIPSIS_BYTES)))
    return document
