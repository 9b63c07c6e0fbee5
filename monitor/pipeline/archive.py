"""The item archive: what of each new item is kept so rules can be tried on history. Pure.

Every new item a poll sees (baseline items included: a new feed brings its history at once) is
archived in the poll's own transaction with its story key, for `archive_retention`. The text is
capped so an item costs about a kilobyte, not a web page: the title to `TITLE_BYTES`, and at most
`BODY_BYTES` of body text shared by the summary (first) and the content. A backtest matches the
archived item exactly as the daemon matched the whole one, except for words past the cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.model import Item, SeenItem

TITLE_BYTES = 1024
BODY_BYTES = 4096
LINK_BYTES = 2048
SMALL_BYTES = 512  # author, feed title, each category


@dataclass(frozen=True, slots=True)
class ArchivedItem:
    """An archived item: an `Item`'s matchable text (capped), its story and when it was seen."""

    feed_id: str
    key: str
    story_key: str
    first_seen: datetime
    title: str = ""
    summary: str = ""
    content: str = ""
    link: str | None = None
    author: str = ""
    categories: tuple[str, ...] = ()
    feed_title: str = ""
    published: datetime | None = None

    def to_item(self) -> Item:
        """The item a rule is tried on (the same fields `rules test` and the daemon match)."""
        return Item(
            feed_id=self.feed_id,
            key=self.key,
            title=self.title,
            summary=self.summary,
            content=self.content,
            link=self.link,
            url=self.link,
            author=self.author,
            categories=self.categories,
            published=self.published,
            feed_title=self.feed_title,
        )


def cap(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never inside a character."""
    if len(text) * 4 <= limit:  # cheap common case: cannot be over
        return text
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore")


def archived(item: Item, story_key: str, first_seen: datetime) -> ArchivedItem:
    """What the archive keeps of an item."""
    summary = cap(item.summary, BODY_BYTES)
    left = BODY_BYTES - len(summary.encode("utf-8"))
    content = cap(item.content, left) if left > 0 else ""
    link = item.url or item.link
    return ArchivedItem(
        feed_id=item.feed_id,
        key=item.key,
        story_key=story_key,
        first_seen=first_seen,
        title=cap(item.title, TITLE_BYTES),
        summary=summary,
        content=content,
        link=cap(link, LINK_BYTES) if link else None,
        author=cap(item.author, SMALL_BYTES),
        categories=tuple(cap(c.replace("\n", " "), SMALL_BYTES) for c in item.categories[:20]),
        feed_title=cap(item.feed_title, SMALL_BYTES),
        published=item.published,
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


def with_story_keys(rows: Sequence[ArchivedItem], seen: Sequence[SeenItem]) -> list[ArchivedItem]:
    """The rows under the story keys their seen items finally carry (a commit may settle a
    founded story into one committed meanwhile: monitor.dedup.settle)."""
    if not rows:
        return []
    final = {s.key: s.story_key for s in seen}
    return [
        r if final.get(r.key, r.story_key) == r.story_key else replace(r, story_key=final[r.key])
        for r in rows
    ]


def join_categories(categories: Sequence[str]) -> str:
    """Categories as the stores keep them: one a line (archived ones hold no newline)."""
    return "\n".join(categories)


def split_categories(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()
