"""The item archive in the store contract: the same behaviour from SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import StoreError
from monitor.model import ArchivedItem, Item, NewAlert, SeenItem
from monitor.pipeline.archive import BODY_BYTES, archived, cap, poll_archive
from monitor.store.archive_rows import with_story_keys
from tests.store_fixtures import T0, ok_update, seen, spec

LEASE = timedelta(minutes=5)
DAY = timedelta(days=1)


def row(key: str, feed: str = "f1", at: Any = T0, **kw: Any) -> ArchivedItem:
    return ArchivedItem(feed_id=feed, key=key, story_key=kw.pop("story", f"story-{key}"),
                        first_seen=at, title=kw.pop("title", f"Title {key}"), **kw)  # fmt: skip


def read_all(store: Any, batch: int = 1000, **kw: Any) -> list[ArchivedItem]:
    out: list[ArchivedItem] = []
    after = 0
    while True:
        got = store.read_archive(after, batch, **kw)
        if not got:
            return out
        assert [n for n, _ in got] == sorted(n for n, _ in got)
        assert got[0][0] > after
        after = got[-1][0]
        out.extend(a for _, a in got)


def poll(store: Any, at: Any, rows: list[ArchivedItem], feed: str = "f1", **kw: Any) -> int:
    store.claim_due_feeds(at + timedelta(days=365), 10, LEASE, "w")
    keys = [seen(r.key, r.story_key) for r in rows]
    n: int = store.commit_poll(
        feed, "w", at, ok_update(at), keys, kw.get("alerts", []), archive=rows
    )
    return n


def test_a_poll_archives_its_items_with_their_seen_keys(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    full = row("a", summary="Troops move – 部隊", content="more", link="https://x.test/a",
               author="Ann", categories=("world", "war"), feed_title="Wire",
               published=T0 - DAY)  # fmt: skip
    poll(store, T0, [full, row("b")])
    assert store.seen_keys("f1", ["a", "b"]) == {"a", "b"}
    assert read_all(store) == [full, row("b")]
    assert store.count_archive() == 2


def test_an_archived_item_is_kept_as_first_archived(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    poll(store, T0, [row("a", title="first")])
    poll(store, T0 + DAY, [row("a", title="edited", at=T0 + DAY)])
    assert [(a.title, a.first_seen) for a in read_all(store)] == [("first", T0)]


def test_a_poll_that_lost_its_lease_archives_nothing(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    store.claim_due_feeds(T0, 10, LEASE, "w1")
    later = T0 + 2 * LEASE
    store.claim_due_feeds(later, 10, LEASE, "w2")  # the lease expired and was taken over
    lost = store.commit_poll(
        "f1", "w1", later, ok_update(later), [seen("a")], [], archive=[row("a")]
    )
    assert lost == 0
    assert store.count_archive() == 0


def test_a_failed_poll_transaction_leaves_no_archive_rows(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    bad = NewAlert("x", "hook", "s", "f1", "a", {"x": float("nan")}, T0)
    with pytest.raises(StoreError):
        poll(store, T0, [row("a")], alerts=[bad])
    assert store.count_archive() == 0
    assert store.seen_keys("f1", ["a"]) == set()


def test_read_archive_in_batches_filters_by_time_and_feed(store: Any) -> None:
    rows = [row(f"k{i:02}", feed=("f1", "f2", "f3")[i % 3], at=T0 + i * DAY) for i in range(25)]
    assert store.archive_items(rows) == 25
    assert read_all(store, batch=4) == rows
    assert read_all(store, batch=7, since=T0 + 20 * DAY) == rows[20:]
    assert read_all(store, batch=3, feeds=["f2", "f3"]) == [r for r in rows if r.feed_id != "f1"]
    assert read_all(store, feeds=["f1"], since=T0 + 10 * DAY) == [
        r for r in rows[10:] if r.feed_id == "f1"
    ]
    assert read_all(store, feeds=[]) == []
    # counted with the same filters (a backtest's progress: what it will read, not the archive)
    assert store.count_archive() == 25
    assert store.count_archive(since=T0 + 20 * DAY) == 5
    assert store.count_archive(feeds=["f2", "f3"]) == 16
    assert store.count_archive(feeds=["f1"], since=T0 + 10 * DAY) == 5
    assert store.count_archive(feeds=[]) == 0


def test_archived_feeds_are_the_feeds_of_the_archived_items_sorted_once_each(store: Any) -> None:
    assert store.archived_feeds() == []
    store.sync_feeds([spec("polled-no-items")], T0)  # a feed with no archived item is not one
    store.archive_items([row("a", feed="zeta"), row("b", feed="alpha"), row("c", feed="zeta")])
    assert store.archived_feeds() == ["alpha", "zeta"]


def test_imported_items_are_not_seen_keys_and_not_imported_twice(store: Any) -> None:
    store.sync_feeds([spec("f1")], T0)
    assert store.archive_items([row("a"), row("b")]) == 2
    assert store.archive_items([row("a", title="again"), row("c")]) == 1
    assert store.seen_keys("f1", ["a", "b", "c"]) == set()  # a later poll still alerts on them
    assert [a.title for a in read_all(store)] == ["Title a", "Title b", "Title c"]
    poll(store, T0, [row("a", title="polled")])  # a poll keeps the imported text
    assert next(a.title for a in read_all(store)) == "Title a"
    assert store.seen_keys("f1", ["a"]) == {"a"}


def test_prune_keeps_the_archive_for_archive_retention(store: Any) -> None:
    store.archive_items([row("old", at=T0), row("mid", at=T0 + 40 * DAY),
                         row("new", at=T0 + 95 * DAY)])  # fmt: skip
    now = T0 + 100 * DAY
    store.prune(now, timedelta(days=90), archive_retention=timedelta(days=365))
    assert store.count_archive() == 3
    store.prune(now, timedelta(days=90))  # default: the retention
    assert [a.key for a in read_all(store)] == ["mid", "new"]
    store.prune(now, timedelta(days=90), archive_retention=timedelta(days=30))
    assert [a.key for a in read_all(store)] == ["new"]
    assert store.prune(now, timedelta(days=90), archive_retention=timedelta(0)) == 1  # off
    assert store.count_archive() == 0


# -- what is kept of an item (pure) ----------------------------------------------------------------
def test_text_is_capped_on_character_boundaries() -> None:
    assert cap("abc", 10) == "abc"
    assert cap("é" * 10, 5) == "éé"  # 2 bytes each: never half a character
    long = Item(feed_id="f", key="k", title="t", summary="s" * 3000, content="c" * 3000)
    a = archived(long, "sk", T0)
    assert a.summary == "s" * 3000
    assert a.content == "c" * (BODY_BYTES - 3000)
    huge = archived(Item(feed_id="f", key="k", summary="x" * 10_000, content="y"), "sk", T0)
    assert (len(huge.summary), huge.content) == (BODY_BYTES, "")


def test_poll_archive_takes_the_plans_new_items_with_their_story_keys() -> None:
    items = [Item(feed_id="f", key=k, title=k) for k in ("a", "b", "a", "c")]
    rows = poll_archive(items, [SeenItem("a", "s1"), SeenItem("c", "s3")], T0)
    assert [(r.key, r.story_key) for r in rows] == [("a", "s1"), ("c", "s3")]
    assert rows[0].to_item().title == "a"


def test_archive_rows_take_the_story_keys_their_seen_items_settled_on() -> None:
    rows = [ArchivedItem("f", k, f"own-{k}", T0) for k in ("a", "b")]
    settled = with_story_keys(rows, [SeenItem("a", "joined"), SeenItem("b", "own-b")])
    assert [(r.key, r.story_key) for r in settled] == [("a", "joined"), ("b", "own-b")]


_TEXT = st.text(alphabet="ab \n\u00e9\U0001f600", max_size=1200)


@settings(max_examples=300, deadline=None)
@given(
    _TEXT,
    _TEXT,
    _TEXT,
    st.none() | st.text(max_size=30),
    st.none() | st.text(max_size=30),
    st.lists(st.text(alphabet="a\nb", max_size=5), max_size=25).map(tuple),
)
def test_an_archived_item_keeps_each_field_capped_in_its_place(
    title: str,
    summary: str,
    content: str,
    link: str | None,
    url: str | None,
    categories: tuple[str, ...],
) -> None:
    # archived() builds the row positionally and skips counting the summary's bytes where
    # there is no content: each field must still land where its name says, capped as before.
    item = Item("f", "k", title, summary * 4, content * 4, link, url, "au", categories,
                T0, "g", "feed", "u")  # fmt: skip
    capped_summary = cap(item.summary, BODY_BYTES)
    kept_link = url or link
    left = BODY_BYTES - len(capped_summary.encode("utf-8"))
    expected = ArchivedItem(
        feed_id="f",
        key="k",
        story_key="s",
        first_seen=T0,
        title=cap(title, 1024),
        summary=capped_summary,
        content=cap(item.content, left) if left > 0 else "",
        link=cap(kept_link, 2048) if kept_link else None,
        author="au",
        categories=tuple(c.replace("\n", " ") for c in categories[:20]),
        feed_title="feed",
        published=T0,
    )
    assert archived(item, "s", T0) == expected
