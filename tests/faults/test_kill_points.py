"""SIGKILL at the two moments that matter, made deterministic:

- between a receiver's 2xx and the record of delivery: the receiver stops the daemon (SIGSTOP),
  writes its 200, then kills it, so the daemon cannot have recorded the delivery; after a restart
  the alert is sent once more with the same webhook-id, and no more;
- between parsing and the commit: the feed server takes the SQLite write lock before it answers,
  so the poll that parses the new items can fetch, parse and read, but its commit waits; the
  daemon is killed there: neither its seen keys nor its archived items are written. After a
  restart each new item alerts exactly once and is archived once;
- between a 304 and the commit of its batch (monitor.pipeline.unchanged): the feed server takes
  the write lock before it answers 304, so the poll's feed row waits in its batch; the daemon is
  killed there: the row is as before the poll, still leased. After a restart the feed is polled
  again and its next item alerts exactly once.
"""

from __future__ import annotations

import http.server
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import pytest

from monitor.delivery.signing import verify
from tests.faults.harness import (
    SECRET,
    DaemonProcess,
    GrowingFeeds,
    alert_states,
    baselined,
    hook_destination,
    tally,
    wait_until,
    write_config,
)
from tests.feedserver import FeedServer, Served, feed_server, serving
from tests.receiver import Received

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]


@dataclass
class KillingReceiver:
    """A webhook receiver whose first answer is 200 followed by SIGKILL of `pid`."""

    pid: int = 0
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    killed_after_2xx: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def killing_receiver() -> Iterator[KillingReceiver]:
    state = KillingReceiver()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                first = not state.requests
                state.requests.append(
                    Received(len(state.requests), "POST", self.path,
                             {k.lower(): v for k, v in self.headers.items()}, body,
                             time.monotonic())
                )  # fmt: skip
            if first:
                os.kill(state.pid, signal.SIGSTOP)  # it cannot record anything from here on
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.wfile.flush()
            if first:
                os.kill(state.pid, signal.SIGKILL)
                state.killed_after_2xx.set()
            self.close_connection = True

    with serving(Handler) as server:
        state.port = server.server_address[1]
        yield state


