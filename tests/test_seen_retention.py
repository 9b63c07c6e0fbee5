"""Seen keys of items still in their feed outlive `retention`; the store's side.

A seen key's retention counts from when a poll last found its item still in the feed
(`commit_poll(kept=...)`), else from when it was first seen; a key past it is pruned only once
its feed has parsed a document more than `retention` after the key's time (or the feed is
inactive): a feed answering 304 keeps its keys. Real stores (SQLite, and PostgreSQL with
`source .ci/postgres.sh`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tests.store_fixtures import T0, ok_update, seen, spec

DAY = timedelta(days=1)
RETENTION = timedelta(days=90)
LEASE = timedelta(minutes=5)


# -- the store: what it reads, keeps and prunes ---------------------------------------------------
def poll_commit(store: Any, when: datetime, keys: Sequence[str] = (), **kw: Any) -> None:
    """One changed poll of f1 at `when` that records `keys` as new."""
    store.claim_due_feeds(when + DAY, 10, LEASE, "w")
    store.commit_poll("f1", "w", when, ok_update(when), [seen(k) for k in keys], [], **kw)


def test_seen_kept_names_the_stale_keys_and_commit_poll_restarts_them(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["old"])
    poll_commit(store, T0 + 30 * DAY, ["young"])
    now = T0 + 40 * DAY
    stale_before = now - RETENTION / 4
    assert store.seen_kept("f1", ["old", "young", "never"], stale_before) == {
        "old": T0,
        "young": None,
    }
    poll_commit(store, now, kept=["old"])
    assert store.seen_kept("f1", ["old", "young"], stale_before) == {"old": None, "young": None}
    later = now + 30 * DAY
    assert store.seen_kept("f1", ["old"], later - RETENTION / 4) == {"old": now}
    assert store.seen_keys("f1", ["old", "young"]) == {"old", "young"}


def test_a_kept_key_outlives_the_retention_and_a_dropped_one_does_not(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["stays", "goes"])
    poll_commit(store, T0 + 60 * DAY, kept=["stays"])  # "goes" has left the feed
    later = T0 + 91 * DAY
    poll_commit(store, later)
    assert store.prune(later, RETENTION) == 1
    assert store.seen_keys("f1", ["stays", "goes"]) == {"stays"}


def test_a_feed_answering_304_keeps_its_keys_until_a_changed_document_lacks_them(
    store: Any,
) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["k"])
    for day in range(1, 200):  # the same document throughout
        when = T0 + day * DAY
        store.claim_due_feeds(when, 10, LEASE, "w")
        assert store.commit_unchanged("w", [("f1", ok_update(when, status="not_modified"))])
        store.prune(when, RETENTION)
    assert store.seen_keys("f1", ["k"]) == {"k"}
    # A changed document without it: the key goes.
    poll_commit(store, T0 + 200 * DAY)
    assert store.prune(T0 + 200 * DAY, RETENTION) == 1
    assert store.seen_keys("f1", ["k"]) == set()


def test_a_key_waits_for_a_document_parsed_a_retention_after_its_time(store: Any) -> None:
    """A poll restarts a key only once it is retention/4 old: a document parsed sooner may
    carry the item with its key unrestarted, so it does not count against the key."""
    store.sync_feeds([spec("f1")], T0)
    poll_commit(store, T0, ["k"])
    poll_commit(store, T0 + 80 * DAY)
    assert store.prune(T0 + 95 * DAY, RETENTION) == 0
    poll_commit(store, T0 + 95 * DAY)
    assert store.prune(T0 + 95 * DAY, RETENTION) == 1


def test_the_keys_of_an_inactive_feed_are_pruned_by_age(store: Any) -> None:
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    poll_commit(store, T0, ["k"])
    store.sync_feeds([spec("f2")], T0 + DAY)  # f1 is no longer configured
    assert store.prune(T0 + 89 * DAY, RETENTION) == 0
    assert store.prune(T0 + 91 * DAY, RETENTION) == 1
