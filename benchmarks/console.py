"""Benchmark the console's pages, server-side: how long each page takes to answer (store reads and
template rendering, from the request in to the HTML out) with 1,000 feeds, 100 rules and
100,000 archived items, and how long a playground query over the whole archive takes.

    python benchmarks/console.py [--feeds 1000] [--rules 100] [--items 100000] [--alerts 20000]
                                 [--runs 30] [--pg-url URL]

The store is filled through its own API: every feed polled once (its seen items, archived items
and alerts in one `commit_poll`, as the daemon writes them), one feed in twenty failing. Items
and rules are those of `match.py` (seeded). Alerts are spread over the last 30 days, each naming
one to three rules, and 2% of them are dead letters. Each page is asked `--runs` times through
`Console.__call__` with a bearer token (no HTTP, no scrypt): p50, p95 and the largest wall-clock
time, p50 and p95 of this process's CPU time (all its threads: the store reads run in one), and
the page's size. The rules pages are asked a minute apart (the alerts per rule are read from
the store at most once a minute), and once more within the minute. The playground runs the
first rule's query and a one-word query over every archived item (`since=all`), three times
each. PostgreSQL runs too when `--pg-url` or
NEWSMON_TEST_POSTGRES_URL is set (a schema of its own, dropped after).

Wall-clock times on a shared machine: other work shows up in them, so compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from match import make_rules, vocabulary

from monitor.clock import FakeClock
from monitor.config.ui import Credential, UIConfig
from monitor.console import Console, build_console
from monitor.console.web import Request
from monitor.model import FeedSpec, FeedUpdate, Item, NewAlert, SeenItem, StorySource
from monitor.pipeline.archive import archived
from monitor.query.ruleset import RuleSet

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
TOKEN = "benchmark-token-0123456789"
# (row label, path, each request a minute after the last: the alerts per rule read again)
PAGES = [
    ("/ui/feeds", "/ui/feeds", False),
    ("/ui/rules", "/ui/rules", True),
    ("/ui/rules/{rule}", "/ui/rules/{rule}", True),
    ("/ui/rules, within a minute", "/ui/rules", False),
    ("/ui/alerts", "/ui/alerts", False),
    ("/ui/dead", "/ui/dead", False),
]


def document(alert_id: str, title: str, rules: list[Any], snippet: str) -> dict[str, Any]:
    return {
        "version": 1, "type": "newsmon.alert", "id": alert_id, "destination": "hook",
        "created_at": NOW.isoformat(),
        "rules": [{"id": r.id, "name": r.name, "severity": r.severity, "tags": []} for r in rules],
        "item": {"title": title, "url": f"https://news.example/{alert_id}", "summary": snippet,
                 "published": None, "feed": {"id": "f", "title": "Feed", "url": None}},
        "matches": [{"rule": r.id, "snippet": snippet[:300],
                     "explanation": {"clauses": [r.query[:80]], "hits": []}} for r in rules],
    }  # fmt: skip


def make_items(rng: random.Random, vocab: list[str], n: int) -> list[Item]:
    """`match.make_items`'s items (Zipf-weighted words, a title of 9 and a summary of 66), with
    the cumulative weights computed once: `random.choices` redoes them on every call otherwise,
    which made filling 100,000 items take minutes."""
    cum = list(accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    items = []
    for i in range(n):
        title = " ".join(rng.choices(vocab, cum_weights=cum, k=9)).capitalize()
        words = rng.choices(vocab, cum_weights=cum, k=66)
        for j in range(10, len(words), 12):
            words[j] += rng.choice([".", ",", ""])
        items.append(Item(feed_id="f", key=str(i), title=title, summary=" ".join(words)))
    return items


def fill(store: Any, n_feeds: int, ruleset: RuleSet, n_items: int, n_alerts: int) -> float:
    """Fill the store; returns the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(7)
    vocab = vocabulary(rng)
    items = make_items(rng, vocab, n_items)
    rules = list(ruleset.rules.values())
    store.sync_feeds(
        [
            FeedSpec(id=f"feed{i:04d}", url=f"https://feeds.example/{i}.xml", name=f"Feed {i}")
            for i in range(n_feeds)
        ],
        NOW - timedelta(days=31),
    )
    claimed = store.claim_due_feeds(NOW, n_feeds, timedelta(hours=1), "bench")
    per_feed = -(-n_items // n_feeds)
    alerts_per_feed = -(-n_alerts // n_feeds)
    dead: list[str] = []
    for f, feed in enumerate(claimed):
        mine = items[f * per_feed : (f + 1) * per_feed]
        seen, archive, alerts, sources = [], [], [], []
        for k, item in enumerate(mine):
            seen_at = NOW - timedelta(seconds=rng.uniform(0, 30 * 86400))
            item = replace(item, feed_id=feed.id, key=f"{f}-{k}")
            story = f"s{f}-{k}"
            seen.append(SeenItem(key=item.key, story_key=story))
            archive.append(archived(item, story, seen_at))
            if k < alerts_per_feed:
                alert_id = f"msg_{f:016x}{k:016x}"
                chosen = rng.sample(rules, rng.randint(1, 3))
                alerts.append(NewAlert(alert_id, "hook", story, feed.id, item.key,
                                       document(alert_id, item.title, chosen, item.summary),
                                       seen_at))  # fmt: skip
                sources.append(StorySource(story, feed.id, item.key, seen_at, None, item.title))
                if rng.random() < 0.02:
                    dead.append(alert_id)
        failing = f % 20 == 0
        update = FeedUpdate(
            status="error" if failing else "ok",
            next_poll_at=NOW + timedelta(minutes=5),
            fetched_at=NOW,
            error="HTTP 503" if failing else None,
            error_kind="http_status" if failing else None,
            error_count=4 if failing else 0,
        )
        store.commit_poll(feed.id, "bench", NOW, update, seen, alerts, sources, archive=archive)
    for alert_id in dead:
        store.dead_letter(alert_id, None, NOW, "HTTP 400")
    return time.perf_counter() - started


def timed(
    console: Console,
    loop: asyncio.AbstractEventLoop,
    path: str,
    runs: int,
    clock: FakeClock | None = None,
) -> tuple[list[float], list[float], int]:
    """(wall-clock seconds, CPU seconds of this process, page bytes) of `runs` requests; with
    `clock`, each a minute after the one before."""
    path, _, query = path.partition("?")
    headers = {"authorization": f"Bearer {TOKEN}", "accept": "text/html"}
    wall: list[float] = []
    cpu: list[float] = []
    size = 0
    for _ in range(runs):
        if clock is not None:
            clock.advance(61)  # past the minute the alerts per rule are kept
        request = Request("GET", path, query, headers, b"", "127.0.0.1")
        started, started_cpu = time.perf_counter(), time.process_time()
        reply = loop.run_until_complete(console(request))
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)  # every thread: the store reads too
        assert reply.status == 200, (path, reply.status, reply.body[:200])
        size = len(reply.body)
    return wall, cpu, size


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def measure(store: Any, ruleset: RuleSet, runs: int) -> list[tuple[str, ...]]:
    ui = UIConfig.model_validate({"enabled": True})
    clock = FakeClock(NOW)
    console = build_console(
        ui, [Credential("read", "token", TOKEN, "bench")], store=store,
        rules=lambda: ruleset, clock=clock,
    )  # fmt: skip
    rows: list[tuple[str, ...]] = []
    loop = asyncio.new_event_loop()
    try:
        # A rule without named sets: the playground compiles a query without them.
        first_rule = next(r.id for r in ruleset.rules.values() if "$" not in r.query)
        for page, path, fresh in PAGES:
            path = path.format(rule=first_rule)
            wall, cpu, size = timed(console, loop, path, runs, clock if fresh else None)
            mid, mid_cpu = statistics.median(wall), statistics.median(cpu)
            kb = f"{size / 1024:,.0f}"
            rows.append(
                (page, ms(mid), ms(p95(wall)), ms(max(wall)), ms(mid_cpu), ms(p95(cpu)), kb)
            )
        rule = ruleset.rules[first_rule]
        word = rule.query.split()[0].strip('()"=*')
        trials = ((f"playground: rule {first_rule}", rule.query), ("playground: one word", word))
        for label, query in trials:
            path = "/ui/playground?" + urlencode({"q": query, "since": "all"})
            # A minute apart: a run rests the playground as long as it took (at most 60 s).
            wall, cpu, size = timed(console, loop, path, 3, clock)
            rows.append((label, ms(statistics.median(wall)), "—", ms(max(wall)),
                         ms(statistics.median(cpu)), "—", f"{size / 1024:,.0f}"))  # fmt: skip
    finally:
        loop.close()
    return rows


def stores(pg_url: str | None) -> Iterator[tuple[str, Any]]:
    from monitor.store.sqlite import SQLiteStore

    with TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        store.migrate()
        try:
            yield "SQLite", store
        finally:
            store.close()
    if not pg_url:
        return
    import psycopg

    from monitor.store.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        pg = PostgresStore(pg_url, schema=schema)
        pg.migrate()
        try:
            yield "PostgreSQL", pg
        finally:
            pg.close()
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pg-url", default=os.environ.get("NEWSMON_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    rng = random.Random(11)
    rules, sets = make_rules(rng, vocabulary(random.Random(7)), args.rules)
    ruleset = RuleSet.from_rules(rules, sets)
    print(f"console: {args.feeds:,} feeds ({args.feeds // 20:,} failing), {args.rules} rules, "
          f"{args.items:,} archived items, {args.alerts:,} alerts over 30 days; "
          f"{args.runs} runs a page")  # fmt: skip
    for name, store in stores(args.pg_url):
        seconds = fill(store, args.feeds, ruleset, args.items, args.alerts)
        print(f"\n{name} (filled in {seconds:.0f} s)")
        header = ("page", "p50 ms", "p95 ms", "max ms", "CPU p50 ms", "CPU p95 ms", "KB")
        rows = measure(store, ruleset, args.runs)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, tuple("-" * w for w in widths), *rows]:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
