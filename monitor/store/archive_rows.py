"""How the stores keep archived items: categories one a line, rows under their settled stories.

Shared by both stores (the SQL itself is `monitor.store.archive_sql`). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from monitor.model import ArchivedItem, SeenItem


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
