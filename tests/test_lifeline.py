"""The daemon's heartbeat in the store (monitor.process.lifeline), driven by a fake clock and a fake
sleep: its leases stay its own while it beats, however long the work; a stopped heartbeat frees
them after the holder TTL, a clean close at once; a restart on the same host takes over a dead
predecessor's work immediately. A real SQLite store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.clock import FakeClock, StoreClock, wall_now
from monitor.delivery.destinations import Destination
from monitor.process.lifeline import Lifeline
from monitor.store.coord import HEARTBEAT_S, HOLDER_TTL_S
from monitor.store.sqlite import SQLiteStore
from tests.delivery_support import SECRET, deliverer, enqueue, open_sqlite
from tests.receiver import Receiver
from tests.store_fixtures import T0, StoreFactory, spec

LEASE = timedelta(minutes=2)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "s.db")
    s.migrate()
    s.sync_feeds([spec("f1")], T0)
    return s


def test_beats_keep_the_work_then_a_silent_holder_loses_it_after_the_ttl(
    store: SQLiteStore,
) -> None:
    clock = FakeClock(T0)
    beats = 0

    async def sleep(seconds: float) -> None:
        nonlocal beats
        beats += 1
        # while "a" beats, nobody else may take its feed, at any moment between beats
        assert store.claim_due_feeds(clock.now() + timedelta(seconds=seconds), 5, LEASE, "b") == []
        clock.advance(seconds)
        if beats == 40:  # 100 s of a slow poll; then the process dies (no more beats)
            raise asyncio.CancelledError

    life = Lifeline(store, "a", clock, host="h", pid=11, sleep=sleep)
    life.beat()
    assert [f.id for f in store.claim_due_feeds(T0, 5, LEASE, "a")] == ["f1"]
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(life.run())
    assert beats == 40
    last_beat = T0 + timedelta(seconds=39 * HEARTBEAT_S)
    until = last_beat + timedelta(seconds=HOLDER_TTL_S)
    assert store.claim_due_feeds(until - timedelta(seconds=0.1), 5, LEASE, "b") == []
    assert [f.id for f in store.claim_due_feeds(until, 5, LEASE, "b")] == ["f1"]
    assert until < T0 + LEASE  # long before the 2-minute lease would have let it go


def test_close_frees_the_work_at_once(store: SQLiteStore) -> None:
    clock = FakeClock(T0)
    life = Lifeline(store, "a", clock, host="h", pid=11)
    life.beat()
    assert store.claim_due_feeds(T0, 5, LEASE, "a")
    clock.advance(1)
    life.close()
    assert [f.id for f in store.claim_due_feeds(clock.now(), 5, LEASE, "b")] == ["f1"]


def test_a_restart_on_the_same_host_takes_over_a_dead_predecessor_at_once(
    store: SQLiteStore,
) -> None:
    clock = FakeClock(T0)
    old = Lifeline(store, "old", clock, host="h", pid=500)
    other_host = Lifeline(store, "far", clock, host="elsewhere", pid=500)
    neighbour = Lifeline(store, "next-door", clock, host="h", pid=600)
    for life in (old, other_host, neighbour):
        life.beat()
    assert store.claim_due_feeds(T0, 5, LEASE, "old")
    clock.advance(1)  # "old" was SIGKILLed; pid 600 still runs
    new = Lifeline(store, "new", clock, host="h", pid=700, alive=lambda pid: pid == 600)
    assert new.take_over_dead_predecessors() == ["old"]
    new.beat()
    assert [f.id for f in store.claim_due_feeds(clock.now(), 5, LEASE, "new")] == ["f1"]
    assert sorted(o for o, _ in store.live_holders("h", clock.now())) == ["new", "next-door"]
    assert store.live_holders("elsewhere", clock.now()) == [("far", 500)]  # not ours to judge


def test_a_ttl_shorter_than_two_beats_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(ValueError):
        Lifeline(store, "a", FakeClock(T0), interval_s=5.0, ttl_s=8.0)


def test_the_host_identity_is_stable_and_names_the_host() -> None:
    import socket

    from monitor.process.lifeline import host_identity

    assert host_identity() == host_identity()
    assert host_identity().split("/")[0] == socket.gethostname()


def test_replicas_whose_clocks_differ_by_30s_keep_each_others_work_off(
    make_store: StoreFactory,
) -> None:
    """Replica "a" runs 30 s behind, "b" 30 s ahead. On PostgreSQL each saw the other's holder
    row (10 s ahead of its own clock) as expired, so "b" took the feed "a" was polling, and "a"
    the one "b" was. Both read the database server's clock now, set at each heartbeat."""
    store_a, store_b = make_store(), make_store()
    if isinstance(store_a, SQLiteStore):
        pytest.skip("SQLite: one machine, whose processes share one clock")
    real = datetime.now(UTC)
    store_a.sync_feeds([spec("f1"), spec("f2")], real - timedelta(hours=1))
    behind = StoreClock(FakeClock(real - timedelta(seconds=30)))
    ahead = StoreClock(FakeClock(real + timedelta(seconds=30)))
    a = Lifeline(store_a, "a", behind, host="h1", pid=11)
    b = Lifeline(store_b, "b", ahead, host="h2", pid=12)
    a.take_over_dead_predecessors()
    a.beat()
    b.beat()
    [mine] = store_a.claim_due_feeds(behind.now(), 1, LEASE, "a")
    [theirs] = store_b.claim_due_feeds(ahead.now(), 5, LEASE, "b")
    assert mine.id != theirs.id
    assert store_b.claim_due_feeds(ahead.now(), 5, LEASE, "b") == []
    assert store_a.claim_due_feeds(behind.now(), 5, LEASE, "a") == []
    assert abs(behind.now() - ahead.now()) < timedelta(seconds=2)


