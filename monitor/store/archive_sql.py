"""SQL of the item archive (monitor.pipeline.archive), shared by both stores (`?` placeholders).

Rows are read in `id` order in batches (keyset: `id > last`), so a backtest over 100,000 items
holds one batch at a time and never re-reads a row.
"""

from __future__ import annotations

COLUMNS = """feed_id, item_key, story_key, title, summary, content, link, author, categories,
    feed_title, published, first_seen"""

# A row already there (an edit, or an item imported before a poll saw it) stays as it is.
INSERT = f"""INSERT INTO archive ({COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (feed_id, item_key) DO NOTHING"""  # noqa: S608 (constants)

READ = f"""SELECT id, {COLUMNS} FROM archive
    WHERE id > ? AND first_seen >= ? {{feeds}}
    ORDER BY id LIMIT ?"""  # noqa: S608 (constants)

COUNT = "SELECT count(*) AS n FROM archive WHERE first_seen >= ? {feeds}"

PRUNE = "DELETE FROM archive WHERE first_seen < ?"
