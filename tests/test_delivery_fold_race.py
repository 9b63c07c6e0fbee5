"""A digest or a storm fold is sent once when several processes deliver to its destination at the
same time (replicas, a daemon and a cron `check --deliver`): each process claims some of the
alerts the message carries, and each used to send the whole message in place of its own (the
same id twice, which Slack, email and the chat channels show twice), or, having claimed an alert
that another process's message had just carried, to send that alert alone as well. Now only the
process holding the first pending member sends it; the others put theirs off, and an alert that
another message carried is not sent again. Real stores (one connection per process), a real
receiver on 127.0.0.1, no process killed: no excuse for a second copy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.delivery.deliverer import Deliverer
from monitor.delivery.destinations import Destination
from monitor.delivery.digest import Digest
from monitor.delivery.storm import GRACE, Storm
from monitor.store.base import Store
from tests.delivery_support import T0, deliverer, enqueue
from tests.receiver import Receiver, Reply
from tests.store_fixtures import StoreFactory

HOURLY = Digest(every=timedelta(hours=1))
STORM = Storm(max=2, within=timedelta(minutes=10))
ALERTS = 12


def destination(kind: str, url: str) -> Destination:
    folding: dict[str, Any] = {"digest": HOURLY} if kind == "digest" else {"storm": STORM}
    return Destination.create("ops", "webhook", url, rate=1e6, burst=1e6, **folding)


def sent_after_the_window(kind: str) -> datetime:
    return T0 + (timedelta(hours=1) if kind == "digest" else STORM.within) + GRACE * 2


def process(store: Store, dest: Destination, clock: FakeClock, owner: str) -> Deliverer:
    """One process's deliverer; it claims half the alerts at a time."""
    d = deliverer(store, {"ops": dest}, clock)
    d.owner = owner
    d.batch = ALERTS // 2
    return d


def folds(rx: Receiver) -> list[str]:
    return [r.headers["webhook-id"] for r in rx.requests if r.headers["webhook-id"][:4] != "msg_"]


def singles(rx: Receiver) -> list[str]:
    return [r.headers["webhook-id"] for r in rx.requests if r.headers["webhook-id"][:4] == "msg_"]


def start(kind: str, store: Store, dest: Destination, clock: FakeClock) -> list[str]:
    """The alerts in the outbox; for a storm the first `max` are sent alone now."""
    ids = enqueue(store, T0, "ops", [f"s{i:02d}" for i in range(ALERTS)])
    if kind == "storm":
        clock.set(T0 + timedelta(minutes=1))
        asyncio.run(process(store, dest, clock, "early").run_once())
    clock.set(sent_after_the_window(kind))
    return ids


def assert_every_alert_carried(store: Store) -> None:
    rows = store.list_alerts(limit=100)
    assert len(rows) == ALERTS
    assert {r.status for r in rows} == {"delivered"}, [(r.id, r.status) for r in rows]


@pytest.mark.parametrize("kind", ["digest", "storm"])
def test_two_processes_at_once_send_the_message_once(kind: str, make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    with Receiver(lambda _: Reply(200, delay=0.3)) as rx:  # both claim while one sends
        dest = destination(kind, rx.url)
        clock = FakeClock(T0)
        start(kind, first, dest, clock)
        a = process(first, dest, clock, "A")
        b = process(second, dest, clock, "B")

        async def both(rounds: int) -> None:
            for _ in range(rounds):
                await asyncio.gather(a.run_once(), b.run_once())

        asyncio.run(both(2))
        clock.set(clock.now() + timedelta(minutes=1))  # past any alert put off meanwhile
        asyncio.run(both(2))
    assert len(folds(rx)) == 1, folds(rx)
    assert len(singles(rx)) == (STORM.max if kind == "storm" else 0), singles(rx)
    assert_every_alert_carried(first)


class AfterOther:
    """A process's store whose first claim is answered only after another process has claimed
    and delivered: its rows are then stale (that process's message carried them)."""

    def __init__(self, store: Store, other_claimed: threading.Event, other_done: threading.Event):
        self._store = store
        self._other_claimed = other_claimed
        self._other_done = other_done
        self._first = True

    def claim_due_alerts(self, *args: Any, **kwargs: Any) -> Any:
        if not self._first:
            return self._store.claim_due_alerts(*args, **kwargs)
        self._first = False
        assert self._other_claimed.wait(10)
        rows = self._store.claim_due_alerts(*args, **kwargs)
        assert rows, "nothing left for the second process to claim"
        assert self._other_done.wait(10)
        return rows

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self._store, name)  # type: ignore[no-any-return]


class Claimed:
    def __init__(self, store: Store, claimed: threading.Event) -> None:
        self._store = store
        self._claimed = claimed

    def claim_due_alerts(self, *args: Any, **kwargs: Any) -> Any:
        rows = self._store.claim_due_alerts(*args, **kwargs)
        self._claimed.set()
        return rows

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self._store, name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["digest", "storm"])
def test_an_alert_another_process_carried_meanwhile_is_not_sent_again(
    kind: str, make_store: StoreFactory
) -> None:
    first, second = make_store(), make_store()
    claimed, done = threading.Event(), threading.Event()
    with Receiver() as rx:
        dest = destination(kind, rx.url)
        clock = FakeClock(T0)
        start(kind, first, dest, clock)
        a = process(Claimed(first, claimed), dest, clock, "A")
        b = process(AfterOther(second, claimed, done), dest, clock, "B")

        async def a_then_done() -> None:
            await a.run_once()
            done.set()

        async def both() -> None:
            await asyncio.gather(a_then_done(), b.run_once())

        asyncio.run(both())
    assert len(folds(rx)) == 1, folds(rx)
    assert len(singles(rx)) == (STORM.max if kind == "storm" else 0), singles(rx)
    assert_every_alert_carried(first)
