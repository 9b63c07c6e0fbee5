"""The store contract: the same behaviour from SQLite and PostgreSQL (fixture `store`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.errors import StoreError
from monitor.model import FeedUpdate, StorySource
from monitor.store.migrate import latest_version, load_migrations
from tests.store_fixtures import (
    T0,
    StoreFactory,
    alert,
    make_store_every_way,
    ok_update,
    seen,
    spec,
)

make_store = make_store_every_way  # also behind a transaction-mode PgBouncer


LEASE = timedelta(minutes=5)
MIN = timedelta(minutes=1)


def claim_one(store: Any, feed_id: str = "f1", owner: str = "w1") -> None:
    got = store.claim_due_feeds(T0, 100, LEASE, owner)
    assert feed_id in {f.id for f in got}


# -- lifecycle ------------------------------------------------------------------------------------
def test_migrate_is_versioned_and_idempotent(store: Any) -> None:
    versions = store.schema_versions()
    assert versions == [m.version for m in load_migrations(store.dialect)]
    assert versions[-1] == latest_version(store.dialect)
    store.migrate()
    store.migrate()
    assert store.schema_versions() == versions
    assert store.ping() is True


# -- feeds ----------------------------------------------------------------------------------------
def test_sync_feeds_inserts_updates_and_deactivates(store: Any) -> None:
    store.sync_feeds([spec("a", tags=("x",)), spec("b")], T0)
    a = store.get_feed("a")
    assert a is not None
    assert a.status == "new"
    assert a.next_poll_at == T0
    assert a.tags == ("x",)
    assert not a.baseline_done

    store.sync_feeds([spec("a", 60, name="A", tags=("y", "z"), backfill_s=3600)], T0 + MIN)
    assert [f.id for f in store.list_feeds()] == ["a"]
    a = store.get_feed("a")
    assert (a.name, a.tags, a.interval_s, a.backfill_s) == ("A", ("y", "z"), 60, 3600)
    assert store.get_feed("b") is not None  # deactivated, its state kept
    # reactivated with its state
    store.sync_feeds([spec("a"), spec("b")], T0 + 2 * MIN)
    assert [f.id for f in store.list_feeds()] == ["a", "b"]


def test_sync_feeds_says_what_it_changed_and_a_second_sync_changes_nothing(store: Any) -> None:
    """What `feeds_reloaded` counts on SIGHUP; replicas syncing the same config agree."""
    plan = store.sync_feeds([spec("a"), spec("b"), spec("c")], T0)
    assert ([s.id for s in plan.inserts], plan.updates, plan.gone) == (["a", "b", "c"], [], [])
    plan = store.sync_feeds([spec("a", 60), spec("c")], T0 + MIN)
    assert ([s.id for s in plan.inserts], [s.id for s in plan.updates]) == ([], ["a"])
    assert (plan.gone, plan.revived) == (["b"], [])
    again = store.sync_feeds([spec("a", 60), spec("c")], T0 + MIN)
    assert (again.inserts, again.updates, again.gone) == ([], [], [])
    back = store.sync_feeds([spec("a", 60), spec("b"), spec("c")], T0 + 2 * MIN)
    assert ([s.id for s in back.updates], back.revived, back.inserts) == (["b"], ["b"], [])


def test_a_poll_in_flight_when_its_feed_is_removed_is_kept_and_does_not_revive_it(
    store: Any,
) -> None:
    """A SIGHUP (or a replica's start) removes a feed while a poll of it runs: the poll commits
    as usual (its alert is delivered), and the feed stays removed."""
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    claim_one(store, "f1")
    store.sync_feeds([spec("f2")], T0)
    n = store.commit_poll("f1", "w1", T0, ok_update(T0), [seen("k1")], [alert("a1", "hook", "s1")])
    assert n == 1
    assert [f.id for f in store.list_feeds()] == ["f2"]
    assert [f.id for f in store.claim_due_feeds(T0 + timedelta(days=1), 10, LEASE, "w2")] == ["f2"]
    assert [r.id for r in store.claim_due_alerts(T0, 10, LEASE, "d")] == ["a1"]


def test_feeds_in_error_are_counted_among_active_feeds_only(store: Any) -> None:
    store.sync_feeds([spec("a"), spec("b"), spec("c")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    failed = FeedUpdate(status="error", next_poll_at=T0 + MIN, fetched_at=T0, error="boom",
                        error_kind="connect", error_count=1, baseline_done=False)  # fmt: skip
    store.commit_poll("a", "w", T0, failed, [], [])
    store.commit_poll("b", "w", T0, failed, [], [])
    store.commit_poll("c", "w", T0, ok_update(T0), [], [])
    assert store.count_feeds_in_error() == 2
    store.sync_feeds([spec("a"), spec("c")], T0)  # b is no longer configured
    assert store.count_feeds_in_error() == 1


def test_inactive_feed_is_never_claimed(store: Any) -> None:
    store.sync_feeds([spec("a"), spec("b")], T0)
    store.sync_feeds([spec("a")], T0)
    assert [f.id for f in store.claim_due_feeds(T0, 10, LEASE, "w")] == ["a"]


def test_permanent_redirect_survives_resync_but_config_change_wins(store: Any) -> None:
    store.sync_feeds([spec("a", url="https://old.example/feed")], T0)
    claim_one(store, "a")
    moved = ok_update(T0, new_url="https://new.example/feed")
    store.commit_poll("a", "w1", T0, moved, [], [])
    store.sync_feeds([spec("a", url="https://old.example/feed")], T0)
    assert store.get_feed("a").url == "https://new.example/feed"
    store.sync_feeds([spec("a", url="https://other.example/rss")], T0)
    assert store.get_feed("a").url == "https://other.example/rss"


def test_a_new_url_ends_the_backoff_the_old_one_earned(store: Any) -> None:
    """A mistyped url, fixed in the config, waited out the hours of backoff the typo earned."""
    store.sync_feeds([spec("a", url="https://typo.example/rss"), spec("b")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w1")
    for feed_id in ("a", "b"):
        read = ok_update(T0, etag='"v1"', last_modified="Mon, 07 Dec 2026 12:00:00 GMT")
        store.commit_poll(feed_id, "w1", T0, read, [], [])
        store.claim_due_feeds(T0 + timedelta(minutes=5), 10, LEASE, "w1")
        failing = ok_update(T0, 6 * 3600, status="error", error="x", error_kind="http_status",
                            error_count=5)  # fmt: skip
        store.commit_poll(feed_id, "w1", T0, failing, [], [])
    later = T0 + MIN
    store.sync_feeds([spec("a", url="https://news.example/rss"), spec("b", name="B")], later)
    a, b = store.get_feed("a"), store.get_feed("b")
    assert (a.url, a.error_count, a.next_poll_at) == ("https://news.example/rss", 0, later)
    assert (a.etag, a.last_modified) == (None, None)  # the old address's, not the new one's
    assert (b.error_count, b.next_poll_at) == (5, T0 + timedelta(hours=6))  # its url is the same
    assert b.etag == '"v1"'
    assert [f.id for f in store.claim_due_feeds(later, 10, LEASE, "w2")] == ["a"]


def test_claim_due_feeds_respects_due_time_limit_and_order(store: Any) -> None:
    store.sync_feeds([spec(f"f{i}") for i in range(5)], T0)
    store.claim_due_feeds(T0, 100, LEASE, "setup")
    for j in range(5):  # f0 due at T0+4min ... f4 due at T0
        store.commit_poll(f"f{j}", "setup", T0, ok_update(T0, 60 * (4 - j)), [], [])
    assert store.claim_due_feeds(T0 - MIN, 10, LEASE, "w") == []
    got = store.claim_due_feeds(T0 + 2 * MIN, 2, LEASE, "w")
    assert [f.id for f in got] == ["f4", "f3"]  # soonest due first, at most `limit`
    got = store.claim_due_feeds(T0 + 2 * MIN, 10, LEASE, "w")
    assert [f.id for f in got] == ["f2"]  # f4, f3 leased; f1, f0 not due yet


def test_a_claim_due_by_a_later_time_leases_from_now_and_spares_live_leases(store: Any) -> None:
    # `check --deliver` polls every feed, due or not: due_by far ahead, everything else now.
    far = T0 + timedelta(days=3650)
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    store.beat_holder("daemon", "host1", 101, T0, T0 + MIN)
    assert [f.id for f in store.claim_due_feeds(T0, 1, LEASE, "daemon")] == ["f1"]
    store.claim_due_feeds(T0, 10, LEASE, "setup")
    store.commit_poll("f2", "setup", T0, ok_update(T0, 3600), [], [])  # due in an hour
    got = store.claim_due_feeds(T0, 10, LEASE, "cron", due_by=far)
    assert [f.id for f in got] == ["f2"]  # not yet due, yet claimed; f1's holder is alive
    # leased from now: once that lease is over (the cron run was killed), it is free again,
    # not ten years later (f1 is free by then too: its holder stopped beating)
    taken = [
        store.claim_due_feeds(t, 10, LEASE, "b", due_by=far) for t in (T0 + 4 * MIN, T0 + LEASE)
    ]
    assert [[f.id for f in claim] for claim in taken] == [["f1"], ["f2"]]


def test_lease_blocks_others_until_it_expires(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    assert len(store.claim_due_feeds(T0, 10, LEASE, "w1")) == 1
    assert store.claim_due_feeds(T0 + 4 * MIN, 10, LEASE, "w2") == []
    taken = store.claim_due_feeds(T0 + LEASE, 10, LEASE, "w2")  # expired: taken over
    assert [f.id for f in taken] == ["f1"]
    assert store.claim_due_feeds(T0 + LEASE, 10, LEASE, "w1") == []


def test_release_feed_only_by_its_owner(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store)
    store.release_feed("f1", "intruder")
    assert store.claim_due_feeds(T0, 10, LEASE, "w2") == []
    store.release_feed("f1", "w1")
    assert [f.id for f in store.claim_due_feeds(T0, 10, LEASE, "w2")] == ["f1"]


def test_concurrent_claimers_never_share_a_feed(make_store: StoreFactory) -> None:
    first = make_store()
    first.sync_feeds([spec(f"f{i:03}") for i in range(120)], T0)
    workers = [make_store() for _ in range(4)]
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def work(index: int) -> None:
        owner = f"w{index}"
        try:
            start.wait()
            while True:
                got = workers[index].claim_due_feeds(T0, 7, LEASE, owner)
                if not got:
                    return
                claimed.setdefault(owner, []).extend(f.id for f in got)
        except BaseException as e:  # noqa: BLE001 - the thread reports anything to the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [f for ids in claimed.values() for f in ids]
    assert len(every) == len(set(every)) == 120


# -- polling --------------------------------------------------------------------------------------
def test_commit_poll_writes_seen_alerts_and_feed_state_and_releases(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store)
    update = ok_update(T0, 300, etag='"v1"', last_modified="Sun, 01 Mar 2026 11:00:00 GMT",
                       body_hash="h1", title="Feed One")  # fmt: skip
    n = store.commit_poll("f1", "w1", T0, update, [seen("k1"), seen("k2")],
                          [alert("a1", "hook", "s1"), alert("a2", "slack", "s1")])  # fmt: skip
    assert n == 2
    assert store.seen_keys("f1", ["k1", "k2", "k3"]) == {"k1", "k2"}
    f = store.get_feed("f1")
    expected = ("ok", '"v1"', "h1", "Feed One", True)
    assert (f.status, f.etag, f.body_hash, f.title, f.baseline_done) == expected
    assert f.next_poll_at == T0 + timedelta(seconds=300)
    assert f.last_fetch_at == T0 == f.last_success_at
    assert store.get_alert("a1").document == {"id": "a1", "title": "Story s1"}
    # the lease is released: due again once next_poll_at comes
    assert store.claim_due_feeds(T0 + timedelta(seconds=300), 10, LEASE, "w2") != []


def test_second_enqueue_of_a_story_or_id_is_a_no_op(store: Any) -> None:
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w1")
    assert store.commit_poll("f1", "w1", T0, ok_update(T0), [seen("k1", "s1")],
                             [alert("a1", "hook", "s1")]) == 1  # fmt: skip
    # same (destination, story_key) from another feed, and the same id for another story
    dup = [alert("a9", "hook", "s1", feed_id="f2"), alert("a1", "slack", "s2", feed_id="f2"),
           alert("a3", "hook", "s3", feed_id="f2")]  # fmt: skip
    assert store.commit_poll("f2", "w1", T0, ok_update(T0), [seen("k1", "s1")], dup) == 1
    assert sorted(a.id for a in store.list_alerts()) == ["a1", "a3"]
    assert store.get_alert("a1").destination == "hook"
    assert store.seen_keys("f2", ["k1"]) == {"k1"}  # seen keys are per feed


def test_duplicates_inside_one_poll_are_ignored(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store)
    items = [seen("k1", "s1"), seen("k1", "s1"), seen("k2", "s1")]
    twice = [alert("a1", "hook", "s1"), alert("a2", "hook", "s1"), alert("a1", "slack", "s2")]
    assert store.commit_poll("f1", "w1", T0, ok_update(T0), items, twice) == 1
    assert [a.id for a in store.list_alerts()] == ["a1"]
    assert store.seen_keys("f1", ["k1", "k2"]) == {"k1", "k2"}


def test_commit_poll_with_unserialisable_document_writes_nothing(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store)
    bad = [alert("a1", "hook", "s1"), alert("a2", "hook", "s2", blob=object())]
    with pytest.raises(StoreError, match="a2"):
        store.commit_poll("f1", "w1", T0, ok_update(T0), [seen("k1"), seen("k2")], bad)
    assert store.seen_keys("f1", ["k1", "k2"]) == set()
    assert store.list_alerts() == []
    f = store.get_feed("f1")
    assert f.status == "new"
    assert f.last_fetch_at is None
    # still leased to w1, who may retry the poll
    assert store.claim_due_feeds(T0, 10, LEASE, "w2") == []
    assert store.commit_poll("f1", "w1", T0, ok_update(T0), [seen("k1")], bad[:1]) == 1


def test_commit_poll_failing_at_the_feed_update_rolls_back_seen_and_alerts(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store)
    # A status the schema refuses (and the type, hence the ignore): the seen keys and the alert
    # are already written when the last statement of the transaction fails.
    broken = FeedUpdate(status="exploded", next_poll_at=T0, fetched_at=T0)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.commit_poll("f1", "w1", T0, broken, [seen("k1")], [alert("a1", "hook", "s1")])
    assert store.seen_keys("f1", ["k1"]) == set()
    assert store.get_alert("a1") is None
    assert store.known_stories(["story-k1"], T0 - LEASE) == set()


def test_lost_lease_writes_nothing(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store, owner="slow")
    late = T0 + LEASE + MIN
    assert [f.id for f in store.claim_due_feeds(late, 10, LEASE, "fast")] == ["f1"]
    n = store.commit_poll("f1", "slow", late, ok_update(late), [seen("k1")],
                          [alert("a1", "hook", "s1")])  # fmt: skip
    assert n == 0
    assert store.seen_keys("f1", ["k1"]) == set()
    assert store.list_alerts() == []
    assert store.get_feed("f1").status == "new"
    store.release_feed("f1", "slow")  # does nothing: "fast" still holds it
    store.commit_poll("f1", "fast", late, ok_update(late), [seen("k1")], [])
    assert store.seen_keys("f1", ["k1"]) == {"k1"}


def not_modified(now: datetime, etag: str = '"v2"') -> FeedUpdate:
    return ok_update(now, status="not_modified", etag=etag, last_modified="Sun, 01 Mar 2026")


def test_commit_unchanged_writes_what_commit_poll_writes_in_one_call(store: Any) -> None:
    store.sync_feeds([spec("a"), spec("b"), spec("c"), spec("d")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w1")
    later = T0 + MIN
    assert store.commit_poll("a", "w1", later, not_modified(later), [], []) == 0
    written = store.commit_unchanged("w1", [("d", not_modified(later)), ("b", not_modified(later)),
                                            ("c", not_modified(later, etag='"v3"'))])  # fmt: skip
    assert written == ["b", "c", "d"]
    a, b, c = store.get_feed("a"), store.get_feed("b"), store.get_feed("c")
    assert b == replace(a, id="b", url=b.url)  # the same state, field for field
    assert (b.status, b.etag, b.next_poll_at, b.last_fetch_at) == (
        "not_modified",
        '"v2"',
        later + 5 * MIN,
        later,
    )
    assert c.etag == '"v3"'
    # every lease released: all four are due again at their next poll time, for anyone
    got = store.claim_due_feeds(later + 5 * MIN, 10, LEASE, "w2")
    assert sorted(f.id for f in got) == ["a", "b", "c", "d"]
    assert store.commit_unchanged("w1", []) == []


def test_commit_unchanged_leaves_a_feed_whose_lease_was_lost(store: Any) -> None:
    store.sync_feeds([spec("a"), spec("b"), spec("c")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "slow")
    late = T0 + LEASE + MIN
    store.release_feed("c", "slow")  # c: never leased to anyone now
    assert [f.id for f in store.claim_due_feeds(late, 1, LEASE, "fast")] == ["a"]
    written = store.commit_unchanged("slow", [(f, not_modified(late)) for f in ("a", "b", "c")])
    assert written == ["b"]
    assert store.get_feed("a").status == "new"  # the new owner's poll decides
    assert store.get_feed("c").status == "new"
    assert store.get_feed("b").status == "not_modified"
    assert store.commit_unchanged(
        "fast", [("a", not_modified(late)), ("gone", not_modified(late))]
    ) == ["a"]


def moved(now: datetime) -> FeedUpdate:
    return ok_update(now, status="unchanged", body_hash="b1", new_url="https://example.org/new",
                     title="Moved feed", last_modified="Mon, 02 Mar 2026")  # fmt: skip


def failed(now: datetime) -> FeedUpdate:
    return ok_update(now, status="error", error="timed out", error_kind="timeout", error_count=3)


@pytest.mark.parametrize("update", [not_modified, failed, moved])
def test_commit_unchanged_in_a_batch_writes_what_commit_poll_writes_field_for_field(
    store: Any, update: Callable[[datetime], FeedUpdate]
) -> None:
    """The batch writes many feeds in one statement where the database can; each must take
    exactly the state commit_poll gives it, whichever columns the poll changes or keeps."""
    ids = [f"f{i:04}" for i in range(1, 1201)]  # more than one chunk of parameters
    store.sync_feeds([spec("alone"), *map(spec, ids)], T0)
    store.claim_due_feeds(T0, 2000, LEASE, "w1")
    # a first poll's state underneath, to be kept or replaced: on "alone" and on every feed
    first = ok_update(T0, etag='"v1"', title="Old", body_hash="b0")
    assert store.commit_unchanged("w1", [(f, first) for f in ["alone", *ids]])[-1] == ids[-1]
    store.claim_due_feeds(T0 + 5 * MIN, 2000, LEASE, "w1")
    later = T0 + 6 * MIN
    assert store.commit_poll("alone", "w1", later, update(later), [], []) == 0
    written = store.commit_unchanged("w1", [(f, update(later)) for f in reversed(ids)])
    assert written == ids
    want = store.get_feed("alone")
    assert want.title == ("Moved feed" if update is moved else "Old")  # COALESCE keeps "Old"
    assert want.last_success_at == (T0 if update is failed else later)
    for feed_id in (ids[0], ids[1], ids[-1]):
        got = store.get_feed(feed_id)
        url = want.url if update is moved else spec(feed_id).url
        assert got == replace(want, id=feed_id, url=url)
    assert store.claim_due_feeds(later + MIN, 2000, LEASE, "w2") == []  # leases released


def test_commit_unchanged_writes_a_feed_named_twice_once_by_its_first_poll(store: Any) -> None:
    store.sync_feeds([spec("a"), spec("b")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w1")
    later = T0 + MIN
    written = store.commit_unchanged(
        "w1", [("a", not_modified(later)), ("b", not_modified(later)),
               ("a", not_modified(later, etag='"second"'))],
    )  # fmt: skip
    assert written == ["a", "b"]
    assert store.get_feed("a").etag == '"v2"'  # the first poll released the lease


def test_commit_unchanged_failing_on_one_feed_writes_none_of_the_batch(store: Any) -> None:
    store.sync_feeds([spec("a"), spec("b")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w1")
    # A status the schema refuses, on the second feed: the first one's row is already updated
    # when the transaction fails.
    broken = FeedUpdate(status="exploded", next_poll_at=T0, fetched_at=T0)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.commit_unchanged("w1", [("a", not_modified(T0)), ("b", broken)])
    assert store.get_feed("a").status == "new"
    # both still leased to w1 (a lost batch: polled again when the leases expire)
    assert store.claim_due_feeds(T0 + MIN, 10, LEASE, "w2") == []
    got = store.claim_due_feeds(T0 + LEASE + MIN, 10, LEASE, "w2")
    assert sorted(f.id for f in got) == ["a", "b"]


def test_commit_poll_without_a_claim_writes_nothing(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    assert store.commit_poll("f1", "w1", T0, ok_update(T0), [seen("k1")], []) == 0
    assert store.commit_poll("nope", "w1", T0, ok_update(T0), [seen("k1")], []) == 0
    assert store.seen_keys("f1", ["k1"]) == set()


def test_failed_poll_keeps_validators_and_does_not_finish_the_baseline(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    claim_one(store)
    err = ok_update(T0, status="error", error="boom", error_kind="timeout", error_count=1)
    store.commit_poll("f1", "w1", T0, err, [], [])
    f = store.get_feed("f1")
    assert (f.status, f.error_kind, f.error_count, f.baseline_done) == (
        "error",
        "timeout",
        1,
        False,
    )
    assert f.last_success_at is None
    assert f.last_fetch_at == T0
    later = T0 + LEASE
    store.claim_due_feeds(later, 10, LEASE, "w1")
    store.commit_poll("f1", "w1", later, ok_update(later, etag="e1"), [], [])
    store.claim_due_feeds(later + LEASE, 10, LEASE, "w1")
    store.commit_poll("f1", "w1", later + LEASE, ok_update(later + LEASE, status="error"), [], [])
    f = store.get_feed("f1")
    assert f.etag == "e1"
    assert f.baseline_done
    assert f.last_success_at == later


def test_known_stories_window_spans_feeds(store: Any, store_clock: FakeClock) -> None:
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    store.commit_poll("f1", "w", T0, ok_update(T0), [seen("k1", "old-story")], [])
    later = store_clock.advance(hours=3)
    store.commit_poll("f2", "w", later, ok_update(later), [seen("k2", "new-story")], [])
    keys = ["old-story", "new-story", "unknown"]
    assert store.known_stories(keys, T0) == {"old-story", "new-story"}
    assert store.known_stories(keys, T0 + timedelta(hours=1)) == {"new-story"}
    assert store.known_stories([], T0) == set()
    many = [f"s{i}" for i in range(1200)] + ["old-story"]  # more than one IN-list chunk
    assert store.known_stories(many, T0) == {"old-story"}
    assert store.seen_keys("f1", [f"x{i}" for i in range(1200)] + ["k1"]) == {"k1"}


def test_story_sources_are_recorded_once_and_listed(store: Any) -> None:
    a = StorySource("s1", "f1", "k1", T0, "https://a.example/1", "First")
    b = StorySource("s1", "f2", "k9", T0 + MIN, None, "Second")
    assert store.add_story_sources([b, a]) == 2
    assert store.add_story_sources([a, StorySource("s2", "f1", "k2", T0)]) == 1
    assert store.list_story_sources("s1") == [a, b]
    assert store.list_story_sources("nothing") == []


# -- outbox ---------------------------------------------------------------------------------------
def enqueue(store: Any, *alerts: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "poller")
    assert store.commit_poll("f1", "poller", T0, ok_update(T0), [], list(alerts)) == len(alerts)


def test_claim_due_alerts_order_limit_lease_and_destinations(store: Any) -> None:
    enqueue(store, alert("a2", "hook", "s2", created_at=T0 + MIN), alert("a1", "hook", "s1"),
            alert("a3", "slack", "s3", created_at=T0 + 2 * MIN))  # fmt: skip
    got = store.claim_due_alerts(T0, 2, LEASE, "d1")
    assert [a.id for a in got] == ["a1", "a2"]  # oldest first
    assert got[0].extra["lease_owner"] == "d1"
    assert [a.id for a in store.claim_due_alerts(T0, 10, LEASE, "d2")] == ["a3"]
    assert store.claim_due_alerts(T0, 10, LEASE, "d3") == []
    taken = store.claim_due_alerts(T0 + LEASE, 10, LEASE, "d3", destinations=["slack"])
    assert [a.id for a in taken] == ["a3"]
    assert store.claim_due_alerts(T0 + LEASE, 10, LEASE, "d4", destinations=[]) == []


def test_delivery_outcomes_need_the_lease(store: Any) -> None:
    enqueue(store, alert("a1", "hook", "s1"), alert("a2", "hook", "s2"))
    store.claim_due_alerts(T0, 10, LEASE, "d1")
    assert store.mark_delivered("a1", "d2", T0) is False
    assert store.schedule_retry("a1", "d2", T0, T0 + MIN, "x") is False
    assert store.dead_letter("a1", "d2", T0, "x") is False
    store.release_alert("a1", "d2")
    assert store.claim_due_alerts(T0, 10, LEASE, "d2") == []
    assert store.mark_delivered("a1", "d1", T0 + MIN) is True
    assert store.mark_delivered("a1", "d1", T0 + MIN) is False  # already delivered
    a1 = store.get_alert("a1")
    assert (a1.status, a1.attempts, a1.delivered_at) == ("delivered", 1, T0 + MIN)
    store.release_alert("a2", "d1")
    assert [a.id for a in store.claim_due_alerts(T0, 10, LEASE, "d2")] == ["a2"]


def test_schedule_retry_counts_attempts_and_delays(store: Any, store_clock: FakeClock) -> None:
    enqueue(store, alert("a1", "hook", "s1"))
    for attempt in range(1, 4):
        now = store_clock.now()
        [row] = store.claim_due_alerts(now, 10, LEASE, "d")
        assert row.attempts == attempt - 1
        assert store.schedule_retry("a1", "d", now, now + timedelta(hours=2), "503") is True
        assert store.claim_due_alerts(now + timedelta(hours=1), 10, LEASE, "d") == []
        store_clock.advance(hours=2)
    a1 = store.get_alert("a1")
    assert (a1.status, a1.attempts, a1.last_error) == ("pending", 3, "503")
    assert a1.next_attempt_at == T0 + timedelta(hours=6)


def test_dead_letter_and_replay_keep_the_id(store: Any) -> None:
    enqueue(store, alert("a1", "hook", "s1"), alert("a2", "hook", "s2"), alert("a3", "x", "s3"))
    store.claim_due_alerts(T0, 10, LEASE, "d")
    store.schedule_retry("a1", "d", T0, T0, "503")
    store.claim_due_alerts(T0, 10, LEASE, "d")
    assert store.dead_letter("a1", "d", T0, "404 Not Found") is True
    assert store.dead_letter("a2", None, T0, "by hand") is True  # regardless of the lease
    assert store.dead_letter("a2", None, T0, "again") is False
    dead = store.list_alerts("dead")
    assert {a.id for a in dead} == {"a1", "a2"}
    assert store.get_alert("a1").attempts == 2
    assert store.get_alert("a2").attempts == 0
    assert [a.id for a in store.list_alerts("pending")] == ["a3"]
    assert len(store.list_alerts(limit=2)) == 2

    later = T0 + timedelta(hours=1)
    assert store.replay(["a1", "a3", "missing"], later) == 1  # a3 is not dead
    a1 = store.get_alert("a1")
    assert (a1.id, a1.status, a1.attempts, a1.next_attempt_at) == ("a1", "pending", 0, later)
    assert a1.document == {"id": "a1", "title": "Story s1"}
    assert store.replay(None, later) == 1
    claimed = store.claim_due_alerts(later, 10, LEASE, "d2")
    assert {a.id for a in claimed} == {"a1", "a2", "a3"}


def test_group_alerts_records_all_or_none_and_replay_forgets_it(store: Any) -> None:
    """A grouped message's alerts are recorded before its first post all at once: none when
    one is in another message already or no longer pending (another process's post won)."""
    enqueue(store, *(alert(f"a{i}", "hook", f"s{i}") for i in range(1, 6)))
    assert store.group_alerts(["a1", "a2"], "in digest dig_1") is True
    assert store.group_alerts(["a3", "a2"], "in digest dig_2") is False  # a2 is in dig_1
    assert store.get_alert("a3").grouped_in is None  # not kept: all or none
    assert store.group_alerts(["a3"], "in digest dig_2") is True
    store.claim_due_alerts(T0, 10, LEASE, "d")
    assert store.dead_letter("a4", None, T0, "refused") is True
    assert store.group_alerts(["a5", "a4"], "in digest dig_3") is False  # a4 is dead
    assert store.get_alert("a5").grouped_in is None
    assert [store.get_alert(f"a{i}").grouped_in for i in (1, 2, 3)] == [
        "in digest dig_1",
        "in digest dig_1",
        "in digest dig_2",
    ]
    assert store.settle_grouped(["a1", "a2"], T0, "in digest dig_1") == 2
    assert store.get_alert("a1").grouped_in == "in digest dig_1"  # what carried it, kept
    assert store.dead_letter("a3", None, T0, "refused") is True
    assert store.replay(["a3"], T0) == 1
    assert store.get_alert("a3").grouped_in is None  # a replayed alert goes anew


def test_owed_recipients_are_the_lease_holders_to_record_and_outlive_the_process(
    make_store: StoreFactory,
) -> None:
    """An email alert's recipients still owed (some took it, some refused it for now) are
    recorded by its lease holder, read back by another store object (a restarted process),
    kept by its retry and by replay, so its next attempt goes to them alone."""
    store: Any = make_store()
    enqueue(store, alert("a1", "mail", "s1"), alert("a2", "mail", "s2"))
    assert store.get_alert("a1").owed_to is None  # every recipient is owed it
    store.claim_due_alerts(T0, 10, LEASE, "d")
    owed = ["désk@example.org", "ed@example.org"]  # in order, not only ASCII
    note = "SMTP 250 for 1 of 3 recipients; 2 refused for now"
    assert store.owe_recipients("a1", "other", owed, note) is False  # not its lease
    assert store.get_alert("a1").owed_to is None
    assert store.owe_recipients("a1", "d", owed, note) is True
    assert store.schedule_retry("a1", "d", T0, T0 + MIN, note) is True
    assert store.owe_recipients("a1", "d", ["x@example.org"], "x") is False  # lease ended
    restarted: Any = make_store()
    [row] = restarted.claim_due_alerts(T0 + MIN, 1, LEASE, "d2")
    assert (row.id, row.owed_to, row.last_error) == ("a1", tuple(owed), note)
    assert restarted.dead_letter("a1", "d2", T0 + MIN, "SMTP 451 DataError") is True
    assert restarted.replay(["a1"], T0 + MIN) == 1
    assert store.get_alert("a1").owed_to == tuple(owed)  # replayed: still not to those who took it
    assert store.owe_recipients("a2", "d", [], "SMTP 250; 1 refused for good") is True
    assert store.mark_delivered("a2", "d", T0) is True
    a2 = store.get_alert("a2")
    assert (a2.status, a2.owed_to, a2.last_error) == (
        "delivered",
        (),
        "SMTP 250; 1 refused for good",
    )


def test_outbox_stats(store: Any) -> None:
    assert store.outbox_stats(T0) == (0, None)
    enqueue(store, alert("a1", "hook", "s1"), alert("a2", "hook", "s2", created_at=T0 + MIN))
    assert store.outbox_stats(T0 + 10 * MIN) == (2, 600.0)
    store.claim_due_alerts(T0, 1, LEASE, "d")
    store.mark_delivered("a1", "d", T0)
    assert store.outbox_stats(T0 + 10 * MIN) == (1, 540.0)


def test_outbox_age_leaves_out_alerts_held_until_a_time_ahead(store: Any) -> None:
    """A digest's or storm's hold waits by design: counted, a daily digest's first alert aged
    to a day, and the stuck-outbox alert of docs/metrics.md fired every day."""
    enqueue(store, alert("a1", "hook", "s1"), alert("a2", "hook", "s2"))
    held, retried = store.claim_due_alerts(T0, 2, LEASE, "d")
    assert store.postpone_alert(held.id, "d", T0 + 60 * MIN, "in a digest: held") is True
    assert store.outbox_stats(T0 + 10 * MIN) == (2, 600.0)  # the other is still due
    assert store.schedule_retry(retried.id, "d", T0, T0 + 30 * MIN, "HTTP 500") is True
    assert store.outbox_stats(T0 + 10 * MIN) == (2, 600.0)  # a retry counts: it was tried
    store.claim_due_alerts(T0 + 31 * MIN, 1, LEASE, "d")
    assert store.mark_delivered(retried.id, "d", T0 + 31 * MIN) is True
    assert store.outbox_stats(T0 + 40 * MIN) == (1, None)  # held, never tried: not stuck
    assert store.outbox_stats(T0 + 70 * MIN) == (1, 4200.0)  # past its time: it counts


def test_pending_destinations_are_those_pending_alerts_wait_for(store: Any) -> None:
    assert store.pending_destinations() == []
    enqueue(store, alert("a1", "slack", "s1"), alert("a2", "hook", "s2"), alert("a3", "hook", "s3"))
    assert store.pending_destinations() == ["hook", "slack"]
    store.claim_due_alerts(T0, 10, LEASE, "d")
    store.mark_delivered("a1", "d", T0)  # slack has nothing pending any more
    assert store.dead_letter("a2", "d", T0, "refused") is True
    assert store.pending_destinations() == ["hook"]


def test_paused_destinations_are_those_whose_pause_has_not_ended(store: Any) -> None:
    assert store.paused_destinations(T0) == {}
    store.pause_destination("hook", T0 + 10 * MIN)
    store.take_tokens("slack", T0, 1.0, 3.0, 1)  # a bucket that only gave tokens: no pause
    assert store.paused_destinations(T0) == {"hook": T0 + 10 * MIN}
    assert store.paused_destinations(T0 + 10 * MIN) == {}


def test_disable_destination_dead_letters_only_its_pending_alerts(store: Any) -> None:
    enqueue(store, alert("a1", "slack", "s1"), alert("a2", "slack", "s2"),
            alert("a3", "hook", "s1"))  # fmt: skip
    [first] = store.claim_due_alerts(T0, 1, LEASE, "d")
    store.mark_delivered(first.id, "d", T0)
    assert store.disable_destination("slack", "410 Gone", T0) == 1
    assert store.disabled_destinations() == {"slack": "410 Gone"}
    assert store.get_alert("a1").status == "delivered"
    a2 = store.get_alert("a2")
    assert a2.status == "dead"
    assert "410 Gone" in (a2.last_error or "")
    assert store.get_alert("a3").status == "pending"
    # new alerts for a disabled destination go straight to the dead letters, and are never claimed
    store.claim_due_feeds(T0 + LEASE, 10, LEASE, "poller")
    n = store.commit_poll("f1", "poller", T0, ok_update(T0), [], [alert("a4", "slack", "s4")])
    assert n == 1
    assert store.get_alert("a4").status == "dead"
    assert store.replay(["a4"], T0) == 1
    assert [a.id for a in store.claim_due_alerts(T0, 10, LEASE, "d")] == ["a3"]
    store.enable_destination("slack")
    assert store.disabled_destinations() == {}
    assert [a.id for a in store.claim_due_alerts(T0, 10, LEASE, "d2")] == ["a4"]


def test_prune_deletes_old_seen_keys_and_finished_alerts_only(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    store.commit_poll("f1", "w", T0, ok_update(T0, 0), [seen("old")],
                      [alert("done", "hook", "s1"), alert("dead", "hook", "s2"),
                       alert("waiting", "hook", "s3")])  # fmt: skip
    store.add_story_sources([StorySource("s1", "f1", "old", T0)])
    store.claim_due_alerts(T0, 10, LEASE, "d")
    store.mark_delivered("done", "d", T0)
    store.dead_letter("dead", "d", T0, "404")
    store.release_alert("waiting", "d")
    later = T0 + timedelta(days=91)
    store.claim_due_feeds(later, 10, LEASE, "w")
    store.commit_poll("f1", "w", later, ok_update(later), [seen("new")], [])

    assert store.prune(later, timedelta(days=90)) == 4  # old seen key, source, done, dead
    assert store.seen_keys("f1", ["old", "new"]) == {"new"}
    assert [a.id for a in store.list_alerts()] == ["waiting"]
    assert store.list_story_sources("s1") == []
    assert store.prune(later, timedelta(days=90)) == 0


def test_concurrent_polls_of_one_story_enqueue_one_alert(make_store: StoreFactory) -> None:
    """Two workers poll two feeds carrying the same stories at once: one alert per story."""
    first = make_store()
    first.sync_feeds([spec("fa"), spec("fb")], T0)
    workers = {"fa": make_store(), "fb": make_store()}
    for feed_id, worker in workers.items():
        assert [f.id for f in worker.claim_due_feeds(T0, 1, LEASE, feed_id)] == [feed_id]
    stories = [f"s{i:02}" for i in range(40)]
    counts: dict[str, int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def poll(feed_id: str) -> None:
        try:
            start.wait()
            items = [seen(f"{feed_id}-{s}", s) for s in stories]
            alerts = [alert(f"{feed_id}-{s}", "hook", s, feed_id) for s in stories]
            counts[feed_id] = workers[feed_id].commit_poll(
                feed_id, feed_id, T0, ok_update(T0), items, alerts
            )
        except BaseException as e:  # noqa: BLE001 - the thread reports anything to the test
            errors.append(e)

    threads = [threading.Thread(target=poll, args=(f,)) for f in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(counts.values()) == len(stories)
    assert len(first.list_alerts(limit=1000)) == len(stories)


def test_concurrent_deliverers_never_share_an_alert(make_store: StoreFactory) -> None:
    first = make_store()
    enqueue(first, *[alert(f"a{i:03}", f"d{i % 3}", f"s{i}") for i in range(90)])
    workers = [make_store() for _ in range(3)]
    delivered: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def work(index: int) -> None:
        owner = f"w{index}"
        try:
            start.wait()
            while batch := workers[index].claim_due_alerts(T0, 4, LEASE, owner):
                for row in batch:
                    assert workers[index].mark_delivered(row.id, owner, T0)
                    delivered.setdefault(owner, []).append(row.id)
        except BaseException as e:  # noqa: BLE001 - the thread reports anything to the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [a for ids in delivered.values() for a in ids]
    assert len(every) == len(set(every)) == 90
    assert first.outbox_stats(T0) == (0, None)
