-- Coordination of the processes that share one store (monitor.store.coord). Times in these tables
-- are epoch seconds in both dialects, so their SQL (a token bucket's refill) is the same.
-- holders: one row per running daemon, its heartbeat; a lease whose owner's row has expired is
-- free at once, without waiting for the lease itself to run out.

CREATE TABLE holders (
    owner       TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  REAL NOT NULL,
    alive_until REAL NOT NULL
);
CREATE INDEX holders_host ON holders (host);

-- One token bucket per destination that every process consults; `updated_at` in the future is a
-- pause (a 429's Retry-After): the bucket refills only from then on.
CREATE TABLE rate_buckets (
    destination TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    updated_at  REAL NOT NULL,
    granted     INTEGER NOT NULL DEFAULT 0
);

-- Jobs that one process at a time does (pruning): who does it, until when.
CREATE TABLE leader_leases (
    job         TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until REAL NOT NULL
);
