"""Commit-time settling of founded stories, on SQLite and PostgreSQL alike (fixture `store`):
two polls that both founded one story (neither saw the other's in its lookup) end with one
story, one alert per destination, and both items as sightings of the first committed story.
On PostgreSQL, a commit waits for a lock on the band keys of the stories it founds, and only
for those."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint_text
from monitor.dedup.settle import band_lock_keys
from monitor.model import SeenItem, StorySource
from tests.replicas_harness import fresh_database
from tests.store_fixtures import T0, StoreFactory, alert, ok_update, skip_without_postgres, spec
from tests.story_feeds import pseudo_word

LEASE = timedelta(minutes=5)
TITLE = "North Korea sends troops to Russia, Seoul says"
LEDE = "North Korea has sent about 10,000 troops to Russia, South Korea's spy agency said."
FP = fingerprint_text(TITLE, LEDE)
REWORDED = fingerprint_text(TITLE + " - Wire", LEDE)  # the same story in another feed
REVERSED = fingerprint_text(  # shares the words, not the story (the guard keeps it apart)
    "Russia sends troops to North Korea, Seoul says",
    "Russia has sent about 10,000 troops to North Korea, South Korea's spy agency said.",
)
OTHER = fingerprint_text("ECB cuts interest rates again", "The European Central Bank cut rates.")


def founded(key: str, story_key: str, fp: StoryFingerprint) -> SeenItem:
    return SeenItem(key, story_key, title_hash="h", bands=fp.bands, fingerprint=fp.to_bytes(),
                    new_story=True)  # fmt: skip


def commit(store: Any, feed: str, story_key: str, fp: StoryFingerprint, **kw: Any) -> int:
    """A poll of `feed` that founded `story_key` (it found nothing in its lookup) and alerts
    two destinations."""
    now = kw.pop("now", T0)
    alerts = [alert(f"{d}-{story_key}", d, story_key, feed) for d in ("hook", "desk")]
    sighting = StorySource(story_key, feed, f"{feed}-item", now, f"https://{feed}.example/1")
    n: int = store.commit_poll(feed, "w", now, ok_update(now), [founded(f"{feed}-item",
                               story_key, fp)], alerts, [sighting], **kw)  # fmt: skip
    return n


@pytest.fixture
def feeds(store: Any) -> Any:
    store.sync_feeds([spec("f1"), spec("f2"), spec("f3")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    return store


def test_a_story_founded_twice_is_one_story_with_one_alert_per_destination(feeds: Any) -> None:
    assert commit(feeds, "f1", "s1", FP) == 2
    assert commit(feeds, "f2", "s2", REWORDED) == 0  # it joins s1: no alert of its own
    assert sorted((a.destination, a.story_key) for a in feeds.list_alerts()) == [
        ("desk", "s1"), ("hook", "s1")]  # fmt: skip
    assert [(s.feed_id, s.item_key) for s in feeds.list_story_sources("s1")] == [
        ("f1", "f1-item"), ("f2", "f2-item")]  # fmt: skip
    assert feeds.list_story_sources("s2") == []
    assert feeds.known_stories(["s1", "s2"], T0) == {"s1"}
    # f2's wording is indexed under s1 for f2 (a re-issue there is churn next time)
    rows = feeds.story_candidates(REWORDED.bands, T0)
    assert sorted((r.story_key, r.feed_id) for r in rows) == [("s1", "f1"), ("s1", "f2")]
    assert commit(feeds, "f3", "s3", FP) == 0
    assert len(feeds.list_story_sources("s1")) == 3


def test_different_stories_sharing_words_are_not_merged(feeds: Any) -> None:
    assert commit(feeds, "f1", "s1", FP) == 2
    assert commit(feeds, "f2", "s2", REVERSED) == 2
    assert commit(feeds, "f3", "s3", OTHER) == 2
    assert feeds.known_stories(["s1", "s2", "s3"], T0) == {"s1", "s2", "s3"}


def test_a_story_indexed_before_the_lookup_is_not_settled_against(feeds: Any) -> None:
    assert commit(feeds, "f1", "s1", FP) == 2
    later = T0 + timedelta(minutes=1)
    # s1 was indexed before this poll's lookup: the lookup judged it (here: a story of its own)
    assert commit(feeds, "f2", "s2", FP, now=later, stories_since=later) == 2
    # by default the commit looks back SETTLE_MARGIN from its own time
    assert commit(feeds, "f3", "s3", FP, now=later + timedelta(minutes=5)) == 2


def test_an_item_not_marked_as_founding_is_not_settled(feeds: Any) -> None:
    assert commit(feeds, "f1", "s1", FP) == 2
    plain = SeenItem("f2-item", "s2", title_hash="h", bands=FP.bands, fingerprint=FP.to_bytes())
    n = feeds.commit_poll("f2", "w", T0, ok_update(T0), [plain], [alert("a", "hook", "s2", "f2")])
    assert n == 1


# -- PostgreSQL: who waits for whom ----------------------------------------------------------
@pytest.fixture
def own_database() -> Iterator[StoreFactory]:
    """Stores on a database of their own. Advisory locks are the database's, not the schema's:
    in the shared test database, another test's commit (in the other pytest-xdist worker)
    waiting for STORY_LOCK exclusive would queue ahead of the small commit these tests expect
    through, and their held locks would stall the other test's commits."""
    from monitor.store.base import Store
    from monitor.store.postgres import PostgresStore

    opened: list[Store] = []
    with fresh_database(skip_without_postgres(), prefix="settle_locks") as url:

        def make() -> Store:
            store = PostgresStore(url)
            store.migrate()
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


