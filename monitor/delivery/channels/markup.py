"""Escape feed text for each channel's markup, and cut it to a channel's limit. Pure.

Every escaper maps one character to a fixed replacement (a `str.translate` table), so text can be
cut character by character without ever splitting an escape (`&amp;`, `\\*`) in two.

Mentions: `@everyone`, `@here` (Discord), `@room` (Matrix) and `@name` (Telegram) notify people
when they appear in a message's text. A WORD JOINER (U+2060, invisible, no width) after every `@`
keeps the text readable and matches no mention syntax; Discord and Matrix are also told in the
request that the message mentions nobody (`allowed_mentions`, `m.mentions`).

Lengths are counted in UTF-16 code units (at least the character count, so within a limit
whichever a service counts). A cut falls between two user-perceived characters, as far as a
short rule can tell (`cluster_start`): never between a letter and its accent, inside an emoji
joined with ZWJ or given a skin tone, or between the two halves of a flag, which would show a
different emoji or a lone letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from monitor.controls import PDF, Open, bidi_steps, closers, has_bidi_controls

ELLIPSIS = "…"
WORD_JOINER = "\u2060"
ZWJ = "\u200d"

Table = Mapping[int, str]


def _table(pairs: Mapping[str, str]) -> dict[int, str]:
    return {ord(k): v for k, v in pairs.items()}


_MENTION = {"@": "@" + WORD_JOINER}
# HTML text and attribute values (email HTML part, Matrix formatted_body, Telegram HTML).
HTML: Table = _table({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})
HTML_NO_MENTIONS: Table = {**HTML, **_table(_MENTION)}
# Discord markdown: every markdown-active ASCII punctuation mark takes a backslash (the parser
# drops a backslash before any punctuation); `<` stops `<@id>`, `<#id>` and `<t:...>`.
DISCORD: Table = {
    **_table({ch: "\\" + ch for ch in "\\*_~`|>#-[]()<:"}),
    **_table(_MENTION),
}
# Adaptive Card TextBlock markdown (Teams): emphasis, lists and links; CommonMark escapes.
TEAMS: Table = _table({ch: "\\" + ch for ch in "\\*_~`>#-+[]()<"})
PLAIN_NO_MENTIONS: Table = _table(_MENTION)

_SPACES = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Runs of whitespace (newlines included) as one space: for titles, subjects, headings."""
    return _SPACES.sub(" ", text).strip()


def units(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _size(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _extends(ch: str) -> bool:
    """Whether `ch` belongs to the character before it: a combining mark, a joiner, a
    variation selector, a skin tone or an emoji tag."""
    code = ord(ch)
    return (
        ch == ZWJ
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def cluster_start(text: str, end: int) -> int:
    """`end`, or less, so that `text[:end]` does not end inside a user-perceived character."""
    while 0 < end < len(text) and (_extends(text[end]) or text[end - 1] == ZWJ):
        end -= 1
    if 0 < end < len(text) and _regional(text[end]):
        run = 0
        while run < end and _regional(text[end - 1 - run]):
            run += 1
        end -= run % 2  # flags are pairs: an odd run before the cut ends in half a flag
    return end


def escape(text: str, table: Table) -> str:
    return text.translate(table)


def fit(text: str, table: Table, limit: int) -> str:
    """`text` escaped with `table`, at most `limit` UTF-16 units, ending in `…` when cut, and
    with its bidi controls confined to it (`confine_bidi`, also when cut)."""
    if has_bidi_controls(text):
        return fit_confined(text, table, limit, units)
    escaped = text.translate(table)
    if units(escaped) <= limit:
        return escaped
    budget = limit - 1
    used = 0
    out: list[str] = []  # one escaped piece per character of `text`
    for ch in text:
        piece = table.get(ord(ch), ch)
        size = sum(_size(c) for c in piece)
        if used + size > budget:
            break
        out.append(piece)
        used += size
    return "".join(out[: cluster_start(text, len(out))]) + ELLIPSIS


def fit_confined(
    text: str,
    table: Table,
    limit: int,
    size: Callable[[str], int],
    boundary: Callable[[str, int], int] = cluster_start,
) -> str:
    """`confine_bidi(text)` escaped with `table`, at most `limit` by `size`; when cut, it ends
    in the closers of what the kept part opens, then `…`, and the cut is at an index
    `boundary` accepts. The closers count against the limit, so a cut keeps less text."""
    budget = limit - size(ELLIPSIS)
    closer = size(PDF)  # each closer (PDF or PDI) is as large as the other
    pieces: list[str] = []  # what stands for each character of `text`, escaped
    tops: list[Open | None] = [None]  # the stack open after each prefix
    costs = [0]  # the size of each prefix's pieces
    used = 0
    for piece, top in bidi_steps(text):
        escaped = piece.translate(table)
        used += size(escaped)
        if used > limit:  # pieces only add: the whole cannot fit
            break
        pieces.append(escaped)
        tops.append(top)
        costs.append(used)
    else:
        whole = "".join(pieces) + closers(tops[-1])
        if size(whole) <= limit:
            return whole

    def fits(end: int) -> bool:
        top = tops[end]
        return end == 0 or costs[end] + closer * (top.count if top is not None else 0) <= budget

    end = len(pieces)
    while not fits(end):
        end -= 1
    while not fits(end := boundary(text, end)):  # a boundary earlier may leave more open
        end -= 1
    return "".join(pieces[:end]) + closers(tops[end]) + ELLIPSIS


def cut(text: str, limit: int) -> str:
    """Plain `text` at most `limit` UTF-16 units, ending in `…` when cut (bidi confined)."""
    return fit(text, {}, limit)


def cut_bytes(text: str, limit: int) -> str:
    """`text` whose UTF-8 encoding is at most `limit` bytes, ending in `…` when cut; its bidi
    controls confined to it, as `fit`."""
    if has_bidi_controls(text):
        return fit_confined(text, {}, limit, _utf8_size)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[: limit - len(ELLIPSIS.encode())].decode("utf-8", "ignore")
    return kept[: cluster_start(text, len(kept))] + ELLIPSIS


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))
