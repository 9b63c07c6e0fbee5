"""The store unavailable for a while under a running daemon, feeds gaining items all along:

- SQLite: the database file and its WAL made immutable (`chattr +i`: it stops root too, and it
  stops writes through descriptors already open, which chmod does not) for some seconds;
- PostgreSQL: the server stopped (`pg_ctl stop`) for 30 s and started again.

The daemon stays up, logs the outage, backs off, never records an item as seen without its alerts
(one transaction), and picks the work up again by itself: every item added is delivered once.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.faults.harness import (
    SOAK,
    DaemonProcess,
    Generated,
    GrowingFeeds,
    daemons_past_baseline,
    pending_count,
    pg_pending,
    tally,
    wait_until,
)
from tests.feedserver import feed_server
from tests.receiver import Received, Receiver
from tests.replicas_harness import fresh_database

FEEDS = ["one", "two", "three"]
SQLITE_OUTAGE_S = 20.0 if SOAK else 8.0
PG_OUTAGE_S = 30.0


def resent_pairs(requests: list[Received]) -> list[tuple[Received, Received]]:
    """(first copy, second copy) of every webhook-id received more than once."""
    firsts: dict[str, Received] = {}
    pairs = []
    for r in requests:
        key = r.headers.get("webhook-id", "")
        if key in firsts:
            pairs.append((firsts[key], r))
        else:
            firsts[key] = r
    return pairs


def drain_after_outage(
    daemons: Sequence[DaemonProcess],
    feeds: GrowingFeeds,
    rx: Receiver,
    pending: Callable[[], int],
    timeout: float,
) -> list[Generated]:
    """With the store back: let the feeds grow 2 s more, stop them, wait for every item's alert
    and an empty outbox, then stop the daemons cleanly. The items the feeds gained."""
    time.sleep(2)
    feeds.stop()
    expected = feeds.expected()
    try:
        wait_until(
            lambda: not tally(expected, list(rx.requests)).missing and pending() == 0,
            timeout,
            "every expected alert after the outage",
            step=0.5,
        )
    except AssertionError as exc:  # say what was left: items never alerted, or rows still due
        missing = len(tally(expected, list(rx.requests)).missing)
        raise AssertionError(f"{exc}: {missing} item(s) unalerted, {pending()} pending") from exc
    # Every alert may be out before each daemon's own backoff (up to 30 s) has let its jobs
    # touch the store again: the others drained the work. Wait for each job that failed to say
    # the store is back, so the recovery the test asserts has had its time.
    wait_until(lambda: all(resumed(d) for d in daemons), 45, "every failed job back", step=0.5)
    time.sleep(2)
    assert all(d.alive() for d in daemons)
    assert [d.stop() for d in daemons] == [0] * len(daemons)
    return expected


def resumed(daemon: DaemonProcess) -> bool:
    """Each job that logged the store unavailable has since logged it available."""
    down = {e.get("job") for e in events(daemon, "store_unavailable")}
    return down <= {e.get("job") for e in events(daemon, "store_available")}


def assert_survived_outage(
    label: str,
    daemons: Sequence[DaemonProcess],
    during: Sequence[str],
    expected: list[Generated],
    requests: list[Received],
    restart_at: float,
    *,
    deliver_must_fail: bool,
) -> None:
    """No exception escaped, every job backed off and recovered, every item alerted, and the
    only second copies are resends across the outage."""
    result = tally(expected, requests)
    print(f"{label}: {result.summary()}")
    for daemon, log in zip(daemons, during, strict=True):
        assert "Traceback" not in log, log[-3000:]
        assert "raised an exception" not in log  # no job escapes to APScheduler
        assert_backed_off_and_recovered(daemon, deliver_must_fail=deliver_must_fail)
    assert result.missing == []
    assert_only_resends_across_the_outage(requests, result.duplicates, restart_at)
    assert result.unexpected == []


def assert_only_resends_across_the_outage(
    requests: list[Received], duplicates: int, restart_at: float
) -> None:
    """A delivery whose 2xx came as the store went away could not be recorded: like a kill
    between the 2xx and the record (docs/reliability.md), it is sent once more, with the same
    id, after the store is back. Any other second copy is a bug."""
    pairs = resent_pairs(requests)
    for first, again in pairs:
        assert first.at < restart_at < again.at  # sent before or in the outage, resent after
    assert duplicates == len(pairs)


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def immutable_supported(folder: Path) -> str | None:
    """None when `chattr +i` works here (root, a file system with the flag), else why not."""
    if shutil.which("chattr") is None:
        return "chattr is not installed"
    probe = folder / "chattr-probe"
    probe.write_bytes(b"x")
    try:
        chattr("+i", probe)
    except subprocess.CalledProcessError as exc:
        return f"chattr +i does not work here: {exc.stderr.decode(errors='replace').strip()}"
    chattr("-i", probe)
    probe.unlink()
    return None


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    chattr("+i", *paths)
    try:
        yield
    finally:
        chattr("-i", *paths)


def events(daemon: DaemonProcess, name: str) -> list[dict[str, object]]:
    return [e for e in daemon.events() if e.get("event") == name]


def assert_backed_off_and_recovered(daemon: DaemonProcess, *, deliver_must_fail: bool) -> None:
    """The poll job (and the delivery job, where it had work that touched the store) logged the
    outage, waited longer each time, and said when the store came back."""
    down = events(daemon, "store_unavailable")
    for job in ("poll", "deliver"):
        delays = [float(str(e["retry_in_s"])) for e in down if e.get("job") == job]
        if job == "deliver" and not delays and not deliver_must_fail:
            # The daemon delivers right after each commit, so when the outage starts the outbox
            # may hold nothing due; claiming nothing writes nothing, and SQLite then cannot fail.
            continue
        assert delays, f"no store_unavailable for {job}"
        assert max(delays) >= 4.0, (job, delays)  # 1, 2, 4, ...: not a retry every tick
        assert any(e.get("job") == job for e in events(daemon, "store_available")), job


def sqlite_unalerted_seen(db: Path, titles: set[str]) -> int:
    """Items the test added that are recorded as seen but have no alert: must be zero."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT s.feed_id, s.item_key FROM seen_items s LEFT JOIN alerts a "
            "ON a.feed_id = s.feed_id AND a.item_key = s.item_key WHERE a.id IS NULL"
        ).fetchall()
    # Baseline items are seen without alerts by design; they are the first two of each feed.
    return len(rows) - 2 * len(FEEDS)