def test_a_store_clock_moves_only_for_a_real_difference(store: SQLiteStore) -> None:
    """Noise in reading the store's clock leaves the offset alone; a change of a second or more
    sets it (the machine's clock was set back an hour, by hand or by NTP)."""

    class Server(SQLiteStore):
        reads: list[datetime]

        def store_time(self) -> datetime | None:
            return self.reads.pop(0)

    server = Server.__new__(Server)
    server.__dict__.update(store.__dict__)
    base = FakeClock(T0)
    clock = StoreClock(base)
    server.reads = [T0 + timedelta(seconds=30), T0 + timedelta(seconds=30.2), T0]
    life = Lifeline(server, "a", clock, host="h", pid=1)
    life.beat()
    assert clock.offset == timedelta(seconds=30)
    life.beat()
    assert clock.offset == timedelta(seconds=30)  # 0.2 s is noise
    base.advance(hours=-1)  # the machine's clock was set back an hour
    life.beat()
    assert clock.now() == T0


def test_a_webhook_is_signed_with_this_machines_time_not_the_databases(tmp_path: Path) -> None:
    """Receivers check a signature's timestamp against their own clock (5 minutes either way):
    a database server whose clock is 20 minutes off must not make every delivery look stale."""
    store = open_sqlite(tmp_path / "d.db")
    base = FakeClock(datetime.now(UTC))
    clock = StoreClock(base)
    clock.offset = timedelta(minutes=20)
    with Receiver() as rx:
        enqueue(store, clock.now(), "ops", ["s1"])
        dest = Destination.create("ops", "webhook", rx.url, secrets=[SECRET])
        asyncio.run(deliverer(store, {"ops": dest}, clock).run_once())
    [req] = rx.requests
    assert int(req.headers["webhook-timestamp"]) == int(base.now().timestamp())
    assert wall_now(clock) == base.now()
    store.close()


