"""A `newsmon check --deliver` (cron) SIGKILLed mid-poll beside a running daemon on one SQLite
file (a cron `timeout -s KILL`, the OOM killer, a reboot): the feeds it held go back to the daemon
when their lease runs out, and their next items alert.

The cron run polls every feed, due or not. It used to claim them as if the time were ten years
ahead, so their leases ran for ten years (the daemon never polled them again: every later item of
those feeds was lost) and it took feeds the live daemon was polling at that moment.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.faults.harness import (
    ROOT,
    GrowingFeeds,
    child_env,
    daemons_past_baseline,
    tally,
    wait_until,
)
from tests.feedserver import feed_server
from tests.receiver import Receiver

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

FEEDS = ["north", "south"]
LEASE_S = 3.0  # the harness's feed_lease


def leases_of(db: Path, pid: int) -> dict[str, float]:
    """Feed id -> lease end (epoch seconds) of the feeds that process `pid` holds (read as any
    other process would, with a connection of its own)."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        found = conn.execute(
            "SELECT id, lease_until FROM feeds WHERE lease_owner LIKE ?", (f"%:{pid}:%",)
        ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        conn.close()
    return {str(feed): float(until) for feed, until in found if until is not None}


def test_a_cron_run_killed_mid_poll_hands_its_feeds_back_after_the_lease(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    held = threading.Event()  # set: feed answers wait (until `let_go`), so a poll is in flight
    let_go = threading.Event()
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, FEEDS)

        def answer(feed: str) -> Callable[[BaseHTTPRequestHandler], None]:
            def route(handler: BaseHTTPRequestHandler) -> None:
                if held.is_set():
                    let_go.wait(10)
                body = feeds.render(feed)
                handler.send_response(200)
                handler.send_header("Content-Type", "application/rss+xml")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            return route

        for feed in FEEDS:
            server.routes[f"/{feed}.rss"] = answer(feed)
        with daemons_past_baseline(tmp_path, str(db), feeds, rx) as [daemon]:
            # The daemon paused long enough for its own leases to run out, so that the cron
            # run can claim every feed; its heartbeat (10 s) is still alive.
            os.kill(daemon.pid, signal.SIGSTOP)
            try:
                time.sleep(LEASE_S + 0.5)
                held.set()
                cron = subprocess.Popen(
                    [sys.executable, "-m", "monitor", "check", "--deliver", "--config",
                     str(daemon.config)],
                    cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    wait_until(
                        lambda: (
                            len(leases_of(db, cron.pid)) == len(FEEDS) or cron.poll() is not None
                        ),
                        60,
                        "the cron run to lease every feed",
                        step=0.02,
                    )
                    left = leases_of(db, cron.pid)
                    killed_at = time.time()
                finally:
                    cron.kill()
                    cron.wait(10)
            finally:
                os.kill(daemon.pid, signal.SIGCONT)
            held.clear()
            let_go.set()
            assert sorted(left) == FEEDS, "the cron run was not mid-poll when killed"
            # A killed run leaves leases of feed_lease, not of years.
            assert max(left.values()) <= killed_at + LEASE_S + 1.0, left

            for feed in FEEDS:
                feeds.add(feed)
            expected = feeds.expected()
            wait_until(
                lambda: not tally(expected, list(rx.requests)).missing,
                LEASE_S + 20,
                "the items added after the kill, alerted by the daemon",
                step=0.2,
            )
            assert daemon.stop() == 0
        result = tally(expected, list(rx.requests))
    assert result.missing == []
    assert result.duplicates == 0, result.summary()
    assert result.unexpected == []
