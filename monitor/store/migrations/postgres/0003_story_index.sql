-- The story index (monitor.dedup): stories with their fingerprints, found by LSH band keys, so a
-- new process still knows the last days' stories. `bands` holds the 32 band digests (5 bytes
-- each, in band order) so pruning can delete a story's band rows by their primary key.
-- A story has one row per feed that sighted it (its wording there), so a feed re-issuing
-- its own wording of a story under new GUIDs is recognised as churn.

CREATE TABLE stories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    story_key   text NOT NULL,
    feed_id     text NOT NULL,
    fingerprint bytea NOT NULL,
    bands       bytea NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE UNIQUE INDEX stories_key_feed ON stories (story_key, feed_id);
CREATE INDEX stories_last_seen ON stories (last_seen);

CREATE TABLE story_bands (
    band     text NOT NULL,
    story_id bigint NOT NULL,
    PRIMARY KEY (band, story_id)
);
