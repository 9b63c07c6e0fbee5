"""The item archive: what of each new item is kept so rules can be tried on history. Pure.

Every new item a poll sees (baseline items included: a new feed brings its history at once) is
archived in the poll's own transaction with its story key, for `archive_retention`. The text is
capped so an item costs about a kilobyte, not a web page: the title to `TITLE_BYTES`, and at most
`BODY_BYTES` of body text shared by the summary (first) and the content. A backtest matches the
archived item exactly as the daemon matched the whole one, except for words past the cap.
The row is `monitor.model.ArchivedItem`; how the stores keep it is `monitor.store.archive_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.model import ArchivedItem, Item, SeenItem

TITLE_BYTES = 1024
BODY_BYTES = 4096
LINK_BYTES = 2048
SMALL_BYTES = 512  # author, feed title, each category


def cap(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never inside a character."""
    if len(text) * 4 <= limit:  # cheap common case: cannot be over
        return text
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def _at_cap(texts: Sequence[str], limit: int) -> bool:
    if sum(map(len, texts)) * 4 < limit - 3:  # cheap common case: far from the cap
        return False
    return sum(len(t.encode("utf-8")) for t in texts) > limit - 4  # `cap` keeps limit-3 or more


def cut_short(row: ArchivedItem) -> bool:
    """Whether the archive may have cut this item's text: its title or its body text is within
    a character of its cap. A word past the cap was matched by the daemon, but is not there for
    a backtest (an item exactly that long is counted too: it cannot be told apart)."""
    return _at_cap((row.summary, row.content), BODY_BYTES) or _at_cap((row.title,), TITLE_BYTES)


def archived(item: Item, story_key: str, first_seen: datetime) -> ArchivedItem:
    """What the archive keeps of an item."""
    summary = cap(item.summary, BODY_BYTES)
    content = item.content
    if content:  # most items have none: the summary's bytes need counting only for one
        left = BODY_BYTES - len(summary.encode("utf-8"))
        content = cap(content, left) if left > 0 else ""
    link = item.url or item.link
    categories = item.categories
    # Positionally, in ArchivedItem's order: keyword arguments cost about a µs an item more.
    return ArchivedItem(
        item.feed_id,
        item.key,
        story_key,
        first_seen,
        cap(item.title, TITLE_BYTES),
        summary,
        content,
        cap(link, LINK_BYTES) if link else None,
        cap(item.author, SMALL_BYTES),
        tuple(cap(c.replace("\n", " "), SMALL_BYTES) for c in categories[:20])
        if categories
        else (),
        cap(item.feed_title, SMALL_BYTES),
        item.published,
    )


def poll_archive(
    items: Iterable[Item], seen: Sequence[SeenItem], first_seen: datetime
) -> list[ArchivedItem]:
    """The archive rows of a poll: each item its plan records as seen, with its story key
    (an edited item's row is already there and stays as first archived)."""
    stories = {s.key: s.story_key for s in seen}
    rows: list[ArchivedItem] = []
    for item in items:
        skey = stories.pop(item.key, None)  # pop: a key repeated in one feed is archived once
        if skey is not None:
            rows.append(archived(item, skey, first_seen))
    return rows
