"""One story released at the same instant in three feeds (near-identical headlines, the same lede,
other GUIDs and links), again and again at random intervals: exactly one alert per story and
destination, one story in the index, every feed's item a sighting of it. Real processes, a real
feed server and webhook receiver on 127.0.0.1, real PostgreSQL and SQLite.

- one `newsmon run` with the default `concurrency` (its polls of one story run at once);
- two and three `newsmon run` replicas on one PostgreSQL;
- a daemon and `newsmon check --deliver` runs on one SQLite file.

The feed server holds the answers of a release until every feed has asked for it, so the polls
of one story read the story index and commit at nearly the same time (tests/story_feeds.py).
The PostgreSQL tests need NEWSMON_TEST_POSTGRES_URL (`source .ci/postgres.sh`).
NEWSMON_STORY_RACE_ROUNDS sets the number of releases (default 10; the SQLite test goes on, up to
three times as many, until a check run has alerted a story itself).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.receiver import Receiver
from tests.replicas_harness import SECRET, Replica, fresh_database
from tests.store_fixtures import skip_without_postgres
from tests.story_feeds import RULE, StoryFeeds

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("NEWSMON_STORY_RACE_ROUNDS", "10"))
DESTINATIONS = ("hook", "desk")
FEEDS = 3

# A database row as the driver returns it: its columns' types are the query's, not the code's.
Rows = list[tuple[Any, ...]]
Query = Callable[[str], Rows]


def write_config(
    folder: Path, feeds: StoryFeeds, rx: Receiver, database_url: str = "", extra: str = ""
) -> Path:
    """Every feed polled each second; default `concurrency`. `per_host_concurrency` is raised
    because every feed is on 127.0.0.1 and the held answers need a connection each."""
    rules = folder / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "troops.yaml").write_text(RULE)
    lines = [
        f"rules: {rules}",
        'allow_networks: ["127.0.0.1/32"]',
        "log_level: info",
        "log_format: json",
        "per_host_concurrency: 10",
        "fetch_deadline: 10s",
        # No listener (the replicas set NEWSMON_HTTP_ADDR): the default 127.0.0.1:9464 is the
        # machine's, and a daemon that finds it taken exits at once.
        "http_addr: ''",
        extra,
        "feeds:",
        *(f"  - {{id: {fid}, url: '{url}', interval: 1s}}" for fid, url in feeds.urls().items()),
        "destinations:",
    ]
    if database_url:
        lines.insert(0, f"database_url: {database_url}")
    for name in DESTINATIONS:
        lines += [
            f"  - name: {name}",
            "    type: webhook",
            f"    url: http://127.0.0.1:{rx.port}/{name}",
            "    secret_env: REPLICAS_HOOK_SECRET",
        ]
    path = folder / "newsmon.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def release_stories(
    feeds: StoryFeeds, rounds: int, seed: int, enough: Callable[[], bool] = lambda: True
) -> int:
    """`rounds` stories, each in every feed at once, at random intervals; then more, up to three
    times `rounds` in all, until `enough()`. How many were released."""
    rng = random.Random(seed)
    released = 0
    while released < rounds or (released < 3 * rounds and not enough()):
        feeds.release()
        released += 1
        time.sleep(rng.uniform(1.2, 2.8))
    return released


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.25)


def delivered(rx: Receiver, feeds: StoryFeeds) -> Counter[tuple[int | None, str]]:
    """(story serial, destination) -> requests received."""
    found: Counter[tuple[int | None, str]] = Counter()
    for request in list(rx.requests):
        title = str(json.loads(request.body)["item"]["title"])
        found[(feeds.story_of(title), request.path.strip("/"))] += 1
    return found


def assert_one_alert_per_story(rx: Receiver, feeds: StoryFeeds, rounds: int) -> None:
    time.sleep(3.0)  # a second alert for a story would be sent by now
    got = delivered(rx, feeds)
    wanted: dict[tuple[int | None, str], int] = {
        (n, d): 1 for n in range(1, rounds + 1) for d in DESTINATIONS
    }
    extra = {k: v for k, v in got.items() if wanted.get(k) != v}
    missing = sorted(k for k in wanted if k not in got)
    summary = f"{len(rx.requests)} alerts for {rounds} stories: {extra=} {missing=}"
    assert not extra, summary
    assert not missing, summary


def assert_one_story_each(query: Query, rounds: int) -> None:
    """Every feed's item of a story is filed under one story key, with a sighting each."""
    keys = query("SELECT story_key, count(*) FROM seen_items GROUP BY story_key")
    assert sorted(n for _, n in keys) == [FEEDS] * rounds, keys
    sources: dict[str, int] = dict(
        query("SELECT story_key, count(*) FROM story_sources GROUP BY story_key")
    )
    assert sources == dict(keys), (sources, keys)
    alerts = query("SELECT story_key, count(*) FROM alerts GROUP BY story_key")
    assert sorted(alerts) == sorted((k, len(DESTINATIONS)) for k, _ in keys), alerts


