"""Polls that found nothing new share one transaction (monitor.pipeline.unchanged), on the real
stores (fixture `store`: SQLite, and PostgreSQL when it is set up)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from monitor.errors import StoreError
from monitor.model import FeedUpdate
from monitor.pipeline.unchanged import UnchangedCommits
from tests.store_fixtures import T0, ok_update, spec

LEASE = timedelta(minutes=5)
LATER = T0 + timedelta(minutes=1)


def not_modified(etag: str = '"v2"') -> FeedUpdate:
    return ok_update(LATER, status="not_modified", etag=etag)


class Counted:
    """The real store, with its `commit_unchanged` calls counted (one call, one transaction)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def commit_unchanged(self, owner: str, polls: Sequence[tuple[str, FeedUpdate]]) -> list[str]:
        self.calls.append([feed_id for feed_id, _ in polls])
        written: list[str] = self.store.commit_unchanged(owner, polls)
        return written


def feeds(store: Any, n: int, owner: str = "me") -> list[str]:
    ids = [f"f{i:03d}" for i in range(n)]
    store.sync_feeds([spec(i) for i in ids], T0)
    assert len(store.claim_due_feeds(T0, n, LEASE, owner)) == n
    return ids


def test_polls_finishing_together_are_written_in_one_transaction(store: Any) -> None:
    ids = feeds(store, 30)
    counted = Counted(store)

    async def main() -> list[bool]:
        commits = UnchangedCommits(counted, "me", asyncio.to_thread, linger=0.05)
        return await asyncio.gather(*(commits.commit(i, not_modified()) for i in ids))

    assert asyncio.run(main()) == [True] * 30
    assert counted.calls == [ids]
    for i in ids:
        feed = store.get_feed(i)
        assert (feed.status, feed.etag, feed.last_fetch_at) == ("not_modified", '"v2"', LATER)
    # the leases are released with the write
    assert len(store.claim_due_feeds(LATER + timedelta(minutes=5), 100, LEASE, "other")) == 30


def test_a_batch_is_at_most_max_batch_and_later_polls_gather_behind_it(store: Any) -> None:
    ids = feeds(store, 12)
    counted = Counted(store)

    async def main() -> list[bool]:
        commits = UnchangedCommits(counted, "me", asyncio.to_thread, linger=0.05, max_batch=5)
        first = [asyncio.ensure_future(commits.commit(i, not_modified())) for i in ids[:7]]
        await asyncio.sleep(0)  # the first five are being written
        rest = [asyncio.ensure_future(commits.commit(i, not_modified())) for i in ids[7:]]
        return list(await asyncio.gather(*first, *rest))

    assert asyncio.run(main()) == [True] * 12
    assert [len(call) for call in counted.calls] == [5, 5, 2]
    assert sorted(i for call in counted.calls for i in call) == ids
    assert all(store.get_feed(i).status == "not_modified" for i in ids)


def test_a_feed_whose_lease_was_lost_is_left_to_its_new_owner(store: Any) -> None:
    ids = feeds(store, 3)
    late = T0 + LEASE + timedelta(minutes=1)
    assert [f.id for f in store.claim_due_feeds(late, 1, LEASE, "new")] == [ids[0]]

    async def main() -> list[bool]:
        commits = UnchangedCommits(store, "me", asyncio.to_thread, linger=0.01)
        return await asyncio.gather(*(commits.commit(i, not_modified()) for i in ids))

    assert asyncio.run(main()) == [False, True, True]
    assert store.get_feed(ids[0]).status == "new"
    assert store.get_feed(ids[1]).status == "not_modified"


def test_a_failed_batch_fails_every_poll_in_it_and_writes_none(store: Any) -> None:
    ids = feeds(store, 4)
    # A status the schema refuses: the store fails the whole transaction.
    broken = FeedUpdate(status="exploded", next_poll_at=LATER, fetched_at=LATER)  # type: ignore[arg-type]

    async def main() -> list[object]:
        commits = UnchangedCommits(store, "me", asyncio.to_thread, linger=0.01)
        updates = [not_modified(), not_modified(), broken, not_modified()]
        polls = (commits.commit(i, u) for i, u in zip(ids, updates, strict=True))
        return await asyncio.gather(*polls, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, StoreError) for r in results)
    assert all(store.get_feed(i).status == "new" for i in ids)
    # Lost like a crash loses it: the feeds stay leased, then are due again for anyone.
    assert store.claim_due_feeds(LATER, 10, LEASE, "other") == []
    again = store.claim_due_feeds(T0 + LEASE + timedelta(minutes=1), 10, LEASE, "other")
    assert sorted(f.id for f in again) == ids


def test_a_poll_cancelled_while_it_waits_does_not_stop_the_others(store: Any) -> None:
    ids = feeds(store, 3)

    async def main() -> list[object]:
        commits = UnchangedCommits(store, "me", asyncio.to_thread, linger=0.05)
        polls = [asyncio.ensure_future(commits.commit(i, not_modified())) for i in ids]
        await asyncio.sleep(0)
        polls[1].cancel()
        return await asyncio.gather(*polls, return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert (first, third) == (True, True)
    assert isinstance(second, asyncio.CancelledError)
    assert store.get_feed(ids[0]).status == "not_modified"


@pytest.mark.parametrize("linger", [0.0, 0.02])
def test_one_poll_alone_is_written_after_the_linger(store: Any, linger: float) -> None:
    [only] = feeds(store, 1)

    async def main() -> bool:
        return await UnchangedCommits(store, "me", asyncio.to_thread, linger=linger).commit(
            only, not_modified()
        )

    assert asyncio.run(main()) is True
    assert store.get_feed(only).etag == '"v2"'
