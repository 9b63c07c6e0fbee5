-- Later sightings of a story (another feed or outlet, a re-publication) as further sources.

CREATE TABLE story_sources (
    story_key TEXT NOT NULL,
    feed_id   TEXT NOT NULL,
    item_key  TEXT NOT NULL,
    url       TEXT,
    title     TEXT NOT NULL DEFAULT '',
    seen_at   REAL NOT NULL,
    PRIMARY KEY (story_key, feed_id, item_key)
);
CREATE INDEX story_sources_seen_at ON story_sources (seen_at);
