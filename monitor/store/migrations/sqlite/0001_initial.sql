-- newsmon schema v1 (SQLite). Times are UTC epoch seconds (REAL); JSON documents are TEXT.

CREATE TABLE feeds (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,           -- where it is fetched (a permanent redirect moves it)
    config_url      TEXT NOT NULL,           -- the url as configured, to notice a config change
    name            TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    interval_s      REAL NOT NULL,
    backfill_s      REAL NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 1,
    etag            TEXT,
    last_modified   TEXT,
    body_hash       TEXT,
    next_poll_at    REAL NOT NULL,
    last_fetch_at   REAL,
    last_success_at REAL,
    status          TEXT NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'ok', 'not_modified', 'unchanged', 'error')),
    last_error      TEXT,
    error_kind      TEXT,
    error_count     INTEGER NOT NULL DEFAULT 0,
    baseline_done   INTEGER NOT NULL DEFAULT 0,
    title           TEXT NOT NULL DEFAULT '',
    lease_owner     TEXT,
    lease_until     REAL
);
CREATE INDEX feeds_due ON feeds (active, next_poll_at);

CREATE TABLE seen_items (
    feed_id    TEXT NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    item_key   TEXT NOT NULL,
    story_key  TEXT NOT NULL,
    published  REAL,
    title_hash TEXT NOT NULL DEFAULT '',
    seen_at    REAL NOT NULL,
    PRIMARY KEY (feed_id, item_key)
);
CREATE INDEX seen_items_story ON seen_items (story_key, seen_at);
CREATE INDEX seen_items_seen_at ON seen_items (seen_at);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,        -- the idempotency key
    destination     TEXT NOT NULL,
    story_key       TEXT NOT NULL,
    feed_id         TEXT NOT NULL,
    item_key        TEXT NOT NULL,
    document        TEXT NOT NULL,
    created_at      REAL NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    delivered_at    REAL,
    finished_at     REAL,                    -- delivered or dead-lettered: prune counts from here
    lease_owner     TEXT,
    lease_until     REAL,
    UNIQUE (destination, story_key)
);
CREATE INDEX alerts_due ON alerts (status, next_attempt_at);
CREATE INDEX alerts_finished ON alerts (status, finished_at);

CREATE TABLE destinations (
    name        TEXT PRIMARY KEY,
    disabled    INTEGER NOT NULL DEFAULT 0,
    reason      TEXT NOT NULL DEFAULT '',
    changed_at  REAL
);
