"""Store throughput: commit_poll (50 seen keys + 5 alerts; and 50 new stories with their
fingerprints, archive rows and sightings), feed claims, alert claim+deliver, and the daemon's
unchanged batches (a tick's polls that all answered 304, written in one transaction).

    python benchmarks/store.py [--polls 400] [--feeds 2000]

Runs on a SQLite file in a temp dir, and on PostgreSQL when NEWSMON_TEST_POSTGRES_URL is set
(`source .ci/postgres.sh` first), in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
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


def word(*parts: int) -> str:
    """A made-up word of 8 letters, the same for the same parts: stories that share no words."""
    digest = hashlib.sha1(repr(parts).encode()).hexdigest()[:8]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


def story_payload(i: int) -> tuple[list[SeenItem], list[NewAlert], list[Any], list[Any]]:
    """A first poll of a feed as the poller commits it: 50 items, each founding its own story
    (fingerprint, band keys, settled at commit), archived, with a sighting each, and 5 alerts."""
    from monitor.dedup.fingerprint import fingerprint_text
    from monitor.model import ArchivedItem, StorySource

    seen, archive, sources = [], [], []
    for k in range(50):
        words = [word(i, k, j) for j in range(12)]
        title = " ".join(words[:6])
        fp = fingerprint_text(title, " ".join(words))
        key, story = f"item-{i}-{k}", f"s-{i}-{k}"
        seen.append(SeenItem(key, story, T0, "h" * 16, fp.bands, fp.to_bytes(), new_story=True))
        archive.append(ArchivedItem(f"s{i}", key, story, T0, title=title, summary="x" * 300))
        sources.append(StorySource(story, f"s{i}", key, T0, f"https://e.org/{key}", title))
    _, alerts = poll_payload(i)
    alerts = [
        replace(a, id=f"s-alert-{i}-{n}", feed_id=f"s{i}", story_key=f"s-{i}-{n}")
        for n, a in enumerate(alerts)
    ]
    return seen, alerts, archive, sources


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.2f}"


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
    out["commit_poll 50+5 median ms"] = median_ms(times)
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

    # commit_poll of a first poll that founds 50 stories (settled against the index, archived)
    story_polls = max(1, polls // 4)
    store.sync_feeds([FeedSpec(f"s{i}", f"https://e.org/s{i}") for i in range(story_polls)], T0)
    store.claim_due_feeds(T0, story_polls, LEASE, "bench")
    payloads = [story_payload(i) for i in range(story_polls)]
    times = []
    for i, (seen, alerts, archive, sources) in enumerate(payloads):
        start = time.perf_counter()
        n = store.commit_poll(f"s{i}", "bench", T0, update, seen, alerts, sources,
                              stories_since=T0, archive=archive)  # fmt: skip
        times.append(time.perf_counter() - start)
        assert n == 5
    out["commit_poll 50 stories+archive median ms"] = median_ms(times)

    # commit_unchanged: the `feeds` feeds answered 304, written 100 to a transaction
    store.sync_feeds(specs, late)  # back from the story feeds' sync, with their state
    store.claim_due_feeds(late + 2 * LEASE, feeds + polls, LEASE, "u")
    gone = FeedUpdate("not_modified", late + 3 * LEASE, late + LEASE, etag="e2")
    ids = [f"g{i:05}" for i in range(feeds)]
    times = []
    for start_at in range(0, feeds, 100):
        batch = [(f, gone) for f in ids[start_at : start_at + 100]]
        start = time.perf_counter()
        written = store.commit_unchanged("u", batch)
        times.append(time.perf_counter() - start)
        assert len(written) == len(batch)
    out["commit_unchanged 100 feeds median ms"] = median_ms(times)
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
