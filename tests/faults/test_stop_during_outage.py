"""The SQLite file refusing writes under a running daemon (a full disk, a file made read-only;
here `chattr +i`), or its write lock held by another process: /readyz says so while /healthz
stays 200, and a SIGTERM then is still a prompt, graceful stop (exit 0, no error line) that loses
nothing: the alerts whose leases could not be given back are delivered by the restart, each
under its one `webhook-id`."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from monitor.process.service import STOP_WAIT_S
from monitor.store.sqlite import BUSY_TIMEOUT_S
from tests.daemon_support import DaemonProcess, calm_config, wait_for, write_config, write_rules
from tests.faults.test_store_outage import immutable, immutable_supported
from tests.feedserver import feed_server
from tests.receiver import Receiver
from tests.test_daemon_shutdown import (
    RESTART_S,
    STORIES,
    SlowReceiver,
    assert_each_story_once_under_one_id,
    restart_and_collect,
    start_with_alerts,
)

HOLD = (
    "import sqlite3, sys, time\n"
    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "c.execute('BEGIN IMMEDIATE')\n"
    "print('held', flush=True)\n"
    "time.sleep(60)\n"
)


@contextmanager
def write_lock_held(db: Path) -> Iterator[None]:
    """Another process holds the SQLite write lock (a backup, a sqlite3 shell in a transaction)
    until the block ends; it is the process this test started, ended by its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.kill()
        holder.wait()


def logged_at(event: dict[str, Any]) -> float:
    """The time of a log event, as epoch seconds."""
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


