-- The item archive (monitor.pipeline.archive): each new item's matchable text, capped, with its story key,
-- so rules can be tried on history (`newsmon rules backtest`). Kept for `archive_retention`,
-- counted from `first_seen`. `id` orders the rows for reading in batches.

CREATE TABLE archive (
    id         INTEGER PRIMARY KEY,
    feed_id    TEXT NOT NULL,
    item_key   TEXT NOT NULL,
    story_key  TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    summary    TEXT NOT NULL DEFAULT '',
    content    TEXT NOT NULL DEFAULT '',
    link       TEXT,
    author     TEXT NOT NULL DEFAULT '',
    categories TEXT NOT NULL DEFAULT '',   -- one a line
    feed_title TEXT NOT NULL DEFAULT '',
    published  REAL,
    first_seen REAL NOT NULL
);
CREATE UNIQUE INDEX archive_key ON archive (feed_id, item_key);
CREATE INDEX archive_first_seen ON archive (first_seen);
