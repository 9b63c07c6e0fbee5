-- Feedback labels: a person's verdict that an item was (or was not) what a rule is for. Every
-- label is kept (the history); the newest per (item, rule) is the one in force. `rule_id` ''
-- labels the item for whichever rule matched it. No foreign key to feeds: an imported label may
-- name an item of a feed this store does not poll, and labels outlive the items' retention.
-- The unique index makes an import of the same labels twice add nothing.

CREATE TABLE feedback_labels (
    id         INTEGER PRIMARY KEY,
    feed_id    TEXT NOT NULL,
    item_key   TEXT NOT NULL,
    rule_id    TEXT NOT NULL DEFAULT '',
    relevant   INTEGER NOT NULL,
    who        TEXT NOT NULL,
    labelled_at REAL NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    alert_id   TEXT,
    title      TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX feedback_labels_once
    ON feedback_labels (feed_id, item_key, rule_id, labelled_at, who, relevant);
