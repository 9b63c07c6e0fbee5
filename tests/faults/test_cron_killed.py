"""A `newsmon check --deliver` (cron) SIGKILLed mid-poll beside a daemon on one SQLite file (a
cron `timeout -s KILL`, the OOM killer, a reboot): the feeds it held go back to the daemon, and
their next items alert.

- The cron run polls every feed, due or not. It used to claim them as if the time were ten years
  ahead, so their leases ran for ten years (the daemon never polled them again: every later item
  of those feeds was lost) and it took feeds the live daemon was polling at that moment.
- It keeps a heartbeat, as the daemon does: a restart on this host ends a killed run's holder row
  and polls its feeds at once, not after the default 2-minute lease.
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
    Tally,
    child_env,
    daemons_past_baseline,
    tally,
    wait_until,
)
from tests.feedserver import FeedServer, feed_server
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


class HeldFeeds:
    """Every feed served by a route that, while `hold()` is on, keeps its answer back (up to
    10 s), so that a poll is in flight for as long as the test needs."""

    def __init__(self, server: FeedServer, feeds: GrowingFeeds) -> None:
        self.feeds = feeds
        self._held = threading.Event()
        self._go = threading.Event()
        for feed in feeds.feed_ids:
            server.routes[f"/{feed}.rss"] = self._route(feed)

    def hold(self) -> None:
        self._go.clear()
        self._held.set()

    def answer(self) -> None:
        self._held.clear()
        self._go.set()

    def _route(self, feed: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def route(handler: BaseHTTPRequestHandler) -> None:
            if self._held.is_set():
                self._go.wait(10)
            body = self.feeds.render(feed)
            handler.send_response(200)
            handler.send_header("Content-Type", "application/rss+xml")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        return route


def kill_cron_mid_poll(db: Path, config: Path) -> tuple[dict[str, float], float]:
    """Start `check --deliver`, SIGKILL it once it leases every feed; the leases it left and
    the time of the kill (epoch seconds). The feed answers must be held."""
    cron = subprocess.Popen(
        [sys.executable, "-m", "monitor", "check", "--deliver", "--config", str(config)],
        cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(
            lambda: len(leases_of(db, cron.pid)) == len(FEEDS) or cron.poll() is not None,
            60,
            "the cron run to lease every feed",
            step=0.02,
        )
        left = leases_of(db, cron.pid)
        killed_at = time.time()
    finally:
        cron.kill()
        cron.wait(10)
    assert sorted(left) == FEEDS, "the cron run was not mid-poll when killed"
    return left, killed_at


def wait_alerted(feeds: GrowingFeeds, rx: Receiver, timeout: float) -> Tally:
    """A new item in every feed; wait until each is alerted, then the tally of all requests."""
    for feed in FEEDS:
        feeds.add(feed)
    expected = feeds.expected()
    wait_until(
        lambda: not tally(expected, list(rx.requests)).missing,
        timeout,
        "the items added after the kill, alerted by the daemon",
        step=0.2,
    )
    return tally(expected, list(rx.requests))


def test_a_cron_run_killed_mid_poll_hands_its_feeds_back_after_the_lease(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, FEEDS)
        held = HeldFeeds(server, feeds)
        with daemons_past_baseline(tmp_path, str(db), feeds, rx) as [daemon]:
            # The daemon paused long enough for its own leases to run out, so that the cron
            # run can claim every feed; its heartbeat (10 s) is still alive.
            os.kill(daemon.pid, signal.SIGSTOP)
            try:
                time.sleep(LEASE_S + 0.5)
                held.hold()
                left, killed_at = kill_cron_mid_poll(db, daemon.config)
            finally:
                os.kill(daemon.pid, signal.SIGCONT)
                held.answer()
            # A killed run leaves leases of feed_lease, not of years.
            assert max(left.values()) <= killed_at + LEASE_S + 1.0, left
            result = wait_alerted(feeds, rx, LEASE_S + 20)
            assert daemon.stop() == 0
    assert result.missing == []
    assert result.duplicates == 0, result.summary()
    assert result.unexpected == []


def test_a_restart_after_a_killed_cron_run_polls_its_feeds_at_once(tmp_path: Path) -> None:
    """Default leases (2 minutes): the restart ends the killed run's holder row and polls."""
    db = tmp_path / "state.db"
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, FEEDS)
        held = HeldFeeds(server, feeds)
        with daemons_past_baseline(tmp_path, str(db), feeds, rx, short_leases=False) as [daemon]:
            assert daemon.stop() == 0
            held.hold()
            try:
                left, killed_at = kill_cron_mid_poll(db, daemon.config)
            finally:
                held.answer()
            assert min(left.values()) >= killed_at + 60, "not the default lease"
            daemon.start()
            started = time.monotonic()
            result = wait_alerted(feeds, rx, 30)
            took = time.monotonic() - started
            assert daemon.stop() == 0
    print(f"restart after a killed cron run: alerted {took:.1f}s after the start")
    assert result.missing == []
    assert result.duplicates == 0, result.summary()
    assert result.unexpected == []
    assert '"dead_holders_taken_over"' in daemon.log_text()
