"""PostgreSQL that stops answering under a running daemon: the server is alive at the TCP level
(its kernel takes the bytes) but nothing comes back, as when its processes are stopped or a path
drops packets silently. The daemon talks to the test's server through a relay on 127.0.0.1 that
the test freezes (tests/faults/relay.py): no PostgreSQL process is ever signalled.

- SIGTERM still ends the daemon within its grace period and a little more (exit 0), saying what
  it could not give back; the restart delivers the rest, each story under its one `webhook-id`.
- While the store hangs `/healthz` stays 200 (the daemon lives), `/readyz` is 503, and the log
  says so once (`store_not_answering`) and once again when the store answers
  (`store_answering`): no line per second from the scheduler.
- Outside a stop, a statement without an answer for `database_timeout` and 5 s is given up on:
  the job logs `store_unavailable` and tries again on a later tick, on a new connection. When the
  old connection never answers again (the server behind a proxy went away, a failover), the new
  one carries on; when the server answers again, nothing is lost and nothing sent twice.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.daemon_support import CALM, DaemonProcess, calm_config, daemon_env, wait_for
from tests.faults.relay import Relay
from tests.feedserver import feed_server, rss
from tests.receiver import Receiver
from tests.replicas_harness import fresh_database
from tests.store_fixtures import skip_without_postgres
from tests.test_daemon_shutdown import (
    DELIVERY_LEASE_S,
    RESTART_S,
    STORIES,
    SlowReceiver,
    assert_each_story_once_under_one_id,
    by_webhook_id,
    start_with_alerts,
)

pytestmark = [pytest.mark.fault, pytest.mark.postgres]

GRACE_S = 2.0
TIMEOUT_S = 2.0  # database_timeout: a statement without an answer for 7 s is given up on


@contextmanager
def relayed_database(prefix: str) -> Iterator[tuple[str, Relay]]:
    """A fresh database on the test server, and its URL through a relay the test can freeze."""
    with fresh_database(skip_without_postgres(), prefix=prefix) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        with Relay((parts.hostname, parts.port)) as relay:
            netloc = f"{parts.username}@127.0.0.1:{relay.port}" if parts.username else None
            relayed = urlunsplit(parts._replace(netloc=netloc or f"127.0.0.1:{relay.port}"))
            yield relayed, relay


@pytest.mark.timeout(180)
def test_sigterm_while_postgres_hangs_exits_within_the_grace_and_the_restart_sends_the_rest(
    tmp_path: Path,
) -> None:
    with (
        relayed_database("hang_stop") as (url, relay),
        feed_server() as server,
        SlowReceiver(delay=4.0) as rx,
    ):
        config, daemon = start_with_alerts(
            tmp_path, server, rx, f"{GRACE_S:g}s", daemon_env(NEWSMON_DATABASE_URL=url)
        )
        with daemon:
            relay.freeze()
            time.sleep(1.5)  # the claims and the heartbeat of the next ticks wait on the store
            sent = time.monotonic()
            daemon.signal(signal.SIGTERM)
            code = daemon.wait(timeout=60)
            took = time.monotonic() - sent
            print(f"SIGTERM to exit with PostgreSQL hung, grace {GRACE_S:g}s: {took:.2f}s")
            assert code == 0, daemon.log_text()[-3000:]
            # The grace period, a second for the cancelled work, half a second a store call of
            # the stop: never the driver's wait for an answer that does not come.
            assert took < GRACE_S + 3.0, took
            events = daemon.events()  # every line a JSON event: no traceback on the way out
            assert daemon.events("shutdown_finished")[0]["clean"] is False
            [failed] = daemon.events("alerts_release_failed")
            assert failed["alerts"] == len(STORIES)  # what was abandoned, and why
            assert "did not answer" in failed["error"]
            assert daemon.events("store_call_abandoned")
            assert [e for e in events if "exception" in e] == []
        relay.thaw()
        rx.slow = False
        started = time.monotonic()
        with DaemonProcess(config, tmp_path, daemon_env(NEWSMON_DATABASE_URL=url)) as again:
            # The restart on this host ends the stopped holder's row: the leases are free now,
            # not after the delivery lease (the start itself took 5.5 s here with the cores busy).
            wait_for(
                "every story delivered after the restart",
                lambda: len(set().union(*by_webhook_id(rx.requests).values())) == len(STORIES),
                DELIVERY_LEASE_S / 2,
            )
            assert time.monotonic() - started < RESTART_S
            again.signal(signal.SIGTERM)
            assert again.wait() == 0
    assert_each_story_once_under_one_id(rx)


@pytest.mark.timeout(180)
def test_an_alert_answered_while_postgres_hangs_leaves_the_loop_answering(
    tmp_path: Path,
) -> None:
    with (
        relayed_database("hang_record") as (url, relay),
        feed_server() as server,
        SlowReceiver(delay=2.0) as rx,
    ):
        _config, daemon = start_with_alerts(
            tmp_path, server, rx, f"{GRACE_S:g}s", daemon_env(NEWSMON_DATABASE_URL=url)
        )
        with daemon:
            relay.freeze()
            time.sleep(2.5)  # the post is answered: its record waits on the store
            # Marking an alert delivered (and every other record of a post) waited on the event
            # loop: /healthz and the signals waited with it, for as long as the store hung.
            daemon.assert_healthz_prompt(4)
            sent = time.monotonic()
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
            assert time.monotonic() - sent < GRACE_S + 3.0
            assert len(rx.requests) == 1  # nothing started after the signal


@pytest.mark.timeout(180)
def test_while_postgres_hangs_healthz_stays_up_readyz_says_so_and_the_log_says_it_once(
    tmp_path: Path,
) -> None:
    with relayed_database("hang_log") as (url, relay), feed_server() as server, Receiver() as rx:
        config = calm_config(tmp_path, server, {"hook": rx.url}, grace_period=f"{GRACE_S:g}s")
        with DaemonProcess(config, tmp_path, daemon_env(NEWSMON_DATABASE_URL=url)) as daemon:
            daemon.wait_healthy()
            wait_for("the baseline poll", lambda: daemon.events("feed_polled"))
            wait_for("/readyz 200", lambda: daemon.readiness()[0] == 200)
            before = len(daemon.events())
            relay.freeze()
            frozen = time.monotonic()
            answer = wait_for(
                "/readyz 503",
                lambda: (lambda r: r[1] if r[0] == 503 else None)(daemon.readiness()),
                timeout=10,
            )
            assert answer["store"] is False
            while time.monotonic() - frozen < 20.0:  # past the 10 s before the log says so
                assert daemon.get_or_none("/healthz") == 200  # alive: no reason to restart it
                time.sleep(1.0)
            relay.thaw()
            wait_for("/readyz 200 again", lambda: daemon.readiness()[0] == 200, timeout=15)
            wait_for("the recovery said", lambda: daemon.events("store_answering"), timeout=10)
            during = daemon.events()[before:]
            assert len(daemon.events("store_not_answering")) == 1
            assert len(daemon.events("store_answering")) == 1
            # At most a few lines a job over 20 s: no scheduler warning for each skipped tick.
            loud = [e["event"] for e in during if e["level"] in ("warning", "error")]
            assert not [e for e in loud if "skipped" in e or "missed" in e], loud
            assert len(loud) <= 12, loud
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0


def bounded_env(url: str) -> dict[str, str]:
    return daemon_env(NEWSMON_DATABASE_URL=url, NEWSMON_DATABASE_TIMEOUT=f"{TIMEOUT_S:g}s")


def assert_given_up(daemon: DaemonProcess) -> None:
    """A call with no answer was given up on after database_timeout and the margin, and said so
    in one line (the job whose call it was says `store_unavailable`; /readyz's ping says
    nothing)."""
    abandoned = daemon.events("store_call_abandoned")
    assert abandoned, daemon.log_text()[-3000:]
    assert {e["reason"] for e in abandoned} == {"no_answer"}
    assert all(TIMEOUT_S + 5 <= e["waited_s"] < TIMEOUT_S + 7 for e in abandoned), abandoned
    assert [e for e in daemon.events() if "exception" in e] == []


@pytest.mark.timeout(180)
def test_a_connection_that_never_answers_again_is_dropped_and_a_new_one_carries_on(
    tmp_path: Path,
) -> None:
    with (
        relayed_database("hang_cut") as (url, relay),
        feed_server() as server,
        Receiver() as rx,
    ):
        config = calm_config(tmp_path, server, {"hook": rx.url}, grace_period=f"{GRACE_S:g}s")
        with DaemonProcess(config, tmp_path, bounded_env(url)) as daemon:
            daemon.wait_healthy()
            wait_for("the baseline poll", lambda: daemon.events("feed_polled"))
            wait_for("/readyz 200", lambda: daemon.readiness()[0] == 200)
            relay.cut()  # the connection in use never answers again; a new one would
            cut = time.monotonic()
            server.put("/wire.rss", rss([*STORIES, CALM]))
            # Before, every call waited on the old connection for as long as the daemon ran.
            wait_for(
                "every story delivered on a new connection",
                lambda: len(by_webhook_id(rx.requests)) == len(STORIES),
                timeout=40,
            )
            took = time.monotonic() - cut
            print(f"PostgreSQL connection cut, database_timeout {TIMEOUT_S:g}s: {took:.1f}s")
            assert took < TIMEOUT_S + 5 + 15, took
            wait_for("/readyz 200 again", lambda: daemon.readiness()[0] == 200, timeout=15)
            assert daemon.get_or_none("/healthz") == 200
            assert_given_up(daemon)
            time.sleep(2.0)  # nothing more comes
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0
    assert len(rx.requests) == len(STORIES)
    assert_each_story_once_under_one_id(rx)


@pytest.mark.timeout(180)
def test_calls_to_a_hung_server_fail_within_the_timeout_and_resume_when_it_answers(
    tmp_path: Path,
) -> None:
    with (
        relayed_database("hang_bound") as (url, relay),
        feed_server() as server,
        Receiver() as rx,
    ):
        # Short leases: a claim the relay held and forwards once thawed leases rows to this
        # process that it never heard of; they wait for their lease (see process/cycle.py).
        config = calm_config(
            tmp_path, server, {"hook": rx.url}, grace_period=f"{GRACE_S:g}s",
            fetch_deadline="3s", feed_lease="6s", delivery_deadline="3s", delivery_lease="6s",
        )  # fmt: skip
        with DaemonProcess(config, tmp_path, bounded_env(url)) as daemon:
            daemon.wait_healthy()
            wait_for("the baseline poll", lambda: daemon.events("feed_polled"))
            wait_for("/readyz 200", lambda: daemon.readiness()[0] == 200)
            before = len(daemon.events())
            relay.freeze()
            frozen = time.monotonic()
            server.put("/wire.rss", rss([*STORIES, CALM]))
            wait_for("/readyz 503", lambda: daemon.readiness()[0] == 503, timeout=10)
            # Before, no call ended while the server hung: nothing was said after the first
            # warning, however long it hung. The first call given up (7 s) may be /readyz's
            # ping, which no job reports; a job's call then waited its turn and connects anew,
            # which the frozen relay holds for libpq's connect timeout (10 s): about 17 s.
            wait_for("a call given up", lambda: daemon.events("store_unavailable"), timeout=25)
            print(f"first store_unavailable {time.monotonic() - frozen:.1f}s after the freeze")
            while time.monotonic() - frozen < 25.0:
                assert daemon.get_or_none("/healthz") == 200  # alive: no reason to restart it
                time.sleep(1.0)
            assert_given_up(daemon)
            # One line a failed attempt, each job backing off: not one a tick.
            loud = [e for e in daemon.events()[before:] if e["level"] in ("warning", "error")]
            assert len(loud) <= 40, [e["event"] for e in loud]
            assert rx.requests == []
            relay.thaw()
            thawed = time.monotonic()
            wait_for(
                "every story delivered once the server answers",
                lambda: len(by_webhook_id(rx.requests)) == len(STORIES),
                timeout=40,
            )
            print(f"delivered {time.monotonic() - thawed:.1f}s after the thaw")
            wait_for("/readyz 200 again", lambda: daemon.readiness()[0] == 200, timeout=15)
            time.sleep(2.0)  # nothing more comes
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0
    assert len(rx.requests) == len(STORIES)
    assert_each_story_once_under_one_id(rx)


@pytest.mark.timeout(180)
def test_a_post_answered_while_postgres_hangs_is_recorded_once_it_answers_not_sent_again(
    tmp_path: Path,
) -> None:
    with (
        relayed_database("hang_post") as (url, relay),
        feed_server() as server,
        SlowReceiver(delay=3.0) as rx,
    ):
        env = daemon_env(
            NEWSMON_DATABASE_URL=url, NEWSMON_DATABASE_TIMEOUT=f"{TIMEOUT_S:g}s",
            NEWSMON_DELIVERY_DEADLINE="5s", NEWSMON_DELIVERY_LEASE="10s",
        )  # fmt: skip
        _config, daemon = start_with_alerts(tmp_path, server, rx, f"{GRACE_S:g}s", env)
        with daemon:
            relay.freeze()  # the first post is in flight: its record waits on the store...
            time.sleep(25.0)  # ...and fails, past the bound, and past the alert's lease
            assert len(rx.requests) == 1
            assert daemon.events("store_call_abandoned")
            relay.thaw()
            rx.slow = False
            wait_for(
                "every story delivered once the server answers",
                lambda: len(set().union(*by_webhook_id(rx.requests).values())) == len(STORIES),
                timeout=40,
            )
            time.sleep(13.0)  # an alert posted but not recorded would be posted again by now
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(timeout=15) == 0
    # Before, the alert whose record failed was posted again after its lease (same id).
    assert len(rx.requests) == len(STORIES), sorted(by_webhook_id(rx.requests).values())
    assert_each_story_once_under_one_id(rx)