def baselined(query: Query) -> Callable[[], bool]:
    """Every feed had its (silent) baseline poll: a story released before would not alert."""

    def check() -> bool:
        try:
            rows = query("SELECT count(*) FROM feeds WHERE baseline_done")
        except (sqlite3.Error, psycopg.Error):
            return False  # not created or migrated yet
        return int(rows[0][0]) == FEEDS

    return check


def all_sent(rx: Receiver, rounds: int) -> Callable[[], bool]:
    return lambda: len(rx.requests) >= rounds * len(DESTINATIONS)


# -- PostgreSQL ------------------------------------------------------------------------------
@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database(skip_without_postgres(), prefix="storyrace") as url:
        yield url


def pg_query(url: str) -> Query:
    def query(sql: str) -> Rows:
        with psycopg.connect(url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]

    return query


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(360)
@pytest.mark.parametrize("count", [1, 2, 3], ids=["one-daemon", "two-replicas", "three-replicas"])
def test_same_story_at_once_alerts_once_on_postgres(
    count: int, database: str, tmp_path: Path
) -> None:
    with StoryFeeds(FEEDS) as feeds, Receiver() as rx:
        config = write_config(tmp_path, feeds, rx)
        started: list[Replica] = []
        try:
            for i in range(count):
                started.append(Replica(f"replica{i + 1}", config, database, tmp_path))
            for replica in started:
                replica.wait_ready(60)
            wait_until("the baseline polls", baselined(pg_query(database)), 60)
            release_stories(feeds, ROUNDS, seed=count)
            wait_until("an alert per story and destination", all_sent(rx, ROUNDS), 60)
            assert_one_alert_per_story(rx, feeds, ROUNDS)
        finally:
            for replica in started:
                replica.stop()
        print(f"{count} process(es): {feeds.requests} feed requests, {feeds.held} held")
    assert_one_story_each(pg_query(database), ROUNDS)


# -- SQLite: a daemon and check --deliver --------------------------------------------------
@pytest.mark.fault
@pytest.mark.timeout(360)
def test_same_story_at_once_alerts_once_daemon_and_check_on_sqlite(tmp_path: Path) -> None:
    from tests.daemon_support import daemon_env

    db = tmp_path / "state.db"
    env = daemon_env(REPLICAS_HOOK_SECRET=SECRET)
    runs: list[subprocess.CompletedProcess[str]] = []
    stop = threading.Event()
    with StoryFeeds(FEEDS) as feeds, Receiver() as rx:
        config = write_config(tmp_path, feeds, rx, database_url=f"sqlite:///{db}")

        def cron() -> None:
            while not stop.is_set():
                runs.append(subprocess.run(
                    [sys.executable, "-m", "monitor", "check", "--deliver", "--config",
                     str(config)],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                ))  # fmt: skip

        log = (tmp_path / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        checks = threading.Thread(target=cron, daemon=True)
        try:
            wait_until("the baseline polls", baselined(sqlite_query(db)), 60)
            checks.start()
            # A check run alerts a story itself only when it polls before the daemon does. How
            # many runs fit in the releases is the machine's speed (20 here, 3 under load), so
            # the stories go on until one has: else the race under test may not have happened.
            rounds = release_stories(
                feeds, ROUNDS, seed=7, enough=lambda: any(r.returncode == 0 for r in runs)
            )
            wait_until("an alert per story and destination", all_sent(rx, rounds), 60)
            stop.set()
            checks.join(timeout=130)
            assert_one_alert_per_story(rx, feeds, rounds)
        finally:
            stop.set()
            daemon.terminate()
            daemon.wait(30)
            log.close()
    outputs = [r.stdout + r.stderr for r in runs]
    assert [r.returncode for r in runs if r.returncode not in (0, 1)] == [], outputs[-1:]
    # Some check runs polled a released story themselves (exit 0: something matched).
    assert any(r.returncode == 0 for r in runs), f"{len(runs)} check runs, {rounds} stories"
    assert not [o for o in outputs if "locked" in o.lower()]

    assert_one_story_each(sqlite_query(db), rounds)


def sqlite_query(db: Path) -> Query:
    def query(sql: str) -> Rows:
        if not db.exists():
            raise sqlite3.OperationalError("no database yet")
        conn = sqlite3.connect(db, timeout=10)
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    return query
