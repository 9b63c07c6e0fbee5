-- Later sightings of a story (another feed or outlet, a re-publication) as further sources.

CREATE TABLE story_sources (
    story_key text NOT NULL,
    feed_id   text NOT NULL,
    item_key  text NOT NULL,
    url       text,
    title     text NOT NULL DEFAULT '',
    seen_at   timestamptz NOT NULL,
    PRIMARY KEY (story_key, feed_id, item_key)
);
CREATE INDEX story_sources_seen_at ON story_sources (seen_at);
