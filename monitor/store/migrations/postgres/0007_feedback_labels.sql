-- Feedback labels: a person's verdict that an item was (or was not) what a rule is for. Every
-- label is kept (the history); the newest per (item, rule) is the one in force. `rule_id` ''
-- labels the item for whichever rule matched it. No foreign key to feeds: an imported label may
-- name an item of a feed this store does not poll, and labels outlive the items' retention.
-- The unique index makes an import of the same labels twice add nothing.

CREATE TABLE feedback_labels (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_id    text NOT NULL,
    item_key   text NOT NULL,
    rule_id    text NOT NULL DEFAULT '',
    relevant   boolean NOT NULL,
    who        text NOT NULL,
    labelled_at timestamptz NOT NULL,
    note       text NOT NULL DEFAULT '',
    alert_id   text,
    title      text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX feedback_labels_once
    ON feedback_labels (feed_id, item_key, rule_id, labelled_at, who, relevant);
