-- The story index (monitor.dedup): stories with their fingerprints, found by LSH band keys, so a
-- new process still knows the last days' stories. `bands` holds the 32 band digests (5 bytes
-- each, in band order) so pruning can delete a story's band rows by their primary key.
-- A story has one row per feed that sighted it (its wording there), so a feed re-issuing
-- its own wording of a story under new GUIDs is recognised as churn.

CREATE TABLE stories (
    id          INTEGER PRIMARY KEY,
    story_key   TEXT NOT NULL,
    feed_id     TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    bands       BLOB NOT NULL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL
);
CREATE UNIQUE INDEX stories_key_feed ON stories (story_key, feed_id);
CREATE INDEX stories_last_seen ON stories (last_seen);

CREATE TABLE story_bands (
    band     TEXT NOT NULL,
    story_id INTEGER NOT NULL,
    PRIMARY KEY (band, story_id)
) WITHOUT ROWID;
