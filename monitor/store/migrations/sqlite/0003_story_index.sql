-- The story index (monitor.dedup): stories with their fingerprints, found by LSH band keys, so a
-- new process still knows the last days' stories. `bands` holds the 32 band digests (5 bytes
-- each, in band order) so pruning can delete a story's band rows by their primary key.

CREATE TABLE stories (
    id          INTEGER PRIMARY KEY,
    story_key   TEXT NOT NULL UNIQUE,
    feed_id     TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    bands       BLOB NOT NULL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL
);
CREATE INDEX stories_last_seen ON stories (last_seen);

CREATE TABLE story_bands (
    band     TEXT NOT NULL,
    story_id INTEGER NOT NULL,
    PRIMARY KEY (band, story_id)
) WITHOUT ROWID;