@pytest.mark.fault
@pytest.mark.timeout(240)
def test_sqlite_file_unwritable_for_seconds_daemon_backs_off_and_resumes(tmp_path: Path) -> None:
    why = immutable_supported(tmp_path)
    if why is not None:
        pytest.skip(why)
    db = tmp_path / "state.db"
    with feed_server() as server, Receiver() as rx:
        feeds = GrowingFeeds(server, FEEDS)
        with daemons_past_baseline(tmp_path, str(db), feeds, rx) as [daemon]:
            feeds.start(period=0.1, per_tick=2)
            time.sleep(2)
            with immutable(db, Path(f"{db}-wal")):
                outage_started = len(daemon.log_text())
                time.sleep(SQLITE_OUTAGE_S)
                assert daemon.alive()
                during = daemon.log_text()[outage_started:]
                restart_at = time.monotonic()  # the file is writable again just after this
            expected = drain_after_outage([daemon], feeds, rx, lambda: pending_count(db), 90)
        requests = list(rx.requests)

    print(during[-3000:])
    assert_survived_outage(
        f"sqlite outage {SQLITE_OUTAGE_S:g}s", [daemon], [during], expected, requests, restart_at,
        deliver_must_fail=False,
    )  # fmt: skip
    assert sqlite_unalerted_seen(db, {g.title for g in expected}) == 0


def pg_ctl(*args: str) -> None:
    """Run pg_ctl on the cluster .ci/postgres.sh made, as the user it runs as."""
    data = os.environ["NEWSMON_TEST_PGDATA"]
    command = [os.path.join(os.environ["NEWSMON_TEST_PG_BIN"], "pg_ctl"), "-D", data, *args]
    user = os.environ.get("NEWSMON_TEST_PG_USER", "")
    if os.geteuid() == 0 and user and user != "root":
        command = ["runuser", "-u", user, "--", *command]
    subprocess.run(command, check=True, capture_output=True, cwd="/", timeout=90)


def postgres_outage(seconds: float, alive: Callable[[], bool]) -> float:
    """Stop the test server for `seconds`, check `alive()` then, and start it again (also when
    the check fails). Returns the monotonic time just before the restart."""
    pg_ctl("-m", "fast", "-w", "stop")
    try:
        time.sleep(seconds)
        assert alive()
        restart_at = time.monotonic()
    finally:
        log = str(Path(os.environ["NEWSMON_TEST_PGDATA"]).parent / "server.log")
        pg_ctl("-w", "-t", "60", "-l", log, "restart")  # starts it with its old options
    return restart_at


