"""`newsmon run` killed with SIGKILL again and again while its feeds keep gaining items: nothing is
lost, and a duplicate is only ever a resend of one alert (same webhook-id), at most one per kill.

CI runs NEWSMON_FAULT_KILLS kills (default 40, about two minutes here); NEWSMON_SOAK=1 runs 200.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.delivery.signing import verify
from tests.faults.harness import (
    SECRET,
    SOAK,
    DaemonProcess,
    GrowingFeeds,
    daemons_past_baseline,
    pending_count,
    pg_pending,
    tally,
    wait_until,
)
from tests.feedserver import feed_server
from tests.receiver import Receiver
from tests.replicas_harness import fresh_database
from tests.store_fixtures import skip_without_postgres

KILLS = 200 if SOAK else int(os.environ.get("NEWSMON_FAULT_KILLS", "40"))
FEEDS = ["alpha", "bravo", "charlie", "delta"]
REPORT = (
    Path(os.environ.get("NEWSMON_FAULT_REPORT", ""))
    if os.environ.get("NEWSMON_FAULT_REPORT")
    else None
)


def started_count(daemon: DaemonProcess) -> int:
    return len(re.findall(r'"event": "daemon_started"', daemon.log_text()))


def started_more_than(daemon: DaemonProcess, count: int) -> Callable[[], bool]:
    return lambda: started_count(daemon) > count


@pytest.mark.fault
@pytest.mark.timeout(1800 if SOAK else 400)
def test_sigkill_at_random_moments_loses_nothing_and_duplicates_only_resends(
    tmp_path: Path,
) -> None:
    rng = random.Random(int(os.environ.get("NEWSMON_FAULT_SEED", "20261127")))
    db = tmp_path / "state.db"
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, FEEDS)
        with daemons_past_baseline(tmp_path, str(db), feeds, rx) as [daemon]:
            # One item every 100 ms to a random feed: 2.5 items/s per feed, so a feed's 400-item
            # window holds 160 s of news; no life is ever down that long.
            feeds.start(period=0.1, per_tick=1)
            kills = in_startup = 0
            started = time.monotonic()
            # daemon_started lines logged before the current life began: the log spans lives,
            # so a life has started once the count passes this, not the count at the loop's top.
            before = 0
            for _ in range(KILLS):
                if rng.random() < 0.2:
                    # Some kills land during start-up (migrations, feed sync, the first claim).
                    time.sleep(rng.uniform(0.2, 1.5))
                    in_startup += 1
                else:
                    wait_until(started_more_than(daemon, before), 30, "daemon_started")
                    time.sleep(rng.uniform(0.05, 1.3))
                assert daemon.alive(), daemon.log_text()[-3000:]
                daemon.kill()
                kills += 1
                before = started_count(daemon)
                daemon.start()
            loop_seconds = time.monotonic() - started
            feeds.stop()
            expected = feeds.expected()

            # The last, clean life drains everything: leases of the dead expire within seconds.
            def drained() -> bool:
                return not tally(expected, list(rx.requests)).missing and pending_count(db) == 0

            try:
                wait_until(drained, 120, "every expected alert", step=0.5)
            except AssertionError:
                print(
                    "not drained:",
                    tally(expected, list(rx.requests)).summary(),
                    "pending",
                    pending_count(db),
                    "missing",
                    tally(expected, list(rx.requests)).missing[:5],
                )
                raise
            time.sleep(3)  # anything still leased to a dead life would be resent by now
            assert daemon.stop() == 0
        requests = list(rx.requests)

    result = tally(expected, requests)
    numbers = {
        "kills": kills,
        "kills_in_startup": in_startup,
        "lives": daemon.lives,
        "loop_seconds": round(loop_seconds, 1),
        "expected": result.expected,
        "delivered": result.delivered,
        "requests": result.requests,
        "duplicates": result.duplicates,
        "torn_requests": result.torn,
    }
    print("crash loop:", json.dumps(numbers))
    if REPORT is not None:
        with REPORT.open("a") as out:
            out.write(json.dumps({"test": "crash_loop", **numbers}) + "\n")
    assert result.expected > 0
    assert result.missing == [], result.summary()
    assert result.unexpected == [], result.unexpected[:5]
    assert result.titles_with_several_ids() == {}, "one item, two alert ids: a double alert"
    assert result.bad_ids == []
    assert result.duplicates <= kills, result.summary()
    complete = [r for r in requests if len(r.body) >= int(r.headers.get("content-length") or 0)]
    assert len(complete) == len(requests) - result.torn
    assert all(verify(SECRET, r.headers, r.body) for r in complete)
    assert "Traceback" not in daemon.log_text()


REPLICA_KILLS = int(os.environ.get("NEWSMON_FAULT_REPLICA_KILLS", "12"))


@pytest.mark.fault
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_three_replicas_one_sigkilled_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    """Three `newsmon run` replicas on one PostgreSQL with the default leases; a random one is
    SIGKILLed at a random moment and restarted, again and again: the others (or its next life)
    take its work over through the heartbeat, nothing is lost, and a duplicate is only a resend
    of one alert (same webhook-id)."""
    rng = random.Random(int(os.environ.get("NEWSMON_FAULT_SEED", "20261206")))
    with (
        fresh_database(skip_without_postgres(), prefix="crashloop") as db_url,
        feed_server() as server,
        Receiver() as rx,
    ):
        feeds = GrowingFeeds(server, FEEDS)
        with daemons_past_baseline(
            tmp_path, db_url, feeds, rx, count=3, short_leases=False
        ) as daemons:
            feeds.start(period=0.1, per_tick=1)
            kills = 0
            started = time.monotonic()
            # Each replica's daemon_started lines from before its current life: a life killed in
            # start-up never logs one, so "one line per life" cannot tell when this life is up.
            before = [0] * len(daemons)
            for _ in range(REPLICA_KILLS):
                index = rng.randrange(len(daemons))
                victim = daemons[index]
                if rng.random() < 0.2:
                    time.sleep(rng.uniform(0.2, 1.5))  # in start-up, or still running
                else:
                    wait_until(started_more_than(victim, before[index]), 30, "daemon_started")
                    time.sleep(rng.uniform(0.05, 1.3))
                assert victim.alive(), victim.log_text()[-3000:]
                victim.kill()
                kills += 1
                before[index] = started_count(victim)
                victim.start()
            loop_seconds = time.monotonic() - started
            feeds.stop()
            expected = feeds.expected()
            last_restart = time.monotonic()

            def drained() -> bool:
                return not tally(expected, list(rx.requests)).missing and pg_pending(db_url) == 0

            try:
                # The last victim's leases are free once its heartbeat is ~10 s old.
                wait_until(drained, 90, "every expected alert", step=0.5)
            except AssertionError:
                print("not drained:", tally(expected, list(rx.requests)).summary(),
                      "pending", pg_pending(db_url))  # fmt: skip
                raise
            drain_seconds = time.monotonic() - last_restart
            time.sleep(3)  # a late double delivery would arrive now
            assert [d.stop() for d in daemons] == [0, 0, 0]
        requests = list(rx.requests)

    result = tally(expected, requests)
    numbers = {
        "kills": kills,
        "lives": [d.lives for d in daemons],
        "loop_seconds": round(loop_seconds, 1),
        "drain_seconds": round(drain_seconds, 1),
        "expected": result.expected,
        "delivered": result.delivered,
        "requests": result.requests,
        "duplicates": result.duplicates,
        "torn_requests": result.torn,
    }
    print("replica crash loop:", json.dumps(numbers))
    assert result.expected > 0
    assert result.missing == [], result.summary()
    assert result.unexpected == [], result.unexpected[:5]
    assert result.titles_with_several_ids() == {}, "one item, two alert ids: a double alert"
    assert result.bad_ids == []
    assert result.duplicates <= kills, result.summary()
    complete = [r for r in requests if len(r.body) >= int(r.headers.get("content-length") or 0)]
    assert all(verify(SECRET, r.headers, r.body) for r in complete)
    for daemon in daemons:
        log = daemon.log_text()
        assert "Traceback" not in log, log[max(0, log.find("Traceback") - 1500) :][:6000]
