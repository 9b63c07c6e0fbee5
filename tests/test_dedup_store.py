"""The story index contract, on SQLite and PostgreSQL alike (fixture `store`), and across
processes."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.dedup.fingerprint import StoryFingerprint, fingerprint_text
from monitor.errors import StoreError
from monitor.model import SeenItem
from tests.store_fixtures import T0, StoreFactory, ok_update, spec

LEASE = timedelta(minutes=5)
FP = fingerprint_text(
    "North Korea sends troops to Russia, Seoul says",
    "North Korea has sent about 10,000 troops to Russia, South Korea's spy agency said.",
)
OTHER = fingerprint_text("ECB cuts interest rates again", "The European Central Bank cut rates.")


def story(key: str, story_key: str, fp: StoryFingerprint = FP, **kw: Any) -> SeenItem:
    return SeenItem(key, story_key, title_hash=kw.pop("title_hash", "h"), bands=fp.bands,
                    fingerprint=fp.to_bytes(), **kw)  # fmt: skip


def poll(store: Any, feed: str, now: Any, seen: list[SeenItem], owner: str = "w") -> None:
    store.claim_due_feeds(now, 10, LEASE, owner)
    store.commit_poll(feed, owner, now, ok_update(now, 0), seen, [])


@pytest.fixture
def feeds(store: Any) -> Any:
    store.sync_feeds([spec("f1"), spec("f2")], T0)
    return store


def test_a_new_story_is_found_by_any_of_its_bands(feeds: Any) -> None:
    poll(feeds, "f1", T0, [story("k1", "s1"), story("k2", "s2", OTHER)])
    (rec,) = feeds.story_candidates([FP.bands[5], "ffffffffffff"], T0)
    assert (rec.story_key, rec.feed_id, rec.bands) == ("s1", "f1", (FP.bands[5],))
    assert StoryFingerprint.from_bytes(rec.fingerprint) == FP
    assert rec.first_seen == T0 == rec.last_seen
    both = feeds.story_candidates([*FP.bands, *OTHER.bands], T0)
    assert [(r.story_key, len(r.bands)) for r in both] == [("s1", 32), ("s2", 32)]
    assert feeds.story_candidates([], T0) == []


def test_window_counts_from_the_last_sighting(feeds: Any) -> None:
    poll(feeds, "f1", T0, [story("k1", "s1")])
    day2 = T0 + timedelta(days=2)
    assert feeds.story_candidates(FP.bands, day2 - timedelta(hours=1)) == []
    # a later sighting (an item that matched the story: no fingerprint of its own) renews it
    poll(feeds, "f2", day2, [SeenItem("k7", "s1", title_hash="x")])
    (rec,) = feeds.story_candidates(FP.bands, day2 - timedelta(hours=1))
    assert (rec.first_seen, rec.last_seen, rec.feed_id) == (T0, day2, "f1")


def test_a_story_keeps_one_wording_per_feed(feeds: Any) -> None:
    poll(feeds, "f1", T0, [story("k1", "s1")])
    poll(feeds, "f1", T0 + timedelta(minutes=1), [story("k2", "s1", OTHER)])  # kept: f1's first
    assert feeds.story_candidates(OTHER.bands, T0) == []
    poll(feeds, "f2", T0 + timedelta(minutes=2), [story("k9", "s1", OTHER)])  # f2's wording
    (rec,) = feeds.story_candidates(OTHER.bands, T0)
    assert (rec.story_key, rec.feed_id) == ("s1", "f2")
    both = feeds.story_candidates([FP.bands[0], OTHER.bands[0]], T0)
    assert [(r.story_key, r.feed_id) for r in both] == [("s1", "f1"), ("s1", "f2")]


def test_lost_lease_indexes_nothing(feeds: Any) -> None:
    feeds.claim_due_feeds(T0, 10, LEASE, "a")
    assert feeds.commit_poll("f1", "b", T0, ok_update(T0), [story("k1", "s1")], []) == 0
    assert feeds.story_candidates(FP.bands, T0) == []


def test_bad_band_key_is_a_store_error_and_rolls_back(feeds: Any) -> None:
    feeds.claim_due_feeds(T0, 10, LEASE, "w")
    bad = SeenItem("k1", "s1", bands=("not-hex!",), fingerprint=b"x")
    with pytest.raises(StoreError, match="band keys"):
        feeds.commit_poll("f1", "w", T0, ok_update(T0), [bad], [])
    assert feeds.seen_keys("f1", ["k1"]) == set()


def test_seen_hashes_and_an_edit_replaces_the_hash(feeds: Any) -> None:
    poll(feeds, "f1", T0, [SeenItem("k1", "s1", title_hash="h1"), SeenItem("k2", "s2")])
    assert feeds.seen_hashes("f1", ["k1", "k2", "k3"]) == {"k1": "h1", "k2": ""}
    poll(feeds, "f1", T0 + timedelta(minutes=5), [SeenItem("k1", "s1", title_hash="h2")])
    assert feeds.seen_hashes("f1", ["k1"]) == {"k1": "h2"}
    assert feeds.seen_hashes("f2", ["k1"]) == {}
    assert feeds.known_stories(["s1"], T0) == {"s1"}


def test_prune_drops_stories_before_the_window_with_their_bands(feeds: Any) -> None:
    poll(feeds, "f1", T0, [story("k1", "s1")])
    poll(feeds, "f2", T0 + timedelta(days=3), [story("k2", "s2", OTHER)])
    now = T0 + timedelta(days=4)
    assert feeds.prune(now, timedelta(days=90), timedelta(hours=72)) == 1
    assert feeds.story_candidates(FP.bands, T0 - timedelta(days=1)) == []
    assert [r.story_key for r in feeds.story_candidates(OTHER.bands, T0)] == ["s2"]
    # the story key can be indexed afresh (its band rows went with it)
    poll(feeds, "f1", now, [story("k3", "s1")])
    (rec,) = feeds.story_candidates(FP.bands[:1], now)
    assert rec.first_seen == now


def test_another_store_object_on_the_same_database_knows_the_stories(
    make_store: StoreFactory,
) -> None:
    first = make_store()
    first.sync_feeds([spec("f1")], T0)
    poll(first, "f1", T0, [story("k1", "s1")])
    first.close()
    second = make_store()
    assert [r.story_key for r in second.story_candidates(FP.bands, T0)] == ["s1"]


def test_a_new_process_knows_yesterdays_stories(tmp_path: Path) -> None:
    from monitor.store.sqlite import SQLiteStore

    db = tmp_path / "newsmon.db"
    store = SQLiteStore(db)
    store.migrate()
    store.sync_feeds([spec("f1")], T0)
    poll(store, "f1", T0, [story("k1", "s1")])
    store.close()
    script = (
        "import sys; from datetime import datetime, timedelta, UTC\n"
        "from monitor.store.sqlite import SQLiteStore\n"
        "from monitor.dedup.fingerprint import fingerprint_text, StoryFingerprint\n"
        "s = SQLiteStore(sys.argv[1]); s.migrate()\n"
        "fp = fingerprint_text(sys.argv[2], sys.argv[3])\n"
        "since = datetime(2026, 3, 2, 11, tzinfo=UTC) - timedelta(hours=72)\n"
        "for r in s.story_candidates(fp.bands, since):\n"
        "    print(r.story_key, StoryFingerprint.from_bytes(r.fingerprint) == fp)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(db),
         "North Korea sends troops to Russia, Seoul says",
         "North Korea has sent about 10,000 troops to Russia, South Korea's spy agency said."],
        capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert out.stdout.split() == ["s1", "True"]


def test_list_stories_newest_sighting_first(store: Any) -> None:
    from monitor.model import StorySource

    store.add_story_sources([StorySource("s1", "f1", "k1", T0), StorySource("s2", "f1", "k2", T0),
                             StorySource("s1", "f2", "k9", T0 + timedelta(minutes=2))])  # fmt: skip
    assert store.list_stories() == [("s1", 2), ("s2", 1)]
    assert store.list_stories(limit=1) == [("s1", 2)]


def test_a_feeds_own_wording_from_a_day_before_rules_its_story_out(feeds: Any) -> None:
    # The lookup gives the stored wordings their time: one outlet's templated daily report
    # (the same headline, another day's lede) is a new story the next day, while another
    # outlet's telling of it still joins it.
    from monitor.dedup.lookup import story_assignments
    from monitor.model import Item

    title = "Four civilians killed in shelling of the region over the past day"
    lede = "Shelling killed four civilians and wounded {} people in the region on {}, officials say"
    day1 = fingerprint_text(title, lede.format("nine", "Monday"))
    poll(feeds, "f1", T0, [story("k1", "s1", day1)])
    window = timedelta(hours=72)
    next_day = T0 + timedelta(hours=24)
    report = Item("f1", "k2", title, lede.format("two", "Thursday"), url="https://example.org/2")
    agency = Item("f2", "k3", title, lede.format("two", "Thursday"), url="https://example.org/3")
    found = story_assignments(feeds, [report], set(), next_day, window)  # a poll of f1
    assert found["k2"].new_story
    assert found["k2"].story_key != "s1"
    found = story_assignments(feeds, [agency], set(), next_day, window)  # a poll of f2
    assert found["k3"].stored
    assert found["k3"].story_key == "s1"
    soon = story_assignments(feeds, [report], set(), T0 + timedelta(hours=2), window)
    assert soon["k2"].stored
    assert soon["k2"].story_key == "s1"


def test_a_story_sighted_while_the_prune_runs_is_kept(make_store: StoreFactory) -> None:
    """A poll's commit moves a story's last_seen while the prune, which read it as past the
    window, deletes it (PostgreSQL: the two transactions run side by side; SQLite has one
    writer at a time). The story was deleted by id all the same, and a copy of it from another
    outlet then founded it anew and alerted it again."""
    import threading
    import time

    import psycopg

    store: Any = make_store()
    if not hasattr(store, "_schema"):
        pytest.skip("SQLite: the prune's batch and a commit never run side by side")
    store.sync_feeds([spec("f1")], T0)
    poll(store, "f1", T0, [story("k1", "s1")])
    now = T0 + timedelta(days=4)
    # The store's own database: a schema of the test server's, or (behind the pooler) a database
    # of its own; prepared statements off, as the store has them behind a transaction pooler.
    url = store._url
    with psycopg.connect(url, prepare_threshold=None) as poller:
        if store._schema:
            poller.execute(f'SET search_path TO "{store._schema}"')
        # A commit sighting s1: its row locked and moved, not committed yet.
        poller.execute("UPDATE stories SET last_seen = %s WHERE story_key = 's1'", (now,))
        xid = poller.execute("SELECT txid_current()::text").fetchone()
        assert xid is not None
        pruned: list[int] = []
        prune = threading.Thread(
            target=lambda: pruned.append(store.prune(now, timedelta(days=90), timedelta(hours=72)))
        )
        prune.start()
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as watch:
            deadline = time.monotonic() + 10
            waiting = (
                "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid'"
                " AND NOT granted AND transactionid::text = %s"
            )
            while not watch.execute(waiting, xid).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, "the prune never waited for the commit"
                time.sleep(0.05)
        poller.commit()
        prune.join(10)
    assert pruned == [0]
    assert [r.story_key for r in store.story_candidates(FP.bands, now)] == ["s1"]