def needs_cluster() -> str:
    """The test server's URL, or skip: stopping it needs the cluster `.ci/postgres.sh` made."""
    url = os.environ.get("NEWSMON_TEST_POSTGRES_URL")
    if not url or not os.environ.get("NEWSMON_TEST_PGDATA"):
        pytest.skip("needs the cluster of `source .ci/postgres.sh` (NEWSMON_TEST_PGDATA)")
    return url


def pg_unalerted_seen(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.feed_id, s.item_key FROM seen_items s LEFT JOIN alerts a "
            "ON a.feed_id = s.feed_id AND a.item_key = s.item_key WHERE a.id IS NULL"
        ).fetchall()
    return len(rows) - 2 * len(FEEDS)


@pytest.mark.fault
@pytest.mark.postgres
@pytest.mark.serial  # it stops the server every PostgreSQL test uses
@pytest.mark.timeout(300)
def test_postgres_stopped_for_30s_daemon_backs_off_and_resumes(tmp_path: Path) -> None:
    with (
        fresh_database(needs_cluster(), prefix="newsmon_fault") as db_url,
        feed_server() as server,
        Receiver() as rx,
    ):
        feeds = GrowingFeeds(server, FEEDS)
        with daemons_past_baseline(tmp_path, db_url, feeds, rx) as [daemon]:
            feeds.start(period=0.1, per_tick=2)
            time.sleep(2)
            outage_started = len(daemon.log_text())
            restart_at = postgres_outage(PG_OUTAGE_S, daemon.alive)
            during = daemon.log_text()[outage_started:]
            expected = drain_after_outage([daemon], feeds, rx, lambda: pg_pending(db_url), 120)
        requests = list(rx.requests)
        unalerted = pg_unalerted_seen(db_url)

    assert_survived_outage(
        f"postgres outage {PG_OUTAGE_S:g}s", [daemon], [during], expected, requests, restart_at,
        deliver_must_fail=True,  # every call fails
    )  # fmt: skip
    assert unalerted == 0


REPLICAS_PG_OUTAGE_S = 20.0


@pytest.mark.fault
@pytest.mark.postgres
@pytest.mark.serial  # it stops the server every PostgreSQL test uses
@pytest.mark.timeout(300)
def test_three_replicas_postgres_stopped_for_20s_all_back_off_and_resume(tmp_path: Path) -> None:
    """Three replicas with the default leases on one server stopped for 20 s: every replica
    backs off and recovers; after the outage each one's stale heartbeat frees its leases to the
    others, yet nothing is alerted twice and the only second copies are resends."""
    with (
        fresh_database(needs_cluster(), prefix="newsmon_fault") as db_url,
        feed_server() as server,
        Receiver() as rx,
    ):
        feeds = GrowingFeeds(server, FEEDS)
        with daemons_past_baseline(
            tmp_path, db_url, feeds, rx, count=3, short_leases=False
        ) as daemons:
            feeds.start(period=0.1, per_tick=2)
            time.sleep(2)
            outage_started = [len(d.log_text()) for d in daemons]
            restart_at = postgres_outage(
                REPLICAS_PG_OUTAGE_S, lambda: all(d.alive() for d in daemons)
            )
            back_at = time.monotonic()
            # The default leases last 2 min. A replica gives back the feeds and alerts of its own
            # failed polls and delivery runs once the store answers; but a claim whose answer was
            # lost with the connection leases rows it never heard of, and those wait for the
            # lease to run out. So the drain may take a lease plus the margin.
            expected = drain_after_outage(daemons, feeds, rx, lambda: pg_pending(db_url), 150)
            drain_seconds = time.monotonic() - back_at
            during = [d.log_text()[n:] for d, n in zip(daemons, outage_started, strict=True)]
        requests = list(rx.requests)
        unalerted = pg_unalerted_seen(db_url)

    result = tally(expected, requests)
    print(f"three replicas, postgres outage {REPLICAS_PG_OUTAGE_S:g}s: {result.summary()} "
          f"drain_seconds={drain_seconds:.1f} (incl. 2 s more growth and 2 s quiet)")  # fmt: skip
    assert result.titles_with_several_ids() == {}, "one item, two alert ids: a double alert"
    assert_survived_outage(
        "three replicas", daemons, during, expected, requests, restart_at, deliver_must_fail=True
    )
    assert unalerted == 0
