"""Coordination through the store, on SQLite and PostgreSQL: holders with a heartbeat (a dead
holder's leases are free at once, a live one's never), the shared rate bucket per destination,
leader leases. Every time is passed in (the store never reads a clock)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from monitor.store.coord import dead_predecessors, render, token_wait
from tests.store_fixtures import (
    T0,
    StoreFactory,
    alert,
    make_store_every_way,
    ok_update,
    spec,
)

make_store = make_store_every_way  # also behind a transaction-mode PgBouncer


LEASE = timedelta(minutes=2)
TTL = timedelta(seconds=10)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def enqueue(store: Any, *alerts: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    assert [f.id for f in store.claim_due_feeds(T0, 10, LEASE, "poller")] == ["f1"]
    store.commit_poll("f1", "poller", T0, ok_update(T0), [], list(alerts))


# -- holders --------------------------------------------------------------------------------------
def test_a_dead_holders_feed_is_taken_over_once_its_heartbeat_expires(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    store.beat_holder("a", "host1", 101, T0, T0 + TTL)
    assert [f.id for f in store.claim_due_feeds(T0, 10, LEASE, "a")] == ["f1"]
    # a keeps beating: b gets nothing for the whole lease, however long a's poll takes
    for t in range(0, 110, 5):
        now = T0 + s(t)
        store.beat_holder("a", "host1", 101, now, now + TTL)
        assert store.claim_due_feeds(now + s(1), 10, LEASE, "b") == []
    # a stops beating at T0+105 s: its row lasts until T0+115 s, then b takes over at once
    assert store.claim_due_feeds(T0 + s(114.9), 10, LEASE, "b") == []
    taken = store.claim_due_feeds(T0 + s(115), 10, LEASE, "b")
    assert [f.id for f in taken] == ["f1"]
    # fencing: a, back from a stall, cannot commit a poll it no longer holds
    now = T0 + s(116)
    assert store.commit_poll("f1", "a", now, ok_update(now), [], [alert("m1", "d", "s1")]) == 0
    assert store.list_alerts() == []


def test_a_lease_without_a_holder_row_waits_for_the_lease(store: Any) -> None:
    # An older version (or a caller without a lifeline) keeps no holder row: plain leases.
    store.sync_feeds([spec("f1")], T0)
    assert store.claim_due_feeds(T0, 10, LEASE, "oneshot")
    assert store.claim_due_feeds(T0 + LEASE - s(1), 10, LEASE, "b") == []
    assert store.claim_due_feeds(T0 + LEASE, 10, LEASE, "b")


def test_an_ended_holders_alerts_are_free_at_once(store: Any) -> None:
    enqueue(store, alert("m1", "hook", "s1"), alert("m2", "hook", "s2"))
    store.beat_holder("a", "host1", 101, T0, T0 + TTL)
    assert len(store.claim_due_alerts(T0, 10, LEASE, "a")) == 2
    assert store.claim_due_alerts(T0 + s(1), 10, LEASE, "b") == []
    assert store.end_holder("a", T0 + s(2)) is True
    assert store.end_holder("a", T0 + s(2)) is False  # already gone
    rows = store.claim_due_alerts(T0 + s(2), 10, LEASE, "b")
    assert sorted(r.id for r in rows) == ["m1", "m2"]
    assert store.mark_delivered("m1", "a", T0 + s(3)) is False  # the old holder is fenced off
    assert store.mark_delivered("m1", "b", T0 + s(3)) is True


def test_live_holders_lists_this_hosts_unexpired_rows(store: Any) -> None:
    store.beat_holder("a", "host1", 101, T0, T0 + TTL)
    store.beat_holder("b", "host1", 102, T0, T0 + s(1))
    store.beat_holder("c", "host2", 103, T0, T0 + TTL)
    assert sorted(store.live_holders("host1", T0 + s(2))) == [("a", 101)]
    assert store.live_holders("host3", T0) == []


def test_dead_predecessors_are_gone_pids_and_our_own_pid_under_another_owner() -> None:
    holders = [("me", 7), ("old-life", 7), ("gone", 55), ("running", 66)]
    dead = dead_predecessors(holders, "me", 7, lambda pid: pid == 66)
    assert dead == ["old-life", "gone"]


# -- shared rate buckets --------------------------------------------------------------------------
def test_the_shared_bucket_starts_full_and_refills_at_the_rate(store: Any) -> None:
    assert store.take_tokens("slack", T0, 1.0, 3.0, 2) == (2, 0.0)
    granted, wait = store.take_tokens("slack", T0, 1.0, 3.0, 5)
    assert granted == 1
    assert abs(wait - 1.0) < 1e-6  # empty: the next token in a second
    assert store.take_tokens("slack", T0 + s(0.5), 1.0, 3.0, 1)[0] == 0
    assert store.take_tokens("slack", T0 + s(1.0), 1.0, 3.0, 1) == (1, 0.0)
    # a long idle time refills up to the burst only
    assert store.take_tokens("slack", T0 + s(100), 1.0, 3.0, 10)[0] == 3
    # other destinations have their own buckets
    assert store.take_tokens("hook", T0, 10.0, 20.0, 20)[0] == 20


def test_two_processes_share_one_bucket(make_store: StoreFactory) -> None:
    a, b = make_store(), make_store()
    got = [a.take_tokens("slack", T0 + s(i), 1.0, 1.0, 1)[0] for i in range(5)]
    got += [b.take_tokens("slack", T0 + s(i + 0.5), 1.0, 1.0, 1)[0] for i in range(5)]
    assert got.count(1) == 5  # five seconds, one token a second, whoever asks


def test_concurrent_takers_never_get_more_than_the_bucket(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(4)]
    total = [0] * len(stores)

    def take(i: int) -> None:
        for _ in range(20):
            total[i] += stores[i].take_tokens("slack", T0, 1.0, 5.0, 1)[0]

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(total) == 5  # the burst at one instant, and not one token more


def test_a_pause_empties_the_bucket_for_every_process(make_store: StoreFactory) -> None:
    a, b = make_store(), make_store()
    assert a.take_tokens("slack", T0, 1.0, 3.0, 1)[0] == 1
    a.pause_destination("slack", T0 + s(30))  # a's 429 said Retry-After: 30
    granted, wait = b.take_tokens("slack", T0 + s(10), 1.0, 3.0, 1)
    assert granted == 0
    assert abs(wait - 21.0) < 1e-6  # 20 s of pause, then a second to refill one token
    assert b.take_tokens("slack", T0 + s(30.5), 1.0, 3.0, 1)[0] == 0
    assert b.take_tokens("slack", T0 + s(31), 1.0, 3.0, 1)[0] == 1
    b.pause_destination("new-one", T0 + s(5))  # a destination never used before
    assert b.take_tokens("new-one", T0 + s(4), 1.0, 3.0, 1)[0] == 0


def test_token_wait() -> None:
    assert token_wait(1, 1, 0.0, 0.0, 0.0, 1.0) == 0.0
    assert token_wait(0, 1, 0.5, 0.0, 0.0, 2.0) == 0.25
    assert token_wait(0, 1, 0.0, 10.0, 4.0, 1.0) == 7.0  # paused until 10, then one token


def test_render_gives_each_dialect_its_functions_and_parameters() -> None:
    text = "SELECT {least}(:a, {floor(:b + (1))}), {greatest}(:a, 0)"
    assert render(text, "sqlite") == "SELECT min(:a, CAST(:b + (1) AS INTEGER)), max(:a, 0)"
    assert render(text, "postgres") == "SELECT LEAST(%(a)s, floor(%(b)s + (1))), GREATEST(%(a)s, 0)"


# -- leader leases --------------------------------------------------------------------------------
def test_one_leader_at_a_time_until_its_lease_ends_or_its_holder_dies(store: Any) -> None:
    store.beat_holder("a", "h", 1, T0, T0 + TTL)
    store.beat_holder("b", "h", 2, T0, T0 + TTL)
    assert store.lead("prune", "a", T0, T0 + s(600)) is True
    assert store.lead("prune", "b", T0 + s(1), T0 + s(601)) is False
    assert store.lead("prune", "a", T0 + s(5), T0 + s(605)) is True  # renewed by its holder
    assert store.lead("digest", "b", T0 + s(5), T0 + s(605)) is True  # another job
    store.beat_holder("b", "h", 2, T0 + s(8), T0 + s(100))
    # a stopped beating at T0 (alive until T0+10 s): b takes over then, not after 605 s
    assert store.lead("prune", "b", T0 + s(9), T0 + s(609)) is False
    assert store.lead("prune", "b", T0 + s(10), T0 + s(610)) is True
    assert store.lead("prune", "a", T0 + s(11), T0 + s(611)) is False


def test_a_leader_lease_without_a_holder_row_ends_with_its_lease(store: Any) -> None:
    assert store.lead("prune", "oneshot", T0, T0 + s(60)) is True
    assert store.lead("prune", "b", T0 + s(59), T0 + s(120)) is False
    assert store.lead("prune", "b", T0 + s(60), T0 + s(120)) is True


# -- the clock set back ----------------------------------------------------------------------------
def test_due_times_move_back_with_a_clock_set_back_an_hour(store: Any) -> None:
    """A due time written before the machine's clock was set back lay an hour too far ahead: the
    feed was not polled, the retry not tried, the destination's bucket not refilled for an hour
    (SQLite). PostgreSQL's processes read the server's clock, which was not set back."""
    enqueue(store, alert("a1", "hook", "s1"))
    [row] = store.claim_due_alerts(T0, 5, LEASE, "d")
    store.schedule_retry(row.id, "d", T0, T0 + s(300), "HTTP 503")
    assert store.take_tokens("hook", T0, 1.0, 1.0, 1)[0] == 1
    back = T0 - timedelta(hours=1)  # the clock now reads an hour earlier
    moved = store.clock_set_back(timedelta(hours=1), back)
    later = back + s(301)  # five minutes after the poll and the failure, by the new clock
    if moved == 0:  # PostgreSQL: the times stay on the server's clock
        assert type(store).__name__ == "PostgresStore"
        assert store.claim_due_feeds(later, 5, LEASE, "p") == []
        return
    assert moved == 3  # the feed's next poll, the alert's next attempt, the bucket
    assert store.claim_due_feeds(back + s(299), 5, LEASE, "p") == []  # not before it is due
    assert store.claim_due_alerts(back + s(299), 5, LEASE, "d") == []
    assert [f.id for f in store.claim_due_feeds(later, 5, LEASE, "p")] == ["f1"]
    assert [r.id for r in store.claim_due_alerts(later, 5, LEASE, "d")] == ["a1"]
    assert store.take_tokens("hook", later, 1.0, 1.0, 1)[0] == 1