def _hold_lock(make_store: StoreFactory, key: int) -> tuple[Any, Any]:
    """A transaction on a connection of its own that holds advisory lock `key`."""
    import psycopg

    from monitor.store.postgres import PostgresStore

    holder = make_store()
    assert isinstance(holder, PostgresStore)
    conn = psycopg.connect(holder._url, autocommit=False)
    if holder._schema:
        conn.execute(f'SET search_path TO "{holder._schema}"')
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
    return holder, conn


def _commit_in_thread(store: Any, feed: str, key: str, fp: StoryFingerprint) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        commit(store, feed, key, fp)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


@pytest.mark.postgres
def test_postgres_commit_waits_for_its_band_keys_only(own_database: StoreFactory) -> None:
    make_store = own_database
    store = make_store()
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    _, conn = _hold_lock(make_store, band_lock_keys([FP.bands[7]])[0])
    try:
        same = _commit_in_thread(make_store(), "f1", "s1", FP)
        other = _commit_in_thread(make_store(), "f2", "s2", OTHER)
        assert other.wait(10), "a commit of another story must not wait"
        assert not same.wait(0.5), "a commit founding the story must wait for its band key"
    finally:
        conn.commit()
        conn.close()
    assert same.wait(10)
    assert store.known_stories(["s1", "s2"], T0) == {"s1", "s2"}


@pytest.mark.postgres
def test_postgres_commit_founding_many_stories_locks_the_whole_index(
    own_database: StoreFactory,
) -> None:
    from monitor.store.postgres import MAX_BAND_LOCKS, STORY_LOCK

    make_store = own_database
    store = make_store()
    rng = random.Random(5)
    many = [
        fingerprint_text(
            " ".join(pseudo_word(rng) for _ in range(5)),
            " ".join(pseudo_word(rng) for _ in range(20)),
        )
        for _ in range(9)
    ]
    assert len(band_lock_keys(b for fp in many for b in fp.bands)) > MAX_BAND_LOCKS
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w")
    _, conn = _hold_lock(make_store, STORY_LOCK)  # exclusive here: as another big commit would
    conn.rollback()
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (STORY_LOCK,))  # a small commit
    done = threading.Event()

    def big() -> None:
        seen = [founded(f"k{i}", f"s{i}", fp) for i, fp in enumerate(many)]
        store.commit_poll("f1", "w", T0, ok_update(T0), seen, [])
        done.set()

    try:
        small = _commit_in_thread(make_store(), "f2", "s1", FP)
        assert small.wait(10), "small commits share the story lock"
        threading.Thread(target=big, daemon=True).start()
        assert not done.wait(0.5), "a commit founding many stories waits for the small ones"
    finally:
        conn.commit()
        conn.close()
    assert done.wait(10)
    assert len(store.known_stories([f"s{i}" for i in range(9)], T0)) == 9
