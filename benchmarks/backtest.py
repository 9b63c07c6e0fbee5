"""Benchmark `newsmon rules backtest`: archived items per second against 10, 100 and 10,000 rules,
on SQLite and PostgreSQL, the share spent reading the archive, and bytes per archived item.

    python benchmarks/backtest.py [--items 100000] [--rules 10,100,10000] [--sample 20000]
                                  [--pg-url URL]

The items and rules are those of `match.py` (seeded: every run sees the same input): items of
about 500 bytes (a title and a summary), rules as people write them. PostgreSQL runs when
`--pg-url` or NEWSMON_TEST_POSTGRES_URL is set (`source .ci/postgres.sh` starts a throwaway
server); the benchmark works in a schema of its own and drops it.

Per store: the archive is written in chunks of 50 items (a poll's worth), then its size on disk
is read (SQLite: the file's growth after a checkpoint; PostgreSQL: pg_total_relation_size, table,
indexes and TOAST). Per rule count: the backtest's own path (`archive_batches` reading batches
of 2,000 + `monitor.pipeline.backtest.matches` + `tally`, as `newsmon rules backtest` runs it,
without printing), in wall-clock seconds, with the time spent inside `read_archive`; and the
matcher's own rate, `RuleSet.match` over the same items already in memory (the first `--sample`
of them).
"CPU s" is this process's CPU time for the backtest (PostgreSQL's own work is not in it): on a
shared machine it says what the run would take alone better than the wall-clock time does.
"ratio" is the backtest's rate over the matcher's (wall-clock; "ratio (CPU)": per CPU second of
this process, which leaves out PostgreSQL's share of reading): the issue's floor is 0.5.

Wall-clock times on a shared machine: other work shows up in them, so compare within one run.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from match import make_items, make_rules, vocabulary

from monitor.cli.backtest import Scan, archive_batches
from monitor.clock import SystemClock
from monitor.model import Item
from monitor.pipeline.archive import archived
from monitor.pipeline.backtest import matches, tally
from monitor.query.ruleset import RuleSet

CHUNK = 50


def fill(store: Any, items: list[Item]) -> float:
    """Archive the items a poll's worth at a time; returns items per second."""
    now = SystemClock().now()
    rows = [archived(i, f"story-{i.key}", now) for i in items]
    start = time.perf_counter()
    for k in range(0, len(rows), CHUNK):
        store.archive_items(rows[k : k + CHUNK])
    return len(rows) / (time.perf_counter() - start)


def matcher_rate(rs: RuleSet, items: list[Item]) -> tuple[float, float]:
    """The matcher's own rate over items in memory: (items per wall second, per CPU second)."""
    start, cpu = time.perf_counter(), time.process_time()
    for item in items:
        rs.match(item)
    return len(items) / (time.perf_counter() - start), len(items) / (time.process_time() - cpu)


def backtest(store: Any, rs: RuleSet) -> tuple[int, float, float, float, int]:
    """(items, seconds, CPU seconds of this process, seconds reading, matches), as
    `rules backtest` runs (no printing)."""
    scan = Scan()
    start, cpu = time.perf_counter(), time.process_time()
    found = matches(archive_batches(store, scan, None, None), rs.match, {})
    tallies = tally(found, rs.rules, 5)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return scan.items, seconds, cpu, scan.reading_s, sum(t.matches for t in tallies)


def poll_cost(folder: Path, items: list[Item], feeds: int = 200, per_feed: int = 50) -> list[float]:
    """CPU seconds of a cold round's commits (`feeds` polls of `per_feed` new items each, as
    the poller writes them: seen keys, story index and feed state in one transaction), without
    and with the archive rows (built by `poll_archive` from the parsed items, as the poller
    does); best of 3 each, alternating, each on a fresh SQLite file."""
    from monitor.model import FeedSpec, FeedUpdate, SeenItem
    from monitor.pipeline.archive import poll_archive
    from monitor.store.sqlite import SQLiteStore

    now = SystemClock().now()
    lease = timedelta(minutes=5)
    polls = []
    for f in range(feeds):
        chunk = [replace(i, feed_id=f"feed{f}") for i in items[f * per_feed : (f + 1) * per_feed]]
        polls.append((f"feed{f}", chunk, [SeenItem(i.key, f"s-{f}-{i.key}") for i in chunk]))
    best = [float("inf"), float("inf")]
    for run in range(6):
        archive_on = run % 2 == 1
        store = SQLiteStore(folder / f"poll-{run}.db")
        store.migrate()
        store.sync_feeds(
            [FeedSpec(id=f"feed{f}", url=f"https://x.test/{f}") for f in range(feeds)], now
        )
        store.claim_due_feeds(now, feeds, lease, "w")
        update = FeedUpdate(status="ok", next_poll_at=now + lease, fetched_at=now)
        cpu = time.process_time()
        for feed_id, chunk, seen in polls:
            rows = poll_archive(chunk, seen, now) if archive_on else []
            store.commit_poll(feed_id, "w", now, update, seen, [], archive=rows)
        best[archive_on] = min(best[archive_on], time.process_time() - cpu)
        store.close()
    return best


