"""Store throughput: commit_poll (50 seen keys + 5 alerts), feed claims, alert claim+deliver.

    python benchmarks/store.py [--polls 400] [--feeds 2000]

Runs on a SQLite file in a temp dir, and on PostgreSQL when NEWSMON_TEST_POSTGRES_URL is set
(`source .ci/postgres.sh` first), in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.model import FeedSpec, FeedUpdate, NewAlert, SeenItem

T0 = datetime(2026, 3, 1, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@contextmanager
def sqlite_store() -> Iterator[Any]:
    from monitor.store.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        store.migrate()
        yield store
        store.close()


@contextmanager
def postgres_store(url: str) -> Iterator[Any]:
    import psycopg

    from monitor.store.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    store = PostgresStore(url, schema=schema)
    try:
        store.migrate()
        yield store
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def poll_payload(i: int) -> tuple[list[SeenItem], list[NewAlert]]:
    seen = [SeenItem(f"item-{i}-{k}", f"story-{i}-{k}", T0, "h" * 16) for k in range(50)]
    doc = {"type": "alert", "rules": [{"id": "r1", "name": "Rule"}], "snippet": "x" * 300}
    alerts = [
        NewAlert(f"alert-{i}-{k}", "hook", f"story-{i}-{k}", f"p{i}", f"item-{i}-{k}",
                 {**doc, "id": f"alert-{i}-{k}"}, T0)
        for k in range(5)
    ]  # fmt: skip
    return seen, alerts


def run(store: Any, polls: int, feeds: int) -> dict[str, str]:
    out: dict[str, str] = {}
    # commit_poll: each poll on its own feed, claimed beforehand
    store.sync_feeds([FeedSpec(f"p{i}", f"https://e.org/{i}") for i in range(polls)], T0)
    store.claim_due_feeds(T0, polls, LEASE, "bench")
    update = FeedUpdate("ok", T0 + timedelta(minutes=5), T0, etag="e", body_hash="b")
    times = []
    for i in range(polls):
        seen, alerts = poll_payload(i)
        start = time.perf_counter()
        n = store.commit_poll(f"p{i}", "bench", T0, update, seen, alerts)
        times.append(time.perf_counter() - start)
        assert n == 5
    out["commit_poll 50+5 median ms"] = f"{statistics.median(times) * 1000:.2f}"
    out["commit_poll p95 ms"] = f"{sorted(times)[int(len(times) * 0.95)] * 1000:.2f}"
    out["commit_poll /s"] = f"{len(times) / sum(times):.0f}"

    # feed claims: `feeds` due feeds, claimed 50 at a time (and one at a time for 200)
    specs = [FeedSpec(f"p{i}", "u") for i in range(polls)]
    specs += [FeedSpec(f"g{i:05}", f"https://e.org/g{i}") for i in range(feeds)]
    store.sync_feeds(specs, T0)
    start = time.perf_counter()
    claimed = 0
    while batch := store.claim_due_feeds(T0, 50, LEASE, "c"):
        claimed += len(batch)
    elapsed = time.perf_counter() - start
    out["claim_due_feeds feeds/s (batch 50)"] = f"{claimed / elapsed:.0f}"
    late = T0 + 2 * LEASE  # every lease above has expired: taken over one by one
    start = time.perf_counter()
    for _ in range(200):
        store.claim_due_feeds(late, 1, LEASE, "c1")
    out["claim_due_feeds calls/s (batch 1)"] = f"{200 / (time.perf_counter() - start):.0f}"

    # alerts: claim 50 at a time, mark each delivered
    start = time.perf_counter()
    delivered = 0
    while batch := store.claim_due_alerts(T0, 50, LEASE, "d"):
        for row in batch:
            delivered += store.mark_delivered(row.id, "d", T0)
    elapsed = time.perf_counter() - start
    assert delivered == polls * 5
    out["alerts claimed+delivered /s"] = f"{delivered / elapsed:.0f}"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=400)
    parser.add_argument("--feeds", type=int, default=2000)
    args = parser.parse_args()
    backends: list[tuple[str, Callable[[], Any]]] = [("sqlite", sqlite_store)]
    url = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
    if url:
        backends.append(("postgres", lambda: postgres_store(url)))
    else:
        print("(NEWSMON_TEST_POSTGRES_URL unset: SQLite only)", file=sys.stderr)
    results = {}
    for name, factory in backends:
        with factory() as store:
            results[name] = run(store, args.polls, args.feeds)
    rows = list(next(iter(results.values())))
    width = max(len(r) for r in rows)
    print(f"| {'measure':<{width}} | " + " | ".join(f"{n:>9}" for n in results) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 11 for _ in results) + "|")
    for r in rows:
        print(f"| {r:<{width}} | " + " | ".join(f"{results[n][r]:>9}" for n in results) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
