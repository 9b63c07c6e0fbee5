"""Group commit for polls that found nothing new. Does I/O (the store, through `io`).

A poll answered 304 (or with the body parsed last time) writes only its feed row: the next
poll time, the validators, the lease released. Each such poll hands its update here and waits;
the updates that arrive within `linger` seconds of the first (a tick's polls finish within
milliseconds of each other) are written by one `SeenItems.commit_unchanged` call, one
transaction, instead of one transaction and one thread hop each. While a batch is being written
the next one gathers.

Why this keeps the store's promises: such a poll has no seen key, alert, sighting or archive row
to lose, and its feed stays leased until its batch commits. A batch lost to a crash or a store
error leaves those feeds as they were (due, their old validators) until their leases expire,
and then they are polled again: nothing is lost and nothing can alert twice. A feed whose lease
was lost meanwhile is left to its new owner, as `commit_poll` does.
"""

from __future__ import annotations

import asyncio
import contextvars

from monitor.model import FeedUpdate
from monitor.offload import Offload
from monitor.store.roles import SeenItems

LINGER_S = 0.05  # long enough for a tick's 304s to meet, short against a slot's other waits
MAX_BATCH = 500  # one transaction's feed rows at most

Waiting = tuple[str, FeedUpdate, "asyncio.Future[bool]"]


class UnchangedCommits:
    """`await commit(feed_id, update)`: True once the feed row is written, False when the lease
    was lost; raises what the store raised (StoreError) for every poll of a failed batch."""

    def __init__(
        self,
        store: SeenItems,
        owner: str,
        io: Offload,
        *,
        linger: float = LINGER_S,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.store = store
        self.owner = owner
        self.io = io
        self.linger = linger
        self.max_batch = max_batch
        self.batches = 0  # transactions written (for tests and benchmarks)
        self._waiting: list[Waiting] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    async def commit(self, feed_id: str, update: FeedUpdate) -> bool:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((feed_id, update, done))
        if len(self._waiting) >= self.max_batch:
            self._write_now()
        elif self._timer is None and self._writing is None:
            # A context of its own: the batch is no one poll's, its log lines carry no feed.
            self._timer = loop.call_later(
                self.linger, self._write_now, context=contextvars.Context()
            )
        return await done

    def _write_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None or not self._waiting:
            return  # the batch being written calls again when it is done
        batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        loop = asyncio.get_running_loop()
        self._writing = loop.create_task(self._write(batch), context=contextvars.Context())

    async def _write(self, batch: list[Waiting]) -> None:
        try:
            polls = [(feed_id, update) for feed_id, update, _ in batch]
            try:
                written = set(await self.io(self.store.commit_unchanged, self.owner, polls))
            except Exception as exc:  # noqa: BLE001 - handed to every poll of the batch
                for _, _, done in batch:
                    if not done.done():  # a poll cancelled while it waited is gone
                        done.set_exception(exc)
                return
            self.batches += 1
            for feed_id, _, done in batch:
                if not done.done():
                    done.set_result(feed_id in written)
        finally:
            self._writing = None
            if self._waiting:
                if len(self._waiting) >= self.max_batch:
                    self._write_now()
                elif self._timer is None:
                    loop = asyncio.get_running_loop()
                    self._timer = loop.call_later(
                        self.linger, self._write_now, context=contextvars.Context()
                    )
