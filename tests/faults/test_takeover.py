"""Fast takeover with the DEFAULT leases (`feed_lease` and `delivery_lease` 2 minutes): a daemon
SIGKILLed while a poll and a delivery are in flight, restarted at once on the same SQLite file,
delivers everything within 15 s (it ends its dead predecessor's holder row at start); and a
holder that is slow but alive (a 30 s fetch) is never taken over by a second daemon on the same
file. Real processes, a real feed server and receiver on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.faults.harness import (
    DaemonProcess,
    GrowingFeeds,
    baselined,
    hook_destination,
    tally,
    wait_until,
)
from tests.feedserver import FeedServer, feed_server
from tests.receiver import Received, Receiver, Reply

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]


def config_with_default_leases(folder: Path, db: Path, feeds: dict[str, str], rx_url: str,
                               extra: str = "") -> Path:  # fmt: skip
    """No feed_lease, delivery_lease or holder setting: the defaults are what is tested."""
    feed_yaml = "".join(
        f"  - id: {fid}\n    url: {url}\n    interval: 1s\n    backfill: 0\n"
        for fid, url in feeds.items()
    )
    path = folder / "newsmon.yaml"
    path.write_text(
        f"""database_url: {db}
rules: {ROOT / "rules"}
allow_networks: ["127.0.0.1/32"]
http_addr: ""
log_level: info
log_format: json
retention: 3650d
{extra}
feeds:
{feed_yaml}
destinations:
{hook_destination(rx_url)}"""
    )
    return path


class HeldFeed:
    """A feed path answered at once, or, while `hold` is set, only after `seconds` (or when
    `release` is set): a poll in flight for as long as the test wants."""

    def __init__(self, server: FeedServer, feeds: GrowingFeeds, name: str, seconds: float) -> None:
        self.hold = threading.Event()
        self.release = threading.Event()
        self.started: list[float] = []
        self.finished: list[float] = []
        self._feeds = feeds
        self._name = name
        self._seconds = seconds
        server.routes[f"/{name}.rss"] = self._answer

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.started.append(time.monotonic())
        body = self._feeds.render(self._name)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        sent = 0
        if self.hold.is_set():
            # Trickled in six parts: slow as a whole, yet no single read waits as long as the
            # client's 30 s read timeout (one 30 s silence raced that timeout and lost).
            step = -(-len(body) // 6)
            while sent < len(body) and not self.release.wait(self._seconds / 6):
                handler.wfile.write(body[sent : sent + step])
                handler.wfile.flush()
                sent += step
        handler.wfile.write(body[sent:])
        self.finished.append(time.monotonic())


def held_leases(db: Path) -> tuple[int, int]:
    """(feeds, alerts) leased right now, read as any other process would."""
    with sqlite3.connect(db, timeout=10) as conn:
        now = time.time()
        feeds = conn.execute(
            "SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL AND lease_until > ?", (now,)
        ).fetchone()[0]
        alerts = conn.execute(
            "SELECT count(*) FROM alerts WHERE status = 'pending' AND lease_owner IS NOT NULL"
            " AND lease_until > ?",
            (now,),
        ).fetchone()[0]
    return int(feeds), int(alerts)


def test_sigkill_mid_poll_and_mid_delivery_then_an_immediate_restart_delivers_all_within_15s(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    slow_receiver = threading.Event()

    def reply(_r: Received) -> Reply:
        return Reply(200, delay=20.0) if slow_receiver.is_set() else Reply(200)

    with feed_server() as server, Receiver(reply) as rx:
        feeds = GrowingFeeds(server, ["alpha", "bravo", "held"])
        held = HeldFeed(server, feeds, "held", seconds=25.0)
        config = config_with_default_leases(tmp_path, db, feeds.urls(), rx.url)
        daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
        try:
            wait_until(lambda: baselined(db, 3), 30, "the baseline polls", running=[daemon])
            feeds.baseline_done()
            seen = len(held.started)
            held.hold.set()
            slow_receiver.set()
            for name in ("alpha", "bravo", "alpha", "bravo", "held", "held"):
                feeds.add(name)
            # A delivery and a poll in flight, both under their 2-minute leases.
            wait_until(lambda: len(rx.requests) >= 1, 20, "a delivery in flight")
            wait_until(lambda: len(held.started) > seen, 10, "a poll of the held feed in flight")
            wait_until(lambda: all(held_leases(db)), 10, "feed and alert leases held")
            daemon.kill()
            feeds_held, alerts_held = held_leases(db)
            assert feeds_held >= 1
            assert alerts_held >= 1
            # Restart at once, with the feed and the receiver answering at once again.
            held.hold.clear()
            held.release.set()
            slow_receiver.clear()
            restarted = time.monotonic()
            daemon.start()
            expected = feeds.expected()
            wait_until(
                lambda: tally(expected, rx.requests).delivered == len(expected),
                60,
                "every alert after the restart",
            )
            took = time.monotonic() - restarted
            daemon.stop()
        finally:
            daemon.kill()
    result = tally(expected, rx.requests)
    print(f"held at the kill: {feeds_held} feeds, {alerts_held} alerts; all delivered "
          f"{took:.1f}s after the restart; {result.summary()}")  # fmt: skip
    assert took < 15.0, f"the last alert arrived {took:.1f}s after the restart"
    assert result.missing == []
    assert result.titles_with_several_ids() == {}
    assert result.duplicates <= 1  # the post in flight at the kill, under its webhook-id
    assert "dead_holders_taken_over" in daemon.log_text()


def test_a_slow_but_live_holder_is_never_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, ["alpha", "held"])
        held = HeldFeed(server, feeds, "held", seconds=30.0)
        # The fetch takes 30 s: a deadline above it, the lease (2 minutes) as by default.
        config = config_with_default_leases(
            tmp_path, db, feeds.urls(), rx.url, extra="fetch_deadline: 45s"
        )
        first = DaemonProcess(config, tmp_path / "first.log").start()
        second = DaemonProcess(config, tmp_path / "second.log")
        try:
            wait_until(lambda: baselined(db, 2), 30, "the baseline polls", running=[first])
            feeds.baseline_done()
            seen = len(held.started)
            held.hold.set()
            feeds.add("held")
            wait_until(lambda: len(held.started) > seen, 10, "the 30 s fetch to start")
            slow_started = held.started[-1]
            second.start()  # a second daemon on the same file, claiming every second
            wait_until(lambda: len(held.finished) >= 1 + seen, 45, "the 30 s fetch to end")
            held.hold.clear()
            during = [t for t in held.started if slow_started < t < held.finished[-1]]
            expected = feeds.expected()
            wait_until(lambda: tally(expected, rx.requests).delivered == 1, 20, "the alert")
            time.sleep(2.0)  # a second alert would arrive now
            first.stop()
            second.stop()
        finally:
            first.kill()
            second.kill()
    # Nobody fetched the held feed while its holder was slowly fetching it (the second daemon
    # beat every second and its holder row was alive), and its item was alerted once.
    assert during == []
    assert held.finished[-1] - slow_started >= 29.0
    result = tally(expected, rx.requests)
    assert result.requests == 1, result.summary()
    assert result.missing == []