def test_sigkill_after_the_2xx_before_the_record_resends_once_with_the_same_id(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    with feed_server() as server, killing_receiver() as rx:
        feeds = GrowingFeeds(server, ["wire"])
        config = write_config(tmp_path, database_url=str(db), feeds=feeds.urls(),
                              destinations=hook_destination(rx.url))  # fmt: skip
        daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
        try:
            rx.pid = daemon.pid
            wait_until(lambda: baselined(db, 1), 60, "the baseline poll", running=[daemon])
            feeds.baseline_done()
            feeds.add("wire")
            assert rx.killed_after_2xx.wait(30), daemon.log_text()[-2000:]
            assert daemon.proc is not None
            assert daemon.proc.wait(timeout=10) == -signal.SIGKILL
            [(alert_id, status)] = alert_states(db)
            assert status == "pending"  # sent and acknowledged, but not recorded

            daemon.start()
            rx.pid = daemon.pid
            wait_until(lambda: alert_states(db) == [(alert_id, "delivered")], 60, "the redelivery")
            time.sleep(3)  # longer than the delivery lease: nothing else is due
            assert daemon.stop() == 0
        finally:
            daemon.kill()
        requests = list(rx.requests)

    assert [r.headers["webhook-id"] for r in requests] == [alert_id, alert_id]
    assert all(verify(SECRET, r.headers, r.body) for r in requests)
    result = tally(feeds.expected(), requests)
    assert (result.delivered, result.duplicates, result.missing) == (1, 1, [])


@dataclass
class Gate:
    """Armed with a lock to take and a body: the next GET of `path` takes the lock, and only then
    is answered with the new body (so no poll can see the new items without the lock held)."""

    path: str
    hold: Callable[[], object] | None = None
    body: Served | None = None
    fired: threading.Event = field(default_factory=threading.Event)


def gate_feeds(server: FeedServer, gate: Gate) -> None:
    """The handler looks the path up in `server.feeds` (under the server's lock) before it writes
    anything; this lookup runs the gate first."""

    class GatedDict(dict[str, Served]):
        # typeshed writes dict.get as overloads; the one the handler calls is this one
        def get(self, key: str, default: Served | None = None) -> Served | None:  # type: ignore[override]
            if key == gate.path and gate.hold is not None and gate.body is not None:
                gate.hold()
                self[key] = gate.body
                gate.hold = None
                gate.fired.set()
            return super().get(key, default)

    server.feeds = GatedDict(server.feeds)


def test_sigkill_between_parsing_and_the_commit_alerts_each_new_item_exactly_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    gate = Gate("/wire.rss")
    with feed_server() as server:
        feeds = GrowingFeeds(server, ["wire"])
        from tests.receiver import Receiver

        with Receiver() as rx:
            config = write_config(tmp_path, database_url=str(db), feeds=feeds.urls(),
                                  destinations=hook_destination(rx.url))  # fmt: skip
            daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
            holder: sqlite3.Connection | None = None
            try:
                wait_until(lambda: baselined(db, 1), 60, "the baseline poll", running=[daemon])
                holder = sqlite3.connect(db, isolation_level=None, timeout=30,
                                         check_same_thread=False)  # fmt: skip
                lock = holder
                gate_feeds(server, gate)
                feeds.baseline_done()
                for _ in range(3):
                    feeds.add("wire", publish=False)
                seen_before = seen_count(db)
                archived_before = archive_count(db)
                assert archived_before == seen_before  # the baseline items are archived too
                body = feeds.render("wire")
                gate.body = Served(body, '"gated"', formatdate(usegmt=True))
                gate.hold = lambda: lock.execute("BEGIN IMMEDIATE")
                # The next fetch takes the write lock before the new body is sent: the daemon
                # gets the new items, parses them, and its commit waits for the lock.
                assert gate.fired.wait(30)
                time.sleep(1.5)  # parsing five items takes milliseconds
                assert daemon.alive()
                daemon.kill()
                lock.execute("ROLLBACK")
                assert seen_count(db) == seen_before  # nothing of that poll was written
                assert archive_count(db) == archived_before  # its items not archived either
                assert alert_states(db) == []

                daemon.start()
                wait_until(lambda: len(rx.requests) >= 3 and all_delivered(db), 60, "3 alerts")
                time.sleep(3)
                assert daemon.stop() == 0
                assert archive_count(db) == archived_before + 3  # each new item once
            finally:
                daemon.kill()
                if holder is not None:
                    holder.close()
            requests = list(rx.requests)

    result = tally(feeds.expected(), requests)
    assert (result.expected, result.delivered, result.requests, result.duplicates) == (3, 3, 3, 0)
    assert result.unexpected == []


def seen_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM seen_items").fetchone()[0])


def archive_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM archive").fetchone()[0])


def all_delivered(db: Path) -> bool:
    rows = alert_states(db)
    return bool(rows) and all(status == "delivered" for _id, status in rows)


def feed_row(db: Path, feed_id: str) -> tuple[str | None, float]:
    """(lease_owner, last_fetch_at) of a feed that has been polled."""
    with sqlite3.connect(db) as conn:
        owner, fetched = conn.execute(
            "SELECT lease_owner, last_fetch_at FROM feeds WHERE id = ?", (feed_id,)
        ).fetchone()
    return owner, float(fetched)


def test_sigkill_before_a_batch_of_304s_is_written_polls_again_and_alerts_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    gate = Gate("/wire.rss")
    with feed_server() as server:
        feeds = GrowingFeeds(server, ["wire"])
        from tests.receiver import Receiver

        with Receiver() as rx:
            config = write_config(tmp_path, database_url=str(db), feeds=feeds.urls(),
                                  destinations=hook_destination(rx.url))  # fmt: skip
            daemon = DaemonProcess(config, tmp_path / "daemon.log").start()
            holder: sqlite3.Connection | None = None
            try:
                wait_until(lambda: baselined(db, 1), 60, "the baseline poll", running=[daemon])
                wait_until(lambda: any(r.status == 304 for r in server.hits("/wire.rss")), 30,
                           "a conditional poll answered 304")  # fmt: skip
                holder = sqlite3.connect(db, isolation_level=None, timeout=30,
                                         check_same_thread=False)  # fmt: skip
                lock = holder
                gated_at: list[float] = []

                def hold() -> None:
                    lock.execute("BEGIN IMMEDIATE")
                    gated_at.append(time.time())

                gate_feeds(server, gate)
                gate.body = server.feeds["/wire.rss"]  # the same body and ETag: a 304
                gate.hold = hold
                # The next fetch takes the write lock before its 304 is sent: the poll's feed
                # row goes to its batch, whose transaction waits for the lock.
                assert gate.fired.wait(30)
                time.sleep(1.5)  # the batch lingers 50 ms
                assert daemon.alive()
                daemon.kill()
                lock.execute("ROLLBACK")
                owner, fetched = feed_row(db, "wire")
                assert owner is not None  # still leased by the killed daemon: not written
                assert fetched < gated_at[0]

                feeds.baseline_done()
                feeds.add("wire")
                daemon.start()
                wait_until(lambda: len(rx.requests) >= 1 and all_delivered(db), 60, "the alert")
                time.sleep(3)  # more polls of the feed, each a 304 again
                assert daemon.stop() == 0
                owner, fetched = feed_row(db, "wire")
                assert fetched > gated_at[0]  # polled again
            finally:
                daemon.kill()
                if holder is not None:
                    holder.close()
            requests = list(rx.requests)

    result = tally(feeds.expected(), requests)
    assert (result.expected, result.delivered, result.requests, result.duplicates) == (1, 1, 1, 0)
    assert result.unexpected == []