def refusable_db(tmp_path: Path) -> Path:
    """The daemon's SQLite file under `tmp_path`, once this file system can be made to refuse
    writes (`immutable`); the test skips, saying why, where it cannot."""
    why = immutable_supported(tmp_path)
    if why is not None:
        pytest.skip(why)
    return tmp_path / "state.db"


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_readyz_says_the_store_is_unusable_while_it_refuses_writes_and_recovers(
    tmp_path: Path,
) -> None:
    db = refusable_db(tmp_path)
    with feed_server() as server:
        config = calm_config(tmp_path, server)
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_healthy()
            wait_for("/readyz 200", lambda: daemon.readiness()[0] == 200)
            with immutable(db, Path(f"{db}-wal")):
                # The ping is a read, which the file still answers; the heartbeat is a write,
                # every 2.5 s.
                def refused() -> dict[str, object] | None:
                    status, answer = daemon.readiness()
                    return answer if status == 503 else None

                answer = wait_for("/readyz 503", refused, timeout=10)
                assert answer["store"] is False
                assert "stopping" not in answer
                assert daemon.get("/healthz")[0] == 200  # alive: not a reason to restart it
            wait_for("/readyz 200 again", lambda: daemon.readiness()[0] == 200, timeout=10)
            assert daemon.readiness()[1]["store"] is True
            assert daemon.events("heartbeat_failed")
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_sigterm_while_the_store_refuses_writes_exits_0_and_the_restart_sends_the_rest(
    tmp_path: Path,
) -> None:
    db = refusable_db(tmp_path)
    with feed_server() as server, SlowReceiver(delay=4.0) as rx:
        config, daemon = start_with_alerts(tmp_path, server, rx, grace="1s")
        with daemon:
            # The post in flight is cancelled at the end of the grace period; its lease and the
            # four claimed behind it cannot be given back while the file refuses writes.
            with immutable(db, Path(f"{db}-wal")):
                sent = time.monotonic()
                daemon.signal(signal.SIGTERM)
                code = daemon.wait(timeout=15)
                took = time.monotonic() - sent
            assert code == 0, daemon.log_text()[-2000:]
            assert took < 5.0
            # Every line is a JSON event (events() fails on any other line: no traceback, no
            # "newsmon: SQLite ..." error on the way out).
            failed = daemon.events("alerts_release_failed")
            assert [e["alerts"] for e in failed] == [len(STORIES)]
            assert str(db) in failed[0]["error"]  # which store failed
            assert daemon.events("shutdown_finished")[0]["clean"] is False
        # The restart on this host ends the dead holder's row: the leases are free at once.
        assert restart_and_collect(config, tmp_path, rx) < RESTART_S
    assert_each_story_once_under_one_id(rx)


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_sigterm_mid_fetch_while_the_store_refuses_writes_logs_no_failed_task(
    tmp_path: Path,
) -> None:
    db = refusable_db(tmp_path)
    rules = write_rules(tmp_path / "rules", {"troops": ("troops", [])})
    answer = threading.Event()

    def held(handler: BaseHTTPRequestHandler) -> None:
        answer.wait(30)  # a fetch still running at the signal
        handler.send_response(503)
        handler.end_headers()

    with feed_server() as server:
        server.routes["/held"] = held
        config = write_config(
            tmp_path,
            feeds={"held": server.url("/held")},
            destinations={},
            rules=rules,
            grace_period="1s",
        )
        try:
            with DaemonProcess(config, tmp_path) as daemon:
                daemon.wait_healthy()
                wait_for("the fetch", lambda: server.hits("/held"))
                with immutable(db, Path(f"{db}-wal")):
                    daemon.signal(signal.SIGTERM)
                    assert daemon.wait(timeout=15) == 0
                # The cancelled poll could not give its feed back: one warning, no failed task.
                events = daemon.events()  # every line a JSON event
                errors = [e["event"] for e in events if e["level"] == "error"]
                # (a claim that raced the signal may have met the read-only file: that is news)
                assert [e for e in errors if e != "store_unavailable"] == []
                [failed] = daemon.events("feed_release_failed")
                assert failed["feed"] == "held"
                assert str(db) in failed["error"]
        finally:
            answer.set()


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_sigterm_while_another_process_holds_the_write_lock_exits_soon_after_the_grace(
    tmp_path: Path,
) -> None:
    grace_s = 3.0
    # The grace period; a store call begun just before its end, which waits up to the grace
    # (the hurry at the signal); then half a second for each call after the drain: a beat
    # already started, the release of the claimed alerts, the end of the holder row; and 2 s
    # to exit on a busy machine. Without the hurry one call alone waits the 10 s busy timeout.
    bound_s = grace_s + grace_s + 3 * STOP_WAIT_S + 2.0
    assert bound_s < grace_s + BUSY_TIMEOUT_S
    # The post in flight outlasts the grace period, as a hung receiver would.
    with feed_server() as server, SlowReceiver(delay=grace_s + 2.0) as rx:
        config, daemon = start_with_alerts(tmp_path, server, rx, grace=f"{grace_s:g}s")
        with daemon:
            with write_lock_held(tmp_path / "state.db"):
                sent = time.monotonic()
                daemon.signal(signal.SIGTERM)
                code = daemon.wait(timeout=60)
                took = time.monotonic() - sent
            assert code == 0
            assert took < bound_s, took
            assert daemon.events("shutdown_finished")[0]["clean"] is False
            # The calls after the drain wait STOP_WAIT_S each, not the grace: from the failed
            # release to the failed end of the holder row, that call and at most a beat.
            [released] = daemon.events("alerts_release_failed")
            [ended] = daemon.events("holder_end_failed")
            gap = logged_at(ended) - logged_at(released)
            assert gap < 2 * STOP_WAIT_S + 0.5 < grace_s, gap
        assert restart_and_collect(config, tmp_path, rx) < RESTART_S
    assert_each_story_once_under_one_id(rx)


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_the_loop_answers_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    with feed_server() as server, Receiver() as rx:
        config = calm_config(tmp_path, server, {"hook": rx.url})
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_healthy()
            wait_for("the baseline poll", lambda: daemon.events("feed_polled"))
            with write_lock_held(tmp_path / "state.db"):
                # Every delivery tick asks the store, due alerts or not; a call waiting for the
                # lock (10 s) held the event loop, and /healthz and the signals with it.
                daemon.assert_healthz_prompt(6)
                sent = time.monotonic()
                daemon.signal(signal.SIGTERM)
                wait_for("the signal handled", lambda: daemon.events("shutdown_requested"), 2.0)
                assert time.monotonic() - sent < 2.0
                assert daemon.wait(timeout=30) == 0


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_sigterm_while_a_claim_waits_for_the_write_lock_logs_no_traceback(tmp_path: Path) -> None:
    with feed_server() as server:
        config = calm_config(tmp_path, server)
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_healthy()
            wait_for("the baseline poll", lambda: daemon.events("feed_polled"))
            with write_lock_held(tmp_path / "state.db"):
                time.sleep(2.5)  # a claim (every second) is waiting for the lock
                daemon.signal(signal.SIGTERM)
                assert daemon.wait(timeout=30) == 0
            # The scheduler's shutdown cancelled the tick in flight: the stop, not a failed job.
            assert "Traceback" not in daemon.log_text()
            assert [e for e in daemon.events() if "exception" in e] == []
