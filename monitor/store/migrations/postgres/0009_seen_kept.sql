-- An item still in its feed keeps its seen key past `retention` (monitor.pipeline.decide, "kept").
-- seen_items.kept_at: when a poll last found the item still in its feed and restarted its key's
-- retention (at most once a quarter of the retention); NULL: never, count from seen_at.
-- feeds.parsed_at: when the feed's last changed document was parsed; NULL: not since this
-- migration. A key is pruned only once a document parsed more than `retention` after its time
-- lacked it (or its feed is inactive): a feed answering 304 still holds the keys of its items.
ALTER TABLE seen_items ADD COLUMN kept_at timestamptz;
ALTER TABLE feeds ADD COLUMN parsed_at timestamptz;
