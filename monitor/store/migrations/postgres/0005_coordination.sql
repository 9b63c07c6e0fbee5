-- Coordination of the processes that share one store (monitor.store.coord). Times in these tables
-- are epoch seconds in both dialects, so their SQL (a token bucket's refill) is the same.
-- holders: one row per running daemon, its heartbeat; a lease whose owner's row has expired is
-- free at once, without waiting for the lease itself to run out.

CREATE TABLE holders (
    owner       text PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  double precision NOT NULL,
    alive_until double precision NOT NULL
);
CREATE INDEX holders_host ON holders (host);

-- One token bucket per destination that every process consults; `updated_at` in the future is a
-- pause (a 429's Retry-After): the bucket refills only from then on.
CREATE TABLE rate_buckets (
    destination text PRIMARY KEY,
    tokens      double precision NOT NULL,
    updated_at  double precision NOT NULL,
    granted     integer NOT NULL DEFAULT 0
);

-- Jobs that one process at a time does (pruning): who does it, until when.
CREATE TABLE leader_leases (
    job         text PRIMARY KEY,
    owner       text NOT NULL,
    lease_until double precision NOT NULL
);