def test_a_store_clock_read_after_a_hang_is_not_taken_for_a_skew(store: SQLiteStore) -> None:
    """A store that hung for a minute answers with the time at the end of the wait: halfway
    through it, the offset looked 30 s off (the clock was set so, and `clock_skew` said so)."""
    base = FakeClock(T0)

    class Server(SQLiteStore):
        hang_s: float
        skew: timedelta

        def store_time(self) -> datetime | None:
            base.advance(seconds=self.hang_s)
            return base.now() + self.skew

    server = Server.__new__(Server)
    server.__dict__.update(store.__dict__)
    clock = StoreClock(base)
    life = Lifeline(server, "a", clock, host="h", pid=1)
    with capture_logs() as logs:
        server.hang_s, server.skew = 60.0, timedelta(0)  # the clocks agree
        life.beat()
        assert clock.offset == timedelta(0)
        assert [e for e in logs if e["event"] == "clock_skew"] == []
        server.hang_s, server.skew = 0.0, timedelta(seconds=30)  # a real skew, read promptly
        life.beat()
    assert clock.offset == timedelta(seconds=30)
    assert [e["event"] for e in logs] == ["clock_skew"]


def test_a_step_of_this_machines_clock_moves_nothing_until_the_next_reading(
    store: SQLiteStore,
) -> None:
    """The machine's clock steps an hour ahead (NTP, a VM resumed) between two heartbeats. The
    store clock read it straight away: a replica polling until its next beat wrote its feeds due
    an hour late, for every replica (a real replica: 100 of 100 feeds). It now runs on the
    monotonic clock from the last reading, and the next one measures the step."""
    server = FakeClock(T0)  # the database server's clock
    base = FakeClock(T0)  # this machine's
    ticks = [0.0]  # this machine's monotonic clock

    class Server(SQLiteStore):
        def store_time(self) -> datetime | None:
            return server.now()

    db = Server.__new__(Server)
    db.__dict__.update(store.__dict__)
    clock = StoreClock(base, monotonic=lambda: ticks[0])
    life = Lifeline(db, "a", clock, host="h", pid=1)
    life.beat()
    assert clock.now() == T0

    def elapse(seconds: float) -> None:
        server.advance(seconds)
        base.advance(seconds)
        ticks[0] += seconds

    elapse(1.0)
    base.advance(hours=1)  # the step
    assert clock.now() == T0 + timedelta(seconds=1)  # before: an hour ahead
    elapse(1.5)
    with capture_logs() as logs:
        life.beat()
    assert clock.now() == server.now()
    assert clock.offset == timedelta(hours=-1)
    assert [e["seconds"] for e in logs if e["event"] == "clock_skew"] == [-3600.0]


def test_life_changes_at_a_lapse_and_is_none_while_the_row_may_have_expired(
    store: SQLiteStore,
) -> None:
    """What the deliverer asks before each post: the same value as at its claim while the holder
    row has lived all along (on the monotonic clock, a second short of the TTL)."""
    ticks = [0.0]
    life = Lifeline(store, "a", FakeClock(T0), host="h", pid=1, monotonic=lambda: ticks[0])
    assert life.life() is None  # no beat yet
    life.beat()
    first = life.life()
    assert first is not None
    ticks[0] = HOLDER_TTL_S - 1.5
    assert life.life() == first
    life.beat()  # on time: the same life
    ticks[0] += HOLDER_TTL_S - 1.5
    assert life.life() == first
    ticks[0] += 1.0  # past the last beat's TTL, less the margin: it may have expired
    assert life.life() is None
    life.beat()  # a lapse: others may have taken our leases meanwhile
    assert life.life() not in (None, first)


def test_between_readings_the_store_clock_counts_a_suspended_machines_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python's monotonic clock stands still while the machine sleeps: a replica woken from a
    two-minute suspend read its times two minutes behind until its next beat (leases written
    already past their end). The store clock runs on CLOCK_BOOTTIME, which goes on."""
    import time

    from monitor.clock import elapsed

    if not hasattr(time, "CLOCK_BOOTTIME"):
        pytest.skip("no CLOCK_BOOTTIME here: the monotonic clock is all there is")
    boot = [1000.0]
    real = time.clock_gettime

    def gettime(clock: int) -> float:
        return boot[0] if clock == time.CLOCK_BOOTTIME else real(clock)

    monkeypatch.setattr(time, "clock_gettime", gettime)
    assert elapsed() == 1000.0
    clock = StoreClock()
    clock.anchor()
    at = clock.now()
    boot[0] += 120.0  # slept two minutes; time.monotonic() did not move meanwhile
    assert clock.now() - at == timedelta(seconds=120)
