-- The item archive (monitor.pipeline.archive): each new item's matchable text, capped, with its story key,
-- so rules can be tried on history (`newsmon rules backtest`). Kept for `archive_retention`,
-- counted from `first_seen`. `id` orders the rows for reading in batches.

CREATE TABLE archive (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_id    text NOT NULL,
    item_key   text NOT NULL,
    story_key  text NOT NULL,
    title      text NOT NULL DEFAULT '',
    summary    text NOT NULL DEFAULT '',
    content    text NOT NULL DEFAULT '',
    link       text,
    author     text NOT NULL DEFAULT '',
    categories text NOT NULL DEFAULT '',   -- one a line
    feed_title text NOT NULL DEFAULT '',
    published  timestamptz,
    first_seen timestamptz NOT NULL
);
CREATE UNIQUE INDEX archive_key ON archive (feed_id, item_key);
CREATE INDEX archive_first_seen ON archive (first_seen);
