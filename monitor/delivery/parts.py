"""What digests and storm folds share: the alerts they carry (each one's first rule, its
headline in the text, its entry in the document) and, for webhooks, the cut of a message whose
body would pass `max_body` into parts. Pure.

Each part is a document of its own (a `newsmon.digest` or `newsmon.fold`, built by its module)
with `part` and `parts`, cut from the alerts in order, each as many as fit. The cut depends
only on the alerts still to send, so once part k is recorded, cutting what is left gives parts
k+1.. as before: a crash between parts resends only the parts that were not recorded, each with
its own id and body as before.

Each post's alerts (a whole's or a part's) are recorded with its note before its first attempt
(store.group_alerts), and a retry builds that post again from them alone (`recorded_part`): a
post that timed out may have reached the receiver, so its resend must be the same content under
the same id. One that also carried an alert committed late into the period meanwhile was
dropped, late alert and all, by a receiver dropping repeated ids (Standard Webhooks); an id from
the alerts instead would have sent the first post's alerts twice to a receiver that had it. The
late alert waits for the post and goes after it (alone, or in the next part).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.delivery.channels.markup import cut, cut_bytes, one_line
from monitor.delivery.jsonbody import encode_json
from monitor.model import OutboxRow

MAX_BODY = 512 * 1024  # a webhook fold or digest post at most this; nginx refuses over 1 MB
HEADLINE_MAX = 90  # a headline in a fold's or digest's text (whole in the document's list)
ELLIPSIS_BYTES = "…".encode()
DAY = timedelta(days=1)
WIDEST_NUMBER = 999_999  # a part's index and count when measured: wider than any real one

_PART_NOTE = re.compile(r", part (\d+) of (\d+) ")
_RECORDED_PART = re.compile(r", part (\d+) of (\d+) \((\w+)\)")
_NOTE_LEADS = {"dig_": "in digest", "fold_": "folded into"}  # by the message's id


def span(start: datetime, end: datetime, zone: str, *, dated: bool) -> str:
    """A window as its message's title names it, in `zone`: `12:00–12:10 UTC`; with the
    start's date when `dated` (a digest's), and with the end's date too when that is another
    day and the times alone would not say it (a digest's, or a window of a day). Without it, a
    daily digest read "2026-12-07 08:00–08:00" (as if empty), a day's storm "(00:00–00:00 UTC)"."""
    here, there = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    dated = dated or end - start >= DAY
    if not dated:
        return f"{here:%H:%M}–{there:%H:%M} {zone}"
    last = f"{there:%H:%M}" if there.date() == here.date() else f"{there:%Y-%m-%d %H:%M}"
    return f"{here:%Y-%m-%d %H:%M}–{last} {zone}"


def rule_of(document: dict[str, Any]) -> str:
    rules = document.get("rules")
    if isinstance(rules, list) and rules and isinstance(rules[0], dict):
        return str(rules[0].get("id", ""))
    return ""


def headline(title: str) -> str:
    """`title` as one of many in a message's text: one line, at most HEADLINE_MAX, `…` if cut.
    Feed titles run to 1,000 characters: two would fill a fold's text and hide its count."""
    return cut(one_line(title), HEADLINE_MAX)


def alert_title(row: OutboxRow) -> str:
    return str((row.document.get("item") or {}).get("title") or "")


def alert_entry(row: OutboxRow) -> dict[str, Any]:
    """An alert as a digest or fold document lists it. Its size seeds the cut (`_fitting`)."""
    return {
        "id": row.id,
        "title": alert_title(row),
        "url": (row.document.get("item") or {}).get("url"),
    }


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


def whole_refused(whole: str, rows: Sequence[OutboxRow]) -> bool:
    """Whether digest or fold `whole`, tried in one post, failed for good: alerts recorded
    with that post are dead letters. Its id is spent then: the receiver may have kept it from
    an attempt that timed out, so an alert committed late into the period goes on its own,
    never under that id with other alerts (dropped as a repeat). A replay forgets the record."""
    lead = whole_note(whole)
    return any(r.status == "dead" and r.grouped_in == lead for r in rows)


def body_size(document: dict[str, Any]) -> int:
    """The bytes of a webhook post of `document` (at most: sending only strips characters)."""
    return len(encode_json(document))


def cut_in_parts(
    whole: str,
    rows: Sequence[OutboxRow],
    build: Callable[[Sequence[OutboxRow], tuple[int, int] | None], dict[str, Any]],
    only_entry: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    sent: int = 0,
    max_body: int | None = None,
    recorded: str | None = None,
) -> list[Part]:
    """The posts of digest or fold `whole` that carry `rows` (its alerts not yet sent) when
    `sent` parts went already. `build(alerts, part)` makes the document: the whole (`part`
    None) or part (index, count) of it, with its part_id and fields; `only_entry` finds the
    alert's entry in a part of one, whose title is cut if it is too large alone. With
    `recorded`, the note `rows` were recorded with: that one post again (`recorded_part`)."""
    if recorded is not None:
        return [recorded_part(whole, rows, recorded, build, only_entry, max_body)]
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    cap = max_body if max_body is not None else float("inf")
    if sent == 0:
        document = build(ordered, None)
        if max_body is None or body_size(document) <= max_body:
            return [Part(document, [r.id for r in ordered], whole_note(whole))]
    # Measured with numbers wider than any part's: the cut depends on the alerts alone (never
    # on `sent`), and the numbers the part gets can only make it smaller.
    widest = (WIDEST_NUMBER, WIDEST_NUMBER)
    entries = [body_size(alert_entry(row)) + 1 for row in ordered]
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


def recorded_part(
    whole: str,
    rows: Sequence[OutboxRow],
    note: str,
    build: Callable[[Sequence[OutboxRow], tuple[int, int] | None], dict[str, Any]],
    only_entry: Callable[[dict[str, Any]], dict[str, Any]],
    max_body: int | None,
) -> Part:
    """The post of digest or fold `whole` (the whole, or a part) that `rows` were recorded as
    carrying under `note` before its first attempt, built again: the same id, alerts and body.
    Fewer rows than recorded (one dead-lettered since) keep the recorded id: a receiver that
    has the first post has them all, and nothing more."""
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    lead = whole_note(whole)
    found = _RECORDED_PART.fullmatch(note, len(lead)) if note.startswith(lead) else None
    if found is None:  # the whole (a note no version of ours wrote goes as the whole too)
        return Part(build(ordered, None), [r.id for r in ordered], lead)
    index, count, ident = int(found.group(1)), int(found.group(2)), found.group(3)
    document = build(ordered, (index, count))
    if len(ordered) == 1 and max_body is not None:
        document = _cut_to_fit(document, only_entry(document), max_body)
    document["id"] = document["item"]["key"] = ident
    return Part(document, [r.id for r in ordered], note)


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
