-- Storm folding and digests read one destination's alerts of a window (store.window_alerts):
-- without this index that is a scan of the whole outbox for every window a run looks at.
CREATE INDEX alerts_window ON alerts (destination, created_at);
