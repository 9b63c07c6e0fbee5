"""What the digest-parts and fold-parts tests share: long-title alerts that make a webhook post
over 1 MiB, a receiver answering as nginx's default `client_max_body_size` does, a deliverer run
to the end, and a store whose first record of a part fails."""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.clock import FakeClock
from monitor.delivery.destinations import Destination
from monitor.errors import StoreError
from monitor.store.base import Store
from tests.delivery_support import deliverer
from tests.receiver import Received, Reply

NGINX_LIMIT = 1024 * 1024  # client_max_body_size 1m


def long_title(i: int) -> str:
    """A title at the parser's 1,000 characters: 1,000 of them make a post over 1 MiB."""
    return f"{i} Troops dispatched to the border, officials said " + "x" * 1_000


def titles(count: int) -> dict[str, str]:
    return {f"s{i:04d}": long_title(i) for i in range(count)}


def nginx(request: Received) -> Reply:
    return Reply(413) if len(request.body) > NGINX_LIMIT else Reply(200)


def deliver_all(store: Any, dest: Destination, clock: FakeClock, runs: int = 6) -> None:
    d = deliverer(store, {"ops": dest}, clock)
    d.batch = 2_000
    for _ in range(runs):
        asyncio.run(d.run_once())


class SettleFailsOnce:
    """The store, but its first record of a part's alerts fails (a store outage, or a crash,
    right after the receiver's 2xx): what was recorded before then is all a resend has."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.failed = False

    def settle_grouped(self, *args: Any) -> int:
        if not self.failed:
            self.failed = True
            raise StoreError("the store went away")
        return self._store.settle_grouped(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
