-- newsmon schema v1 (PostgreSQL). Times are timestamptz; alert documents are json (kept as written).

CREATE TABLE feeds (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    config_url      text NOT NULL,
    name            text NOT NULL DEFAULT '',
    tags            jsonb NOT NULL DEFAULT '[]',
    interval_s      double precision NOT NULL,
    backfill_s      double precision NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true,
    etag            text,
    last_modified   text,
    body_hash       text,
    next_poll_at    timestamptz NOT NULL,
    last_fetch_at   timestamptz,
    last_success_at timestamptz,
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'ok', 'not_modified', 'unchanged', 'error')),
    last_error      text,
    error_kind      text,
    error_count     integer NOT NULL DEFAULT 0,
    baseline_done   boolean NOT NULL DEFAULT false,
    title           text NOT NULL DEFAULT '',
    lease_owner     text,
    lease_until     timestamptz
);
CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE active;

CREATE TABLE seen_items (
    feed_id    text NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    item_key   text NOT NULL,
    story_key  text NOT NULL,
    published  timestamptz,
    title_hash text NOT NULL DEFAULT '',
    seen_at    timestamptz NOT NULL,
    PRIMARY KEY (feed_id, item_key)
);
CREATE INDEX seen_items_story ON seen_items (story_key, seen_at);
CREATE INDEX seen_items_seen_at ON seen_items (seen_at);

CREATE TABLE alerts (
    id              text PRIMARY KEY,
    destination     text NOT NULL,
    story_key       text NOT NULL,
    feed_id         text NOT NULL,
    item_key        text NOT NULL,
    document        json NOT NULL,
    created_at      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    delivered_at    timestamptz,
    finished_at     timestamptz,
    lease_owner     text,
    lease_until     timestamptz,
    UNIQUE (destination, story_key)
);
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alerts_finished ON alerts (finished_at) WHERE status <> 'pending';

CREATE TABLE destinations (
    name        text PRIMARY KEY,
    disabled    boolean NOT NULL DEFAULT false,
    reason      text NOT NULL DEFAULT '',
    changed_at  timestamptz
);