def sqlite_store(folder: Path) -> tuple[Any, Callable[[], int], Callable[[], None]]:
    from monitor.store.sqlite import SQLiteStore

    path = folder / "bench.db"
    store = SQLiteStore(path)
    store.migrate()

    def size() -> int:
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size

    return store, size, store.close


def postgres_store(url: str) -> tuple[Any, Callable[[], int], Callable[[], None]]:
    import psycopg

    from monitor.store.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    store = PostgresStore(url, schema=schema)
    store.migrate()

    def size() -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE " + f'"{schema}".archive')
            row = conn.execute(f"SELECT pg_total_relation_size('\"{schema}\".archive')").fetchone()
        return int(row[0]) if row else 0

    def close() -> None:
        store.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return store, size, close


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--rules", default="10,100,10000")
    ap.add_argument("--sample", type=int, default=20_000, help="items for the matcher's own rate")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg-url", default=os.environ.get("NEWSMON_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    vocab = vocabulary(rng)
    items = make_items(rng, vocab, args.items)
    text = sum(len((i.title + i.summary).encode()) for i in items) / len(items)
    python = sys.version.split()[0]
    print(f"{len(items):,} items, {text:.0f} bytes of text each on average; Python {python}")
    print("wall-clock times on a shared 2-core machine\n")
    counts = [int(x) for x in args.rules.split(",") if x.strip()]
    rulesets = {}
    for n in counts:
        rules, sets = make_rules(random.Random(args.seed + n), vocab, n)
        rulesets[n] = RuleSet.from_rules(rules, sets)
    gc.collect()
    gc.freeze()  # as the daemon and a one-shot command do with their rules
    stores: list[str] = ["sqlite"] + (["postgres"] if args.pg_url else [])
    rows: list[str] = []
    sizes: list[str] = []
    with TemporaryDirectory(prefix="newsmon-backtest-") as tmp:
        for name in stores:
            store, size, close = (
                sqlite_store(Path(tmp)) if name == "sqlite" else postgres_store(args.pg_url)
            )
            try:
                before = size()
                write_rate = fill(store, items)
                per_item = (size() - before) / len(items)
                sizes.append(f"| {name} | {per_item:,.0f} | {write_rate:,.0f} |")
                for n in counts:
                    rs = rulesets[n]
                    own, own_cpu = matcher_rate(rs, items[: args.sample])
                    done, secs, cpu, reading, found = backtest(store, rs)
                    rate = done / secs
                    rows.append(
                        f"| {name} | {n:,} | {done:,} | {found:,} | {secs:.1f} | {cpu:.1f} "
                        f"| {rate:,.0f} "
                        f"| {reading / secs:.0%} | {1 - reading / secs:.0%} | {own:,.0f} "
                        f"| {rate / own:.2f} | {done / cpu / own_cpu:.2f} |"
                    )
                    print(rows[-1], flush=True)
            finally:
                close()
        off, on = poll_cost(Path(tmp), items)
    print("\n| cold round's commits, 200 feeds x 50 new items (SQLite) | CPU s |")
    print("|---|---|")
    print(f"| without the archive | {off:.2f} |\n| with the archive | {on:.2f} |")
    print(f"| the archive's cost | {on - off:+.2f} ({(on - off) / 10_000 * 1e6:.0f} µs an item) |")
    print("\n| store | bytes per item on disk | archive writes, items/s (50 a transaction) |")
    print("|---|---|---|")
    print("\n".join(sizes))
    print(
        "\n| store | rules | items | matches | backtest s | CPU s | items/s | reading | matching "
        "| matcher alone, items/s | ratio | ratio (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
